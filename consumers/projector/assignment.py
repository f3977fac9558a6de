"""Where a projector starts reading each partition it is given: the offsets stored in
PostgreSQL with the rows, never Kafka's committed offsets.

On start and on every assignment (`SeekOnAssign`, in group mode) each partition is
sought to its stored offset, or to the beginning. A stored offset beyond what the
partition holds means the topic was replaced and refilled from the store (a restarted
memory broker, a new cluster): those offsets are forgotten and the partitions are read
again from the start, which is safe because events already applied are skipped by
their aggregate version.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from eventlog.topic_reader import high_water_marks

log = logging.getLogger("consumers.projector")


def read_stored_offsets(conn: psycopg.Connection, group_id: str, topic: str
                        ) -> dict[int, int]:
    """Returns the next offset to read per partition, as stored with the rows (the
    caller holds the transaction)."""
    rows = conn.execute(
        "SELECT partition, next_offset FROM projector_offsets "
        "WHERE group_id = %s AND topic = %s", (group_id, topic)).fetchall()
    return {int(p): int(o) for p, o in rows}


def forget_offsets(conn: psycopg.Connection, group_id: str, topic: str,
                   partitions: list[int]) -> None:
    """Deletes the stored offsets of `partitions` (the caller holds the transaction)."""
    conn.execute("DELETE FROM projector_offsets WHERE group_id = %s AND topic = %s "
                 "AND partition = ANY(%s)", (group_id, topic, partitions))


def lag(conn: psycopg.Connection, group_id: str, topic: str) -> int:
    """Returns how many records the relay produced that `group_id` has not yet written:
    the relay's recorded produce offsets against the stored consumed offsets, both in
    PostgreSQL, so the broker's end offsets are never needed (the caller holds the
    transaction)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(GREATEST(r.next_offset - COALESCE(p.next_offset, 0), 0)), 0) "
        "FROM relay_partition_offsets r LEFT JOIN projector_offsets p "
        "ON p.topic = r.topic AND p.partition = r.partition AND p.group_id = %s "
        "WHERE r.topic = %s", (group_id, topic)).fetchone()
    return int(row[0]) if row else 0


def bootstrap_of(consumer: KafkaConsumer) -> str:
    """Returns the bootstrap servers `consumer` was made with, as one string."""
    bootstrap = consumer.config["bootstrap_servers"]
    return ",".join(bootstrap) if isinstance(bootstrap, list) else bootstrap


def beyond_the_topic(consumer: KafkaConsumer, topic: str, stored: dict[int, int],
                     tps: list[TopicPartition], list_offsets: bool = False) -> list[int]:
    """Returns the partitions of `tps` whose stored offset lies beyond their
    high-water mark: the topic was refilled, and they must be read again
    (`list_offsets`: ask the marks with ListOffsets, right on Apache Kafka only)."""
    if not stored or not tps:
        return []
    marks = high_water_marks(bootstrap_of(consumer), topic, list_offsets=list_offsets)
    beyond = [tp.partition for tp in tps
              if stored.get(tp.partition, 0) > marks.get(tp.partition, 0)]
    if beyond:
        log.warning("stored offsets lie beyond the topic's end: it was refilled; "
                    "reading those partitions again", extra={"partitions": beyond})
    return beyond


def seek(consumer: KafkaConsumer, tps: list[TopicPartition], stored: dict[int, int]
         ) -> dict[int, int]:
    """Seeks each partition to its stored offset (or the beginning); returns them."""
    for tp in tps:
        if tp.partition in stored:
            consumer.seek(tp, stored[tp.partition])
        else:
            consumer.seek_to_beginning(tp)
    return {tp.partition: stored.get(tp.partition, 0) for tp in tps}


class Seeker(Protocol):
    """What `SeekOnAssign` asks of the projector."""

    assigned: set[int]

    def seek_to_stored(self, tps: list[TopicPartition]) -> dict[int, int]: ...


class SeekOnAssign(ConsumerRebalanceListener):
    """Seeks newly assigned partitions to the offsets stored in PostgreSQL.

    kafka-python may run these callbacks on another thread than the loop's, possibly
    while the loop is writing a batch or has one in flight: the offset query first
    takes the projector's lock and waits for that batch's commit (milliseconds), so
    the seek lands after what it wrote, never on a half-finished batch. They must
    return promptly, since heartbeats wait on the same thread.
    """

    def __init__(self, projector: Seeker):
        self.projector = projector

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to save: offsets are written with each batch's rows."""
        # replaced, not changed in place: another thread may be reading it
        self.projector.assigned = self.projector.assigned - {tp.partition for tp in revoked}
        if revoked:
            log.info("partitions revoked", extra={
                "partitions": sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned: Any) -> None:
        offsets = self.projector.seek_to_stored(list(assigned))
        self.projector.assigned = self.projector.assigned | {tp.partition for tp in assigned}
        log.info("partitions assigned", extra={"offsets": offsets})
