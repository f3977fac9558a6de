"""The composition root: builds every component from `Settings`, and nothing else does.

It resolves where the servers are (the configured ones, or the embedded pair, started
when not running), applies the schema migrations, creates the topic explicitly, loads
the log key (or creates it on first use) and checks it is the store's
(`supportlog.log_key`), loads the master key of personal data likewise
(`supportlog.privacy.master_key`), and hands out the desk (sealing every event with the
log key, and every personal field with the customer's data key), the relay, the
projector, the scheduler and the dead-letter sink. Without the store's log key the
system only reads: the desk and the relay refuse to write, saying why; without its
master key it neither seals nor reveals personal data, and says why.
Every entry point asks it: the CLI, status, the scenario runner, the demo, the bench and
replay's isolated stores (`isolated_system`); tests call the same functions with their
own settings, so what they exercise is what production runs.

As the `eventsourcing` library's `System` declares a pipeline in one place, `PIPELINE`
declares ours: each long-running worker, what it reads and what it writes. `run` (and
any other host of the whole pipeline) starts `System.workers()`, built from it.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.utils import get_topic
from kafka import KafkaConsumer, KafkaProducer
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

import projections  # noqa: F401  (registers the folds)
from consumers.dead_letter import DeadLetters, dlq_topic, ensure_dead_letter_topic
from consumers.faults import FaultSwitch
from consumers.outage import DatabaseUnavailableError
from consumers.projector import Projector
from consumers.relay import Relay
from consumers.relay_loop import Clients
from domain.actor import Actor
from domain.desk import SupportDesk
from domain.due_timers import TimerFiring
from domain.policy.profile import PolicyProfile
from eventlog.kafka_config import (
    close_producer,
    delete_topics,
    ensure_topic,
    make_consumer,
    make_producer,
)
from eventlog.log_key import LogKey
from projections.migrate import migrate, schema_lock
from projections.timers import TimersTable
from supportlog.connections import limit_pool, pg_connect, pg_limits, redacted
from supportlog.log_key import KeySlot, LogKeyError, settle_key
from supportlog.principals import Principals
from supportlog.privacy.cipher import PersonalCipher
from supportlog.privacy.erase import Erasure, erase_customer
from supportlog.privacy.master_key import settle_master
from supportlog.privacy.recorder import ErasingRecorder
from supportlog.scheduler import Scheduler
from supportlog.settings import Settings

#: How long closing a producer may wait for its unacknowledged records, and a consumer
#: for leaving its group (see System.close): a stop must end within 5 s.
PRODUCER_CLOSE_TIMEOUT_S = 1.5
CONSUMER_CLOSE_TIMEOUT_MS = 1500

@dataclass(frozen=True)
class Worker:
    """One long-running part of the pipeline: what it reads, what it writes, and how it
    runs until a stop event is set."""

    name: str
    reads: str
    writes: str
    run: Callable[[threading.Event], None]


#: The pipeline, declared once: (worker, reads, writes), in the order data flows.
PIPELINE: tuple[tuple[str, str, str], ...] = (
    ("relay", "the event store's notification log", "the topic (and the log chain)"),
    ("projector", "the topic", "the read models (and the dead-letter topic)"),
    ("scheduler", "the timers read model", "the event store (timer commands)"),
)


def desk_env(database_url: str) -> dict[str, str]:
    """Returns the `eventsourcing` environment for the store at `database_url`: its
    recorder destroys an erased customer's key as it stores the erasure."""
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(ErasingRecorder),
        "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
        # eventsourcing retries an operation 10 times (0.2 s apart) when the database
        # fails, each attempt waiting this long for a pooled connection: with its default
        # of 30 s a command on a lost database answered after five minutes, with 1 s in
        # about 12 s. Pre-ping drops a connection the server closed before it is used.
        "POSTGRES_CONNECT_TIMEOUT": "1",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "30",
    }


def jittered_backoff(attempt: int) -> None:
    """Sleeps up to 5 ms * 2**attempt (capped at 0.5 s), at random, so racing writers
    spread out instead of colliding again. The desk's only source of randomness."""
    time.sleep(random.uniform(0, min(0.5, 0.005 * 2 ** attempt)))


def make_desk(settings: Settings, database_url: str, seal: KeySlot,
              personal: PersonalCipher,
              profile_override: Callable[[str], PolicyProfile | None] | None = None
              ) -> SupportDesk:
    """Returns a desk on the store at `database_url`, with the root's backoff and
    connection limits, sealing every event with the key `seal` holds (or refusing to
    write while it holds none) and every personal field with `personal` (R-PRV-1)."""
    return limit_pool(SupportDesk(env=desk_env(database_url), retry_pause=jittered_backoff,
                                  cache_size=settings.desk_cache,
                                  profile_override=profile_override, signer=seal,
                                  personal=personal))


def make_cipher(database_url: str, problem: str) -> PersonalCipher:
    """Returns the cipher of personal data of the store at `database_url`, refusing to
    seal or open anything (`problem`) until a master key is settled."""
    return PersonalCipher(lambda: pg_connect(database_url, autocommit=True), problem)


@dataclass
class System:
    """Every component of one deployment, built on demand and closed together."""

    settings: Settings
    database_url: str
    kafka_bootstrap: str
    desk: SupportDesk
    faults: FaultSwitch
    #: The desk's signer, holding the store's log key (`supportlog.log_key`).
    seal: KeySlot = field(default_factory=lambda: KeySlot("this system only reads"))
    #: The cipher of personal data, holding the master key (`supportlog.privacy`): the
    #: desk seals with it; entitled readers reveal with it (`personal.revealer`).
    personal: PersonalCipher = field(
        default_factory=lambda: PersonalCipher(None, "this system only reads"))
    _closers: list[Any] = field(default_factory=list)

    @property
    def log_key(self) -> LogKey | None:
        """The store's log key, for verifying (None: this system has none that is the
        store's; `seal.problem` says why)."""
        return self.seal.key

    def require_key(self) -> LogKey:
        """Returns the log key to write with; raises LogKeyError, saying why, when this
        system may not write."""
        if self.seal.key is None or self.seal.problem is not None:
            raise LogKeyError(self.seal.problem or "no log key")
        return self.seal.key

    def connect(self) -> psycopg.Connection:
        """Returns a new autocommit connection (`PG_LIMITS`); the caller opens
        transactions."""
        conn = pg_connect(self.database_url, autocommit=True)
        self._closers.append(conn)
        return conn

    def pool(self, max_size: int = 8, durable: bool = True) -> ConnectionPool:
        """Returns an open pool of autocommit connections to the store's database, for
        parts that serve many threads (the token service, the HTTP API). A caller waits
        at most 5 s for a connection: past that the database is as good as down (503).
        With `durable` False its commits do not wait for the WAL to reach disk
        (`synchronous_commit = off`): a crash may lose the last fraction of a second of
        them, never corrupt them; only for what a crash can afford to forget."""
        kwargs: dict[str, Any] = {**pg_limits(self.database_url), "autocommit": True}
        if not durable:
            kwargs["options"] = f"{kwargs['options']} -c synchronous_commit=off"
        pool = ConnectionPool(self.database_url, min_size=1, max_size=max_size, open=False,
                              timeout=5, kwargs=kwargs, name="supportlog")
        try:
            pool.open(wait=True, timeout=15)
        except PoolTimeout as e:
            pool.close()
            raise DatabaseUnavailableError(f"PostgreSQL does not answer: {e}") from e
        self._closers.append(pool)
        return pool

    def principals(self, pool: ConnectionPool | None = None,
                   clock: Callable[[], datetime] | None = None) -> Principals:
        """Returns the token service of this store (`clock`: the wall clock unless
        given)."""
        from supportlog.scheduler import wall_clock

        return Principals(self.desk, pool or self.pool(2), clock or wall_clock)

    def api(self, clock: Callable[[], datetime] | None = None) -> Any:
        """Returns the HTTP API (a FastAPI application) of this system, with the web
        console under /console: its own pool, the token service, the console's
        sessions, the rate limit, idempotency keys and read-your-writes waits of
        `Settings`, and isolated stores for what-if replays."""
        from supportlog.console.sessions import ConsoleSessions
        from supportlog.http.app import create_app
        from supportlog.http.auth import BearerTokens
        from supportlog.http.freshness import Health, ProjectionWatch
        from supportlog.http.idempotency import IdempotencyStore
        from supportlog.http.ratelimit import RateLimiter
        from supportlog.http.services import ApiServices
        from supportlog.scheduler import wall_clock

        settings = self.settings
        pool = self.pool(max_size=16)
        principals = self.principals(pool, clock)
        health = Health(pool, self.desk.recorder.max_notification_id, self.kafka_bootstrap,
                        settings.topic, settings.group_id)
        services = ApiServices(
            settings=settings, desk=self.desk, pool=pool, principals=principals,
            authenticators=[BearerTokens(principals)],
            limiter=RateLimiter(settings.rate_per_s, settings.rate_burst),
            keys=IdempotencyStore(self.pool(max_size=8, durable=False),
                                  settings.idempotency_hours),
            watch=ProjectionWatch(pool, self.desk.recorder.max_notification_id,
                                  settings.topic, settings.group_id, settings.read_wait_s,
                                  health),
            health=health, clock=clock or wall_clock,
            isolated=lambda label: isolated_system(settings, label),
            erase=self.erase_customer, revealer=self.personal.revealer,
            sessions=ConsoleSessions(pool, principals, clock or wall_clock))
        return create_app(services)

    def desk_with(self, profile_override: Callable[[str], PolicyProfile | None] | None
                  ) -> SupportDesk:
        """Returns another desk on this store that decides under `profile_override`
        where it names a profile (the what-if replay); the caller closes it."""
        return make_desk(self.settings, self.database_url, self.seal, self.personal,
                         profile_override)

    def erase_customer(self, customer: str, *, reason: str, by: str | None = None,
                       actor: Actor | None = None) -> Erasure:
        """Erases `customer`'s personal data (R-PRV-1, R-PRV-2): `customer.erased` with
        `by` and `reason` (and `actor`, who acted), the data key destroyed in the same
        transaction, the key table vacuumed (`supportlog.privacy.erase`). What
        `supportlog erase` and the API's erase route call; the actor's role is checked
        by the one table (`domain.access`)."""
        return erase_customer(self, customer, reason=reason, by=by, actor=actor)

    def producer(self) -> KafkaProducer:
        """Returns a new producer, closed with the system."""
        producer = make_producer(self.kafka_bootstrap)
        self._closers.append(producer)
        return producer

    def ensure_topic(self) -> None:
        """Creates the topic if it does not exist (as at start; a memory-only broker
        comes back from a restart without it)."""
        ensure_topic(self.kafka_bootstrap, self.settings.topic, self.settings.partitions)

    def relay(self, batch_size: int = 2000, source: System | None = None) -> Relay:
        """Returns a relay with its own connection and producer, publishing this
        system's store (or `source`'s: the bench relays one store into another topic),
        and the means to replace them after an outage (`consumers.relay_loop`)."""
        key = self.require_key()  # its keyed record must go on: no key, no relay
        return Relay((source or self).desk, self.connect(), self.producer(),
                     self.settings.topic, batch_size=batch_size, faults=self.faults,
                     key=key, list_offsets=self.settings.trusts_list_offsets,
                     clients=Clients(self.producer, self.connect, self.ensure_topic))

    def projector(self, group_id: str | None = None, *, join_group: bool = False,
                  dead_letters: bool = False, client_id: str | None = None,
                  consumer_overrides: dict[str, Any] | None = None,
                  on_committed: Callable[..., None] | None = None) -> Projector:
        """Returns a projector; with `join_group` it joins the consumer group, else it
        reads every partition itself. With `dead_letters`, quarantined events are also
        published on `<topic>.dlq` (production); without, they stay in the table.
        `consumer_overrides` change consumer settings (a session timeout for tests);
        `on_committed(items, result)` runs after each confirmed commit (the bench)."""
        group = group_id or self.settings.group_id
        consumer = make_consumer(self.kafka_bootstrap,
                                 group_id=group if join_group else None,
                                 client_id=client_id or f"supportlog-projector-{group}",
                                 **(consumer_overrides or {}))
        self._closers.append(consumer)
        projector = Projector(self.connect(), consumer, self.settings.topic, group,
                              faults=self.faults,
                              dead_letters=self.dead_letters() if dead_letters else None,
                              on_committed=on_committed)
        projector.list_offsets = self.settings.trusts_list_offsets
        projector.reconnect = self.connect
        if join_group:
            projector.subscribe()
        else:
            projector.assign_all()
        return projector

    def dead_letters(self) -> DeadLetters:
        """Returns the dead-letter sink, after sending what a crash may have left unsent."""
        ensure_dead_letter_topic(self.kafka_bootstrap, self.settings.topic)
        producer = make_producer(self.kafka_bootstrap)
        self._closers.append(producer)
        sink = DeadLetters(self.connect(), producer, self.settings.topic)
        sink.publish_pending()
        return sink

    def scheduler(self, sync: Callable[[], None] | None = None,
                  desk: Any | None = None) -> Scheduler:
        """Returns the scheduler firing this store's due timers; `sync` brings the
        `timers` read model up to date before each look (scenarios, the demo), and
        `desk` stands in for the desk (the bench times it)."""
        timers = TimersTable(self.connect())
        firing = TimerFiring(desk or self.desk, timers, sync=sync,
                             after_fire=Scheduler.after_fire_hook(self.faults))
        return Scheduler(firing, timers, self.connect)

    def workers(self, names: tuple[str, ...] = ("relay", "projector", "scheduler"),
                scheduler_interval_s: float = 1.0) -> list[Worker]:
        """Returns the long-running workers of `PIPELINE` named in `names`, built for
        production: the projector joins its group and dead-letters what it quarantines."""
        def scheduler() -> Callable[[threading.Event], None]:
            built = self.scheduler()
            return lambda stop: built.run(stop, interval_s=scheduler_interval_s)

        builders: dict[str, Callable[[], Callable[[threading.Event], None]]] = {
            "relay": lambda: self.relay().run,
            "projector": lambda: self.projector(join_group=True, dead_letters=True).run,
            "scheduler": scheduler,
        }
        return [Worker(name, reads, writes, builders[name]())
                for name, reads, writes in PIPELINE if name in names]

    def close(self) -> None:
        """Closes every connection, producer, consumer and desk this system made.

        A producer gets PRODUCER_CLOSE_TIMEOUT_S to deliver what it still holds, then is
        force-closed (`close_producer`); what it could not deliver was never confirmed,
        so the relay publishes it again on its next start. Unbounded, a producer wedged
        by a long broker outage (kafka-python 3.0.12's idempotent producer stops sending
        once batches expired after delivery_timeout_ms, and its flush never returns) hung
        the process, even on SIGTERM. A consumer leaves its group within
        CONSUMER_CLOSE_TIMEOUT_MS (the others then rebalance at once), or gives up."""
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(Exception):  # best effort: nothing is written here
                if isinstance(closer, KafkaProducer):
                    close_producer(closer, PRODUCER_CLOSE_TIMEOUT_S)
                elif isinstance(closer, KafkaConsumer):
                    closer.close(timeout_ms=CONSUMER_CLOSE_TIMEOUT_MS)
                else:
                    closer.close()
        self.desk.close()
        self.personal.close()


def embedded_infra(settings: Settings) -> Any:
    """Returns the embedded servers of `settings.home` with the broker `settings.broker`
    (started by nobody yet)."""
    from supportlog.embedded import EmbeddedInfra

    return EmbeddedInfra(settings.home, settings.broker, settings.cache_dir)


def resolve_servers(settings: Settings) -> Settings:
    """Returns settings with server addresses: the configured ones, or the embedded
    pair's, started if nothing in the home is recorded as running. A recorded server
    that is gone is reported (exit 3), not silently replaced (`EmbeddedInfra.running`)."""
    if not settings.embedded:
        return settings
    state = embedded_infra(settings).running()
    return settings.with_servers(state.database_url, state.kafka_bootstrap)


def bootstrap(settings: Settings, *, prepare: bool = True) -> System:
    """Builds the system for `settings`: servers, schema, topic, log key, desk.

    With `prepare` False nothing is started, migrated or created: the servers must be
    given and the schema in place (`status`, which only reads, and worker children); the
    log key is not read either, so that system cannot write events."""
    if prepare:
        settings = resolve_servers(settings)
    if not (settings.database_url and settings.kafka_bootstrap):
        raise ValueError("bootstrap(prepare=False) needs both servers' addresses")
    if not prepare:
        seal = KeySlot("this system was built read-only, without the log key")
        personal = make_cipher(settings.database_url,
                               "this system was built read-only, without the master key")
        return System(settings, settings.database_url, settings.kafka_bootstrap,
                      make_desk(settings, settings.database_url, seal, personal),
                      FaultSwitch(settings.fault), seal, personal)
    seal = KeySlot()
    personal = make_cipher(settings.database_url, "the master key is not settled yet")
    try:
        with pg_connect(settings.database_url, autocommit=True) as conn:
            migrate(conn)
            with schema_lock(conn):  # the desk creates the event store's tables
                desk = make_desk(settings, settings.database_url, seal, personal)
            try:
                ensure_topic(settings.kafka_bootstrap, settings.topic, settings.partitions)
                seal.settle(settle_key(settings, conn, lambda: _newest(desk)))
                personal.settle(settle_master(settings, conn))
            except BaseException:
                desk.close()
                personal.close()
                raise
    except psycopg.OperationalError as e:
        raise DatabaseUnavailableError(
            f"PostgreSQL does not answer at {redacted(settings.database_url)}: "
            f"{str(e).strip()}") from e
    return System(settings, settings.database_url, settings.kafka_bootstrap, desk,
                  FaultSwitch(settings.fault), seal, personal)


def _newest(desk: SupportDesk) -> tuple[int, bool]:
    """The store's head and whether the event there carries a MAC."""
    head = desk.recorder.max_notification_id() or 0
    found = desk.recorder.select_notifications(head, 1) if head else []
    return head, bool(found) and desk.mapper.decode_sealed(found[0])[1] is not None


@contextlib.contextmanager
def isolated_system(settings: Settings, label: str = "scenario") -> Iterator[System]:
    """A system on a database and topic of its own (scenarios, what-if, bench). When
    it is done, however it ends, its database, its topic and the topic's dead-letter
    topic are removed: a throwaway store leaves nothing behind."""
    settings = resolve_servers(settings)
    assert settings.database_url and settings.kafka_bootstrap
    name = f"{label}_{uuid.uuid4().hex[:12]}"
    with pg_connect(settings.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    isolated = replace(settings, database_url=make_conninfo(settings.database_url, dbname=name),
                       topic=f"{settings.topic}.{name}", group_id=f"{settings.group_id}.{name}")
    try:
        system = bootstrap(isolated)
        try:
            yield system
        finally:
            system.close()
    finally:
        with pg_connect(settings.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        delete_topics(settings.kafka_bootstrap, [isolated.topic, dlq_topic(isolated.topic)])
