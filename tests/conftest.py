"""Session-wide real servers: one embedded PostgreSQL and one broker per test run.

They start once, in a temporary folder, and stop at the end even when tests fail. The
broker is Tansu, or Apache Kafka with SUPPORTLOG_TEST_BROKER=apache-kafka (what
`./sl test --broker apache-kafka` sets; it then runs only the tests marked `broker`).
Every test that uses the servers is marked `broker` here, at collection: the
integration, crash, refill, consumer-group and scenario tests, and any other that needs
a broker; a test that needs neither stays pure. Each test that asks for `settings` gets
its own database and its own topic and group names, so tests never see each other's
data; its topics are deleted afterwards, so Apache Kafka's log recovery after a kill -9
stays short (it recovers every partition it holds).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from eventlog.kafka_config import make_admin
from supportlog.settings import Settings

#: The broker of this run: `tansu` or `apache-kafka`.
BROKER = os.environ.get("SUPPORTLOG_TEST_BROKER") or "tansu"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test that uses the session's servers `broker`."""
    for item in items:
        if "servers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)


def pytest_report_header(config: pytest.Config) -> str:
    return f"supportlog broker: {BROKER}"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(admin database URL, Kafka bootstrap) of the session's embedded servers.

    With SUPPORTLOG_TEST_DATABASE_URL and SUPPORTLOG_TEST_KAFKA set, those real servers
    are used instead (SUPPORTLOG_TEST_BROKER then says which kind of broker it is).
    """
    external = (os.environ.get("SUPPORTLOG_TEST_DATABASE_URL"),
                os.environ.get("SUPPORTLOG_TEST_KAFKA"))
    if all(external):
        yield external  # type: ignore[misc]
        return
    from supportlog.embedded import EmbeddedInfra

    infra = EmbeddedInfra(Path(tmp_path_factory.mktemp("infra")), BROKER,
                          Settings.from_env().cache_dir)
    state = infra.up()
    try:
        yield state.database_url, state.kafka_bootstrap
    finally:
        infra.down()


@pytest.fixture
def settings(servers: tuple[str, str], tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a fresh database and a fresh topic for this test."""
    admin_url, bootstrap = servers
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    yield Settings(database_url=database_url, kafka_bootstrap=bootstrap, home=tmp_path,
                   topic=f"events-{name}", partitions=4, group_id=f"group-{name}",
                   broker=BROKER)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    delete_test_topics(bootstrap, f"events-{name}")


def delete_test_topics(bootstrap: str, prefix: str) -> None:
    """Deletes every topic whose name starts with `prefix` (best effort: a broker a test
    stopped may not answer, and nothing depends on it)."""
    with contextlib.suppress(Exception):
        admin = make_admin(bootstrap)
        try:
            doomed = [t for t in admin.list_topics() if t.startswith(prefix)]
            if doomed:
                admin.delete_topics(doomed)
        finally:
            admin.close()


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points a `supportlog` process at the test's servers, database,
    topic, group and home (where the store's log key lives)."""
    return {"DATABASE_URL": settings.database_url or "",
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap or "",
            "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_GROUP": settings.group_id,
            "SUPPORTLOG_PARTITIONS": str(settings.partitions),
            "SUPPORTLOG_HOME": str(settings.home), "SUPPORTLOG_BROKER": settings.broker}


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0,
             what: str = "condition") -> object:
    """Returns the first truthy value of `condition()`; fails the test after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)
