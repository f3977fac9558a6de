"""The projector: Kafka records in, read-model rows out, exactly once in effect.

Each poll's batch is folded in memory and written in ONE PostgreSQL transaction together
with the next offset of every partition it read (architecture decision 2). On start and
on every partition assignment it seeks to the offsets stored in PostgreSQL; Kafka's own
committed offsets are never read. An event whose aggregate version was already applied
(the relay may publish twice) is skipped. An event that cannot be folded is quarantined
with its reason in the same transaction and the projector goes on: nothing is dropped
silently, and a failing database stops the loop rather than skipping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from consumers.envelope import Envelope, EnvelopeError
from consumers.faults import NO_FAULTS, FaultSwitch
from projections.changes import apply_changes, changes_for

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one batch did."""

    records: int = 0
    applied: int = 0
    skipped: int = 0
    quarantined: int = 0


class _SeekOnAssign(ConsumerRebalanceListener):
    """Seeks newly assigned partitions to the offsets stored in PostgreSQL.

    Callbacks run inside `poll()`, on the consumer's thread, so they may use the
    projector's connection; they return promptly (one small query).
    """

    def __init__(self, projector: Projector):
        self.projector = projector

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to save: offsets are written with each batch's rows."""

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.projector.seek_to_stored(list(assigned))


class Projector:
    """Folds the topic into the read models of `conn`'s database."""

    def __init__(self, conn: psycopg.Connection, consumer: KafkaConsumer, topic: str,
                 group_id: str, faults: FaultSwitch = NO_FAULTS,
                 on_quarantine: Callable[[Any, str], None] | None = None):
        self.conn = conn
        self.consumer = consumer
        self.topic = topic
        self.group_id = group_id
        self.faults = faults
        self.on_quarantine = on_quarantine

    # --- assignment -------------------------------------------------------------------

    def assign_all(self) -> None:
        """Reads every partition itself (no group): for scenarios, tests and rebuilds."""
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.seek_to_stored(tps)

    def subscribe(self) -> None:
        """Joins the consumer group; partitions are sought on every assignment."""
        self.consumer.subscribe([self.topic], listener=_SeekOnAssign(self))

    def stored_offsets(self) -> dict[int, int]:
        """Returns the next offset to read per partition, as stored with the rows."""
        rows = self.conn.execute(
            "SELECT partition, next_offset FROM projector_offsets "
            "WHERE group_id = %s AND topic = %s", (self.group_id, self.topic),
        ).fetchall()
        self.conn.commit()
        return {int(p): int(o) for p, o in rows}

    def seek_to_stored(self, tps: list[TopicPartition]) -> None:
        stored = self.stored_offsets()
        for tp in tps:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)

    # --- the loop ---------------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 200) -> BatchResult:
        """Polls one batch and writes it; returns what it did."""
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        if not batch:
            return BatchResult()
        return self.write_batch(batch)

    def write_batch(self, batch: dict[TopicPartition, list[Any]]) -> BatchResult:
        """Folds `batch` and writes rows, applied versions and offsets in one transaction."""
        result = BatchResult()
        decoded: list[tuple[Any, Envelope | None, str | None]] = []
        for records in batch.values():
            for record in records:
                result.records += 1
                try:
                    decoded.append((record, Envelope.decode(record.value), None))
                except EnvelopeError as e:
                    decoded.append((record, None, str(e)))
        aggregate_ids = {e.aggregate_id for _, e, _ in decoded if e is not None}
        applied = self._applied_versions(aggregate_ids)
        changes: list[Any] = []
        newly_applied: dict[str, int] = {}
        quarantined: list[tuple[Any, Envelope | None, str]] = []
        for record, envelope, error in decoded:
            if envelope is None:
                quarantined.append((record, None, error or "undecodable"))
                continue
            if envelope.aggregate_version <= applied.get(envelope.aggregate_id, 0):
                result.skipped += 1
                continue
            try:
                changes.extend(changes_for(envelope))
            except Exception as e:  # a fold that raises: quarantine, keep going
                quarantined.append((record, envelope, f"fold failed: {type(e).__name__}: {e}"))
                continue
            applied[envelope.aggregate_id] = envelope.aggregate_version
            newly_applied[envelope.aggregate_id] = envelope.aggregate_version
            result.applied += 1
        offsets = {tp.partition: records[-1].offset + 1 for tp, records in batch.items()
                   if records}
        self.faults.reached("projector.before_commit")
        with self.conn.transaction(), self.conn.cursor() as cur:
            apply_changes(cur, changes)
            if newly_applied:
                cur.executemany(
                    "INSERT INTO projector_applied (aggregate_id, version) VALUES (%s, %s) "
                    "ON CONFLICT (aggregate_id) DO UPDATE SET version = "
                    "GREATEST(projector_applied.version, EXCLUDED.version)",
                    list(newly_applied.items()),
                )
            for record, envelope, reason in quarantined:
                cur.execute(
                    "INSERT INTO quarantine (topic, partition, \"offset\", event_type, "
                    "event_id, reason, value) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (record.topic, record.partition, record.offset,
                     envelope.type if envelope else None, envelope.id if envelope else None,
                     reason, record.value),
                )
            cur.executemany(
                "INSERT INTO projector_offsets (group_id, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, partition) DO UPDATE "
                "SET next_offset = GREATEST(projector_offsets.next_offset, "
                "EXCLUDED.next_offset)",
                [(self.group_id, self.topic, p, o) for p, o in offsets.items()],
            )
        self.faults.reached("projector.after_commit")
        for record, _envelope, reason in quarantined:
            log.warning("quarantined %s/%s@%s: %s", record.topic, record.partition,
                        record.offset, reason)
            if self.on_quarantine:
                self.on_quarantine(record, reason)
        result.quarantined = len(quarantined)
        return result

    def _applied_versions(self, aggregate_ids: set[str]) -> dict[str, int]:
        if not aggregate_ids:
            return {}
        rows = self.conn.execute(
            "SELECT aggregate_id::text, version FROM projector_applied "
            "WHERE aggregate_id = ANY(%s::uuid[])", (list(aggregate_ids),),
        ).fetchall()
        self.conn.commit()
        return {a: int(v) for a, v in rows}

    def lag(self) -> int:
        """Returns how many produced records this projector has not yet written.

        It compares the relay's recorded produce offsets with the stored consumed
        offsets, both in PostgreSQL, so it never asks the broker for end offsets.
        """
        row = self.conn.execute(
            "SELECT COALESCE(SUM(r.next_offset - COALESCE(p.next_offset, 0)), 0) "
            "FROM relay_partition_offsets r LEFT JOIN projector_offsets p "
            "ON p.topic = r.topic AND p.partition = r.partition AND p.group_id = %s "
            "WHERE r.topic = %s", (self.group_id, self.topic),
        ).fetchone()
        self.conn.commit()
        return int(row[0]) if row else 0

    def run(self, stop: threading.Event, timeout_ms: int = 200) -> None:
        """Polls and writes until `stop` is set; the batch in hand is always finished."""
        while not stop.is_set():
            self.poll_once(timeout_ms)
