"""Issue #16, "lost servers stall", each case as it was reported, on servers of the
test's own (a whole embedded home, or a broker), killed or stopped for real:

- with PostgreSQL stopped, `supportlog command` hung for more than 2 minutes;
- with the broker killed, the relay ignored SIGTERM for about 80 s and failed after 120 s;
- `infra up` brought both back on new ports, so every running client lost them;
- a plain `supportlog command` silently started a fresh broker on another port;
- `status` reported "0 behind" over an empty topic.

Now a one-shot command exits 3 (`database_unavailable` / `broker_unavailable`) within
15 s, never starting a server recorded as running; `infra up` restarts the servers on
their recorded ports and a running relay carries on by itself; a relay stops within 5 s
of SIGTERM whatever the broker does; `status` reports a lost topic (exit 1).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from supportlog.bootstrap import bootstrap
from supportlog.embedded import EmbeddedInfra
from supportlog.embedded.postgres import stop_postgres
from supportlog.embedded.processes import pid_alive
from supportlog.status import collect
from tests.conftest import wait_for
from tests.crash.relay_process import RelayProcess, fill_store, relay_position
from tests.crash.servers import OwnBroker, home_env, kill9, own_home
from tests.integration.test_relay import recreate_topic

pytestmark = pytest.mark.broker

SUPPORTLOG = [sys.executable, "-m", "supportlog.cli"]
#: What issue #16 asks of a one-shot command whose server is gone, and of a stop.
ONE_SHOT_S = 15
STOP_S = 5


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedInfra]:
    """An embedded home of this module's own (PostgreSQL and the run's broker)."""
    infra = own_home(tmp_path_factory.mktemp("lost") / "home")
    try:
        yield infra
    finally:
        infra.down()


def cli(env: dict[str, str], *args: str, lines: list[dict] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    data = "".join(json.dumps(line) + "\n" for line in lines or [])
    return subprocess.run([*SUPPORTLOG, *args], input=data, env=env, text=True,
                          capture_output=True, timeout=timeout)


def registrations(prefix: str, n: int) -> list[dict]:
    return [{"do": "register_customer", "args": {"customer": f"{prefix}{i}"}}
            for i in range(n)]


def store_head(infra: EmbeddedInfra) -> int:
    state = infra.read_state()
    assert state is not None
    with psycopg.connect(state.database_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT max(notification_id) FROM supportdesk_events").fetchone()
    return int(row[0] or 0)


def home_relay_position(infra: EmbeddedInfra) -> int:
    state = infra.read_state()
    assert state is not None
    with psycopg.connect(state.database_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT notification_id FROM relay_position").fetchone()
    return int(row[0]) if row else 0


def read_line(process: subprocess.Popen, timeout_s: float) -> str:
    """The next line of `process`'s stdout; fails the test after `timeout_s`."""
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    if not ready:
        pytest.fail(f"no answer within {timeout_s}s")
    return process.stdout.readline()


def test_infra_up_brings_lost_servers_back_on_their_ports_and_a_running_pipeline_resumes(
        home, tmp_path):
    """`supportlog run` (relay, projector, scheduler) through the loss of both servers:
    every part retries, and once `infra up` brought them back on their ports the new
    commands reach the topic and the read models without a restart."""
    before = home.up()
    env = home_env(home)
    assert cli(env, "adopt", "insales").returncode == 0
    assert cli(env, "command", "--desk", "insales", lines=registrations("a", 5)
               ).returncode == 0
    log_path = tmp_path / "run.log"
    with open(log_path, "ab") as log:
        run = subprocess.Popen([*SUPPORTLOG, "run"], env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: home_relay_position(home) == store_head(home) > 0
                 and customers(home) == 5, 60, "the pipeline to fold the first commands")
        kill9(before.kafka.pid)
        stop_postgres(before.postgres, home.pg_data)
        wait_for(lambda: log_path.read_text().count("relay lost the") >= 2, 60,
                 "the relay to retry")
        assert run.poll() is None, log_path.read_text()[-2000:]

        up = cli(env, "infra", "up")
        assert up.returncode == 0, up.stderr
        after = home.read_state()
        assert (after.postgres.port, after.kafka.port) == \
            (before.postgres.port, before.kafka.port)
        assert after.kafka.ports == before.kafka.ports
        assert cli(env, "command", "--desk", "insales", lines=registrations("b", 3)
                   ).returncode == 0
        wait_for(lambda: home_relay_position(home) == store_head(home)
                 and customers(home) == 8, 120, "the pipeline to go on by itself")
        assert "relay resumed" in log_path.read_text()
        run.terminate()
        assert run.wait(timeout=STOP_S) == 0, log_path.read_text()[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def customers(infra: EmbeddedInfra) -> int:
    """How many customers the read models hold (0 while the database is away)."""
    state = infra.read_state()
    assert state is not None
    try:
        with psycopg.connect(state.database_url, connect_timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM customers").fetchone()[0])
    except psycopg.OperationalError:
        return 0


def test_a_command_reports_a_lost_server_within_15_s_and_never_starts_one(home):
    state = home.up()
    env = home_env(home)
    assert cli(env, "adopt", "insales").returncode == 0
    kill9(state.kafka.pid)
    done = cli(env, "command", "--desk", "insales", lines=registrations("c", 1),
               timeout=ONE_SHOT_S)
    assert done.returncode == 3, done.stderr
    assert "error: broker_unavailable:" in done.stderr and "infra up" in done.stderr
    assert home.read_state() == state  # nothing started, nothing moved
    assert cli(env, "status", timeout=ONE_SHOT_S).returncode == 3

    state = home.up()
    stop_postgres(state.postgres, home.pg_data)
    done = cli(env, "command", "--desk", "insales", lines=registrations("d", 1),
               timeout=ONE_SHOT_S)
    assert done.returncode == 3, done.stderr
    assert "error: database_unavailable:" in done.stderr
    assert not pid_alive(state.postgres.pid) and home.read_state() == state
    status = cli(env, "status", timeout=ONE_SHOT_S)
    assert status.returncode == 3 and "postgres: down" in status.stdout


def test_a_command_whose_database_stops_midway_answers_and_exits_3_within_15_s(home):
    state = home.up()
    env = {**home_env(home), "DATABASE_URL": state.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": state.kafka_bootstrap}
    assert cli(env, "adopt", "insales").returncode == 0
    process = subprocess.Popen([*SUPPORTLOG, "command", "--desk", "insales"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, text=True)
    try:
        first, second = registrations("e", 2)
        process.stdin.write(json.dumps(first) + "\n")
        process.stdin.flush()
        assert json.loads(read_line(process, 60))["accepted"]
        stop_postgres(state.postgres, home.pg_data)
        sent = time.monotonic()
        process.stdin.write(json.dumps(second) + "\n")
        process.stdin.flush()
        answer = json.loads(read_line(process, ONE_SHOT_S))
        assert answer["code"] == "database_unavailable", answer
        assert process.wait(timeout=max(1.0, ONE_SHOT_S - (time.monotonic() - sent))) == 3
        assert "error: database_unavailable:" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_relay_rides_out_a_killed_broker_and_stops_within_5_s_of_sigterm(settings,
                                                                          tmp_path):
    broker = OwnBroker(tmp_path / "broker").start()
    own = replace(settings, kafka_bootstrap=broker.bootstrap)
    system = bootstrap(own)
    relay = None
    try:
        head = fill_store(system, seed=3, customers=3, days=1)
        relay = RelayProcess(own, tmp_path / "relay.log")
        wait_for(lambda: relay_position(own) == head, 60, "the first publication")
        broker.kill()
        head = fill_store(system, seed=4, customers=2, days=1, prefix="more-")
        # the idempotent producer retries the batch until delivery_timeout_ms (120 s),
        # longer than a restart takes; the relay says it waits, and waits
        waits = lambda: [line for line in relay.log_lines()  # noqa: E731
                         if line.get("message") == "waiting for the broker to acknowledge"]
        wait_for(lambda: len(waits()) >= 2 or relay.exited() is not None, 60,
                 "the relay to wait for the broker")
        assert relay.exited() is None, relay.log_path.read_text()[-2000:]
        broker.start()
        wait_for(lambda: relay_position(own) == head, 90, "the relay to go on by itself")
        assert relay.exited() is None
        broker.kill()
        head = fill_store(system, seed=5, customers=1, days=1, prefix="last-")
        noted = len(waits())
        wait_for(lambda: len(waits()) > noted, 60, "the relay to wait for the killed broker")
        assert relay.terminate(timeout_s=STOP_S) == 0
        stopped = [line for line in relay.log_lines() if line.get("message") == "relay stopped"]
        assert stopped[0]["position"] < head  # the batch in hand was left unconfirmed
    finally:
        if relay is not None and relay.exited() is None:
            relay.kill()
        system.close()
        broker.kill()


def test_status_reports_a_lost_topic_until_the_relay_refills_it(settings):
    system = bootstrap(settings)
    try:
        fill_store(system, seed=5, customers=3, days=1)
        relay = system.relay()
        relay.pump()
        assert collect(settings).healthy
        recreate_topic(settings)
        lost = collect(settings)
        assert not lost.healthy and not lost.unreachable
        assert any("lost records" in p and "empty" in p for p in lost.problems), lost.problems
        done = subprocess.run([*SUPPORTLOG, "status"], env=status_env(settings),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "lost records" in done.stdout
        assert relay.refill_if_topic_lost()
        relay.pump()
        assert collect(settings).healthy
    finally:
        system.close()


def status_env(settings) -> dict[str, str]:
    return {**home_env(EmbeddedInfra(Path(settings.home))), "DATABASE_URL":
            settings.database_url, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_BROKER": settings.broker}
