"""The relay: the store's notification log, in order, to the Kafka topic.

At least once, never skipped: it publishes a batch, waits for the broker to acknowledge
every record, and only then records the last published notification id in PostgreSQL.
A crash between the two re-publishes the batch on restart; consumers skip what they
have applied. Every record is keyed by customer (architecture decision 4). It also
records the next offset it produced to in each partition, so a reader can tell when a
consumer has caught up without asking the broker for end offsets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from kafka import KafkaProducer

from consumers.envelope import Envelope
from consumers.faults import NO_FAULTS, FaultSwitch
from domain.desk import SupportDesk


@dataclass
class RelayStats:
    """What a relay pass did."""

    published: int = 0
    batches: int = 0
    position: int = 0


class Relay:
    """Publishes stored events to `topic`, keyed by customer, from the stored position."""

    def __init__(self, desk: SupportDesk, conn: psycopg.Connection, producer: KafkaProducer,
                 topic: str, batch_size: int = 500, faults: FaultSwitch = NO_FAULTS):
        self.desk = desk
        self.conn = conn
        self.producer = producer
        self.topic = topic
        self.batch_size = batch_size
        self.faults = faults

    def position(self) -> int:
        """Returns the last notification id acknowledged by the broker (0 if none)."""
        row = self.conn.execute(
            "SELECT notification_id FROM relay_position WHERE topic = %s", (self.topic,)
        ).fetchone()
        self.conn.commit()
        return int(row[0]) if row else 0

    def set_position(self, position: int) -> None:
        """Moves the position, backwards too (`relay --from`): republishing is safe."""
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO relay_position (topic, notification_id) VALUES (%s, %s) "
                "ON CONFLICT (topic) DO UPDATE SET notification_id = EXCLUDED.notification_id",
                (self.topic, position),
            )

    def head(self) -> int:
        """Returns the store's highest notification id (0 for an empty store)."""
        return self.desk.recorder.max_notification_id() or 0

    def pump_once(self) -> int:
        """Publishes one batch after the stored position; returns how many events."""
        start = self.position()
        notifications = self.desk.recorder.select_notifications(
            start, self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        futures = []
        for notification in notifications:
            event = self.desk.mapper.to_domain_event(notification)
            envelope = Envelope.from_event(event, notification.id)
            futures.append(self.producer.send(
                self.topic, key=envelope.key(), value=envelope.encode(),
                headers=envelope.headers(),
            ))
            self.faults.reached("relay.mid_batch")
        self.producer.flush()
        next_offsets: dict[int, int] = {}
        for future in futures:
            metadata = future.get()  # raises if the broker did not acknowledge
            next_offsets[metadata.partition] = max(
                next_offsets.get(metadata.partition, 0), metadata.offset + 1
            )
        self.faults.reached("relay.after_produce")
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO relay_position (topic, notification_id) VALUES (%s, %s) "
                "ON CONFLICT (topic) DO UPDATE SET notification_id = EXCLUDED.notification_id",
                (self.topic, notifications[-1].id),
            )
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO relay_partition_offsets (topic, partition, next_offset) "
                    "VALUES (%s, %s, %s) ON CONFLICT (topic, partition) DO UPDATE SET "
                    "next_offset = GREATEST(relay_partition_offsets.next_offset, "
                    "EXCLUDED.next_offset)",
                    [(self.topic, p, o) for p, o in next_offsets.items()],
                )
        self.faults.reached("relay.after_commit")
        return len(notifications)

    def pump(self, progress: Callable[[int], None] | None = None) -> RelayStats:
        """Publishes until the stored position reaches the store's head."""
        stats = RelayStats()
        while True:
            count = self.pump_once()
            if count == 0:
                break
            stats.published += count
            stats.batches += 1
            if progress:
                progress(count)
        stats.position = self.position()
        return stats

    def run(self, stop: threading.Event, idle_wait_s: float = 0.1) -> None:
        """Relays until `stop` is set; finishes the batch in hand before returning."""
        while not stop.is_set():
            if self.pump_once() == 0:
                stop.wait(idle_wait_s)
