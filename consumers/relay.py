"""The relay: the store's notification log, in order, to the Kafka topic.

At least once, never skipped: it publishes a batch, waits for the broker to acknowledge
every record, and only then records the last published notification id in PostgreSQL.
A crash between the two re-publishes the batch on restart; consumers skip what they
have applied. Through a backlog (`pump`) batches overlap: the next batch is read,
encoded and sent while the acknowledgements of the previous one come in, but a batch's
position is still stored only once all of its records are acknowledged, in order.
Every record is keyed by customer (architecture decision 4). In the same transaction as
the position it records the next offset it produced to in each partition (so a reader
can tell when a consumer has caught up without asking the broker for end offsets) and
extends the log-wide hash chain (R-AUD-3, `eventlog.log_chain`), with the log key also
its keyed record of each event's position, id and hash.

It can be moved back (`rewind_to`, `supportlog relay --from`), and when it starts to run
it refills a topic that lost what it had published (a restarted embedded broker, a
replaced cluster), judged by the broker's high-water marks. It never moves forward past
events it has not published.

Running (`run`, in `consumers.relay_loop`), it rides out a lost broker or database: it
keeps its position, replaces the client that broke, retries with a capped backoff and
carries on by itself, checking the topic again after a broker outage. Every wait for
the broker is bounded, so a stop request ends it within seconds whatever the servers do:
a batch not acknowledged by then is dropped unconfirmed and published again next time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError

from consumers.faults import NO_FAULTS, FaultSwitch
from consumers.relay_loop import Clients, Stopped, acknowledged, run
from domain.desk import SupportDesk
from domain.errors import InvalidArgumentError
from eventlog.envelope import Envelope, event_id_text
from eventlog.kafka_config import BrokerUnavailableError
from eventlog.log_chain import (
    CHECKPOINT_EVERY,
    ChainState,
    Link,
    chain_over,
    read_head,
    write_chain,
)
from eventlog.log_key import LogKey
from eventlog.topic_reader import high_water_marks

log = logging.getLogger(__name__)

#: How long an idle relay waits before it reads the store again. It bounds how late a
#: new event reaches the topic (a command's wait for its read models is mostly this
#: plus the broker's own round trip), and an idle look is one indexed query: 50 a
#: second cost PostgreSQL nothing measurable. LISTEN/NOTIFY would remove the wait; it
#: needs a trigger on the event store's table, which the eventsourcing library owns.
IDLE_WAIT_S = 0.02
_UPSERT_POSITION = (
    "INSERT INTO relay_position (topic, notification_id) VALUES (%s, %s) "
    "ON CONFLICT (topic) DO UPDATE SET notification_id = EXCLUDED.notification_id")


def topic_loss(position: int, produced: dict[int, int], high_water: dict[int, int]
               ) -> str | None:
    """Returns why a topic no longer holds what the relay published, or None.

    `position` and `produced` are what the relay stored when the broker acknowledged
    (its position and the next offset per partition); `high_water` is each partition's
    high-water mark as the broker states it (`eventlog.topic_reader.high_water_marks`).
    A partition whose mark is below the offset the relay produced to has lost records;
    a topic with no record at all while the relay's position is past zero has lost
    everything. Shared by the relay (which then refills) and `supportlog status`.
    """
    if position == 0:
        return None
    if not any(high_water.values()):
        return "the topic is empty but the relay's position is past zero"
    behind = sorted(p for p, offset in produced.items() if high_water.get(p, 0) < offset)
    if behind:
        return f"partition(s) {behind} hold fewer records than the relay produced"
    return None


@dataclass
class _Batch:
    """A batch of sent records, not yet confirmed: the position it was read after, its
    notification ids, the send futures and the (position, event hash, event id) links
    for the log-wide chain."""

    after: int
    first: int
    last: int
    count: int
    futures: list = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


@dataclass
class RelayStats:
    """What a relay pass did."""

    published: int = 0
    batches: int = 0
    #: The stored position at the end of the pass.
    position: int = 0


class Relay:
    """Publishes stored events to `topic`, keyed by customer, from the stored position."""

    def __init__(self, desk: SupportDesk, conn: psycopg.Connection, producer: KafkaProducer,
                 topic: str, batch_size: int = 2000, faults: FaultSwitch = NO_FAULTS,
                 checkpoint_every: int = CHECKPOINT_EVERY, key: LogKey | None = None,
                 list_offsets: bool = False, clients: Clients | None = None):
        """With `key` (the composition root's log key) the relay keeps its keyed record
        of what it chained (`eventlog.log_chain`); without, only the chain.
        `list_offsets`: the broker's ListOffsets answer is right (Apache Kafka), so the
        topic's extent is asked that way (`eventlog.topic_reader`). `clients` makes new
        clients after an outage (`run`); without, a lost server ends `run`."""
        self.desk = desk
        self.conn = conn
        self.producer = producer
        self.topic = topic
        self.batch_size = batch_size
        self.faults = faults
        self.checkpoint_every = checkpoint_every
        self.key = key
        self.list_offsets = list_offsets
        self.clients = clients

    # --- positions --------------------------------------------------------------------

    def position(self) -> int:
        """Returns the last notification id acknowledged by the broker (0 if none)."""
        row = self.conn.execute(
            "SELECT notification_id FROM relay_position WHERE topic = %s", (self.topic,)
        ).fetchone()
        self.conn.commit()
        return int(row[0]) if row else 0

    def set_position(self, position: int) -> None:
        """Stores `position` as is. Prefer `rewind_to`, which refuses to skip events."""
        with self.conn.transaction():
            self.conn.execute(_UPSERT_POSITION, (self.topic, position))

    def rewind_to(self, position: int) -> int:
        """Moves back so that every event after `position` is published again; returns the
        position it moved from. Raises InvalidArgumentError for a position ahead of the
        relay's, since moving forward would skip events."""
        current = self.position()
        if position < 0 or position > current:
            raise InvalidArgumentError(
                f"the relay can only move back: it is at position {current}, "
                f"asked for {position}")
        self.set_position(position)
        log.info("relay rewound", extra={
            "topic": self.topic, "from_position": current, "to_position": position})
        return current

    def head(self) -> int:
        """Returns the store's highest notification id (0 for an empty store)."""
        return self.desk.recorder.max_notification_id() or 0

    def produced_offsets(self) -> dict[int, int]:
        """Returns the next offset this relay recorded producing to, per partition."""
        rows = self.conn.execute(
            "SELECT partition, next_offset FROM relay_partition_offsets WHERE topic = %s",
            (self.topic,)).fetchall()
        self.conn.commit()
        return {int(p): int(o) for p, o in rows}

    # --- refill -----------------------------------------------------------------------

    def topic_loss(self, high_water: dict[int, int]) -> str | None:
        """Returns why the topic no longer holds what this relay published, or None
        (`topic_loss` with this relay's stored position and produced offsets)."""
        return topic_loss(self.position(), self.produced_offsets(), high_water)

    def refill(self, reason: str) -> None:
        """Republishes from the start of the store: position 0, produced offsets cleared,
        in one transaction. The log-wide chain stays: it describes the store."""
        with self.conn.transaction():
            self.conn.execute(_UPSERT_POSITION, (self.topic, 0))
            self.conn.execute("DELETE FROM relay_partition_offsets WHERE topic = %s",
                              (self.topic,))
        log.warning("relay refills the topic from position 0", extra={
            "topic": self.topic, "reason": reason})

    def refill_if_lost(self, high_water: dict[int, int]) -> bool:
        """Refills the topic if it lost what the relay published; returns whether it did."""
        reason = self.topic_loss(high_water)
        if reason is None:
            return False
        self.refill(reason)
        return True

    # --- publishing -------------------------------------------------------------------

    def pump_once(self) -> int:
        """Publishes one batch after the stored position and stores its position once
        every record is acknowledged; returns how many events. No overlap: `pump` is
        the fast way through a backlog.

        At least once: after a crash an event may be published twice, never skipped.
        """
        start = self.position()
        chain = self._chain_at(start)
        notifications = self.desk.recorder.select_notifications(
            start, self.batch_size, inclusive_of_start=False)
        if not notifications:
            return 0
        batch = self._send(start, notifications)
        self._confirm(batch, chain, flush=True)
        return batch.count

    def pump(self, progress: Callable[[int], None] | None = None,
             stop: threading.Event | None = None) -> RelayStats:
        """Publishes until the stored position reaches the store's head (or, with `stop`,
        until it is set: the batch in flight is still confirmed); returns what it did.

        Batches overlap: batch k+1 is read, encoded and sent while batch k's records are
        in flight, and k's position (with its partition offsets and chain links, in one
        transaction) is stored only once every record of k is acknowledged, so the
        position never moves past an event the broker has not acknowledged. A failed
        send raises before anything after the last confirmed batch is stored. Once
        `stop` is set the batch in flight gets a short grace to be acknowledged, else it
        is dropped unconfirmed.
        """
        position = self.position()
        stats = RelayStats(position=position)
        chain = self._chain_at(position)
        in_flight: _Batch | None = None
        while True:
            notifications = [] if stop is not None and stop.is_set() else \
                self.desk.recorder.select_notifications(
                    position, self.batch_size, inclusive_of_start=False)
            batch = self._send(position, notifications) if notifications else None
            if in_flight is not None:
                try:  # with nothing to overlap with, flush: do not linger
                    chain = self._confirm(in_flight, chain, flush=batch is None, stop=stop)
                except Stopped:
                    break
                stats.published += in_flight.count
                stats.batches += 1
                stats.position = in_flight.last
                if progress:
                    progress(in_flight.count)
            if batch is None:
                break
            in_flight, position = batch, batch.last
        return stats

    def _chain_at(self, position: int) -> ChainState:
        """Returns the log-wide chain's head, first chaining (without publishing) any
        events up to `position` that an older relay published before the chain existed."""
        chain = read_head(self.conn)
        if chain.position < position:
            chain = self._catch_up_chain(chain, position)
        return chain

    def _send(self, after: int, notifications: list) -> _Batch:
        """Encodes every notification (read after position `after`), then sends them all
        without waiting for acknowledgements; returns the batch in flight.

        Encoding first and sending in one burst, as a bare producer would, lets the
        producer fill few large record batches; sends spread between encodings make many
        small ones, each a request its I/O thread must build and settle.
        """
        batch = _Batch(after, notifications[0].id, notifications[-1].id, len(notifications))
        records = []
        for notification in notifications:
            envelope = Envelope.from_event(self.desk.mapper.to_domain_event(notification),
                                           notification.id)
            batch.links.append((notification.id, envelope.hash, envelope.id))
            records.append((envelope.key(), envelope.encode(), envelope.headers()))
        send, topic = self.producer.send, self.topic
        try:
            for key, value, headers in records:
                batch.futures.append(send(topic, key=key, value=value, headers=headers))
                self.faults.reached("relay.mid_batch")
        except KafkaError as e:
            raise self._unacknowledged(batch, e) from e
        return batch

    def _confirm(self, batch: _Batch, chain: ChainState, flush: bool = False,
                 stop: threading.Event | None = None) -> ChainState:
        """Waits until the broker acknowledged every record of `batch`, then stores its
        position, the next offset produced to in each partition and the chain, in one
        transaction; returns the chain after the batch."""
        next_offsets = acknowledged(self, batch, flush, stop)
        self.faults.reached("relay.after_produce")
        after = chain_over(chain, batch.links)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(_UPSERT_POSITION, (self.topic, batch.last))
            cur.executemany(
                "INSERT INTO relay_partition_offsets (topic, partition, next_offset) "
                "VALUES (%s, %s, %s) ON CONFLICT (topic, partition) DO UPDATE SET "
                "next_offset = GREATEST(relay_partition_offsets.next_offset, "
                "EXCLUDED.next_offset)",
                [(self.topic, p, o) for p, o in next_offsets.items()],
            )
            write_chain(cur, chain, after, self.checkpoint_every, batch.links, self.key)
        self.faults.reached("relay.after_commit")
        log.info("batch published", extra={
            "topic": self.topic, "events": batch.count, "first_position": batch.first,
            "position": batch.last,
            "ms": round((time.monotonic() - batch.started) * 1000, 1)})
        return after

    def _unacknowledged(self, batch: _Batch, error: KafkaError) -> BrokerUnavailableError:
        return BrokerUnavailableError(
            f"the broker did not acknowledge the batch after position {batch.after}: "
            f"{error}")

    def _catch_up_chain(self, chain: ChainState, upto: int) -> ChainState:
        """Chains events that were published before the chain existed (an older relay),
        up to `upto`, without publishing them; returns the new head."""
        while chain.position < upto:
            page = self.desk.recorder.select_notifications(
                chain.position, self.batch_size, stop=upto, inclusive_of_start=False)
            if not page:
                break
            links = [(n.id, self.desk.mapper.to_domain_event(n).hash,
                      event_id_text(n.originator_id, n.originator_version)) for n in page]
            after = chain_over(chain, links)
            with self.conn.transaction(), self.conn.cursor() as cur:
                write_chain(cur, chain, after, self.checkpoint_every, links, self.key)
            chain = after
        return chain

    def refill_if_topic_lost(self) -> bool:
        """Asks the broker how far the topic goes and refills it if it lost what the relay
        published (`topic_loss`); returns whether it did. Nothing to check at position 0."""
        if self.position() == 0:
            return False
        bootstrap = self.producer.config["bootstrap_servers"]
        return self.refill_if_lost(high_water_marks(bootstrap, self.topic,
                                                    list_offsets=self.list_offsets))

    def run(self, stop: threading.Event, idle_wait_s: float = IDLE_WAIT_S) -> None:
        """Refills the topic if it lost what was published, then relays until `stop` is
        set, riding out lost servers (`consumers.relay_loop.run`)."""
        run(self, stop, idle_wait_s)
