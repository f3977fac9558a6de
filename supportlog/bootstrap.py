"""The composition root: builds every component once, from Settings, and nothing else does.

It resolves where the servers are (the configured ones, or the embedded pair, started
when not running), applies the schema migrations, creates the topic explicitly, and
hands out the desk, the relay and the projector. Tests call the same function with their
own settings, so what they exercise is what production runs.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import projections  # noqa: F401  (registers the folds)
from consumers.dead_letter import DeadLetters, ensure_dead_letter_topic
from consumers.faults import FaultSwitch
from consumers.kafka_config import ensure_topic, make_consumer, make_producer
from consumers.projector import Projector
from consumers.relay import Relay
from domain.desk import SupportDesk
from domain.errors import SupportlogError
from projections.migrate import migrate
from supportlog.settings import Settings


class DatabaseUnavailableError(SupportlogError):
    """Raised when PostgreSQL does not answer at the configured address."""

    code = "database_unavailable"
    retriable = True


def desk_env(database_url: str) -> dict[str, str]:
    """Returns the `eventsourcing` environment for the store at `database_url`."""
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
    }


@dataclass
class System:
    """Every component of one deployment, built once."""

    settings: Settings
    database_url: str
    kafka_bootstrap: str
    desk: SupportDesk
    faults: FaultSwitch
    _closers: list[Any] = field(default_factory=list)

    def connect(self) -> psycopg.Connection:
        """Returns a new autocommit connection; the caller opens transactions."""
        try:
            conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as e:
            raise DatabaseUnavailableError(f"PostgreSQL does not answer: {e}") from e
        self._closers.append(conn)
        return conn

    def relay(self, batch_size: int = 2000) -> Relay:
        """Returns a relay with its own connection and producer."""
        producer = make_producer(self.kafka_bootstrap)
        self._closers.append(producer)
        return Relay(self.desk, self.connect(), producer, self.settings.topic,
                     batch_size=batch_size, faults=self.faults)

    def projector(self, group_id: str | None = None, *, join_group: bool = False,
                  dead_letters: bool = False) -> Projector:
        """Returns a projector; with `join_group` it joins the consumer group, else it
        reads every partition itself. With `dead_letters`, quarantined events are also
        published on `<topic>.dlq` (production); without, they stay in the table."""
        group = group_id or self.settings.group_id
        consumer = make_consumer(self.kafka_bootstrap,
                                 group_id=group if join_group else None,
                                 client_id=f"supportlog-projector-{group}")
        self._closers.append(consumer)
        sink = None
        if dead_letters:
            ensure_dead_letter_topic(self.kafka_bootstrap, self.settings.topic)
            producer = make_producer(self.kafka_bootstrap)
            self._closers.append(producer)
            sink = DeadLetters(self.connect(), producer, self.settings.topic)
            sink.publish_pending()  # a crash may have left some unsent
        projector = Projector(self.connect(), consumer, self.settings.topic, group,
                              faults=self.faults, dead_letters=sink)
        if join_group:
            projector.subscribe()
        else:
            projector.assign_all()
        return projector

    def close(self) -> None:
        """Closes every connection, producer and consumer this system made."""
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(Exception):  # best effort: nothing is written here
                closer.close()
        self.desk.close()


def jittered_backoff(attempt: int) -> None:
    """Sleeps up to 5 ms * 2**attempt (capped at 0.5 s), at random, so racing writers
    spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(0.5, 0.005 * 2 ** attempt)))


def resolve_servers(settings: Settings) -> Settings:
    """Returns settings with server addresses, starting the embedded pair if needed."""
    if not settings.embedded:
        return settings
    from supportlog.embedded import EmbeddedInfra

    state = EmbeddedInfra(settings.home).up()
    return settings.with_servers(state.database_url, state.kafka_bootstrap)


def bootstrap(settings: Settings) -> System:
    """Builds the system for `settings`: servers, schema, topic, desk."""
    settings = resolve_servers(settings)
    assert settings.database_url and settings.kafka_bootstrap
    try:
        with psycopg.connect(settings.database_url, autocommit=True,
                             connect_timeout=10) as conn:
            migrate(conn)
    except psycopg.OperationalError as e:
        raise DatabaseUnavailableError(
            f"PostgreSQL does not answer at {settings.database_url}: {e}") from e
    ensure_topic(settings.kafka_bootstrap, settings.topic, settings.partitions)
    desk = SupportDesk(env=desk_env(settings.database_url), retry_pause=jittered_backoff,
                       cache_size=settings.desk_cache)
    return System(settings, settings.database_url, settings.kafka_bootstrap, desk,
                  FaultSwitch(settings.fault))


@contextlib.contextmanager
def isolated_system(settings: Settings, label: str = "scenario") -> Iterator[System]:
    """A system on a database and topic of its own, dropped afterwards (scenarios, what-if)."""
    settings = resolve_servers(settings)
    assert settings.database_url and settings.kafka_bootstrap
    name = f"{label}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as e:
        raise DatabaseUnavailableError(f"PostgreSQL does not answer: {e}") from e
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(settings.database_url, dbname=name)
    system = bootstrap(replace(settings, database_url=url, topic=f"{settings.topic}.{name}",
                               group_id=f"{settings.group_id}.{name}"))
    try:
        yield system
    finally:
        system.close()
        with psycopg.connect(settings.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
