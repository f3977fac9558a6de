"""Dead letters: the quarantine table as an outbox to the `<topic>.dlq` topic, its
listing, and the retry of quarantined events once their problem is fixed.

The projector writes a quarantine row in the batch's own transaction, so nothing is
lost. The dead-letter record is produced after that commit, and the row is marked only
once the broker has acknowledged it: a crash in between sends it again (at least once,
never skipped). The record keeps its key, value and headers, and adds `dlq_*` headers
with the error and where it came from. A retry folds the quarantined events of each
aggregate in version order with the projector's own planning, under the same
partition locks, and stops an aggregate at its first event that still fails.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError

from consumers.projector.batch_writer import (
    applied_versions,
    apply_isolated,
    lock_partitions,
    record_applied,
)
from consumers.projector.records import Record, decode_record, safe_text
from eventlog.kafka_config import BrokerUnavailableError, ensure_topic
from projections.planning import Apply, Quarantine, Skip, plan_batch

DLQ_SUFFIX = ".dlq"
_SEND_TIMEOUT_S = 30.0


def dlq_topic(topic: str) -> str:
    """Returns the dead-letter topic of `topic`."""
    return f"{topic}{DLQ_SUFFIX}"


def ensure_dead_letter_topic(bootstrap: str, topic: str) -> str:
    """Creates the dead-letter topic of `topic` explicitly (one partition: dead letters
    are few, and one partition keeps them in the order they were quarantined)."""
    name = dlq_topic(topic)
    ensure_topic(bootstrap, name, partitions=1)
    return name


@dataclass(frozen=True)
class QuarantinedRecord:
    """One quarantine row, as `supportlog dlq list` shows it."""

    topic: str
    partition: int
    offset: int
    event_type: str | None
    event_id: str | None
    aggregate_id: str | None
    aggregate_version: int | None
    reason: str
    quarantined_at: datetime
    dead_lettered_at: datetime | None
    retried: bool
    retried_at: datetime | None
    last_retry_error: str | None
    value_preview: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


_LIST_COLUMNS = ('topic, partition, "offset", event_type, event_id, aggregate_id::text, '
                 "aggregate_version, reason, quarantined_at, dead_lettered_at, retried, "
                 "retried_at, last_retry_error, value")


def list_quarantine(conn: psycopg.Connection, topic: str,
                    include_retried: bool = False) -> list[QuarantinedRecord]:
    """Returns the topic's quarantined records, oldest first (retried ones on request)."""
    with conn.transaction():
        rows = conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM quarantine WHERE topic = %s "
            "AND (%s OR NOT retried) ORDER BY quarantined_at, partition, \"offset\"",
            (topic, include_retried)).fetchall()
    return [QuarantinedRecord(*row[:-1], value_preview=bytes(row[-1])[:120].decode(
        "utf-8", "replace")) for row in rows]


def quarantine_counts(conn: psycopg.Connection, topic: str) -> dict[str, int]:
    """Returns how many records wait in quarantine, how many of them are not yet on the
    dead-letter topic, and how many were retried successfully."""
    with conn.transaction():
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE NOT retried), "
            "count(*) FILTER (WHERE NOT retried AND dead_lettered_at IS NULL), "
            "count(*) FILTER (WHERE retried) FROM quarantine WHERE topic = %s",
            (topic,)).fetchone()
    pending, unsent, retried = row or (0, 0, 0)
    return {"quarantined": int(pending), "not_dead_lettered": int(unsent),
            "retried": int(retried)}


class DeadLetters:
    """Produces quarantined records to the dead-letter topic, at least once."""

    def __init__(self, conn: psycopg.Connection, producer: KafkaProducer, topic: str,
                 batch_size: int = 500):
        self.conn = conn
        self.producer = producer
        self.topic = topic
        self.dlq = dlq_topic(topic)
        self.batch_size = batch_size

    def publish_pending(self) -> int:
        """Sends every quarantine row not yet on the dead-letter topic; returns how many.

        Rows are locked while they are sent (SKIP LOCKED: two projectors never send the
        same row at once) and marked only after the broker acknowledged them.
        """
        total = 0
        while True:
            sent = self._publish_batch()
            total += sent
            if sent < self.batch_size:
                return total

    def _publish_batch(self) -> int:
        with self.conn.transaction():
            rows = self.conn.execute(
                'SELECT partition, "offset", key, value, headers, reason, group_id, '
                "quarantined_at FROM quarantine WHERE topic = %s AND dead_lettered_at IS NULL "
                'ORDER BY quarantined_at, partition, "offset" LIMIT %s FOR UPDATE SKIP LOCKED',
                (self.topic, self.batch_size)).fetchall()
            if not rows:
                return 0
            futures = []
            for partition, offset, key, value, headers, reason, group_id, at in rows:
                futures.append(self.producer.send(
                    self.dlq, key=bytes(key) if key is not None else None, value=bytes(value),
                    headers=[
                        *_headers(headers),
                        ("dlq_error", reason.encode()),
                        ("dlq_topic", self.topic.encode()),
                        ("dlq_partition", str(partition).encode()),
                        ("dlq_offset", str(offset).encode()),
                        ("dlq_group", (group_id or "").encode()),
                        ("dlq_quarantined_at", at.isoformat().encode()),
                    ]))
            try:
                self.producer.flush(timeout=_SEND_TIMEOUT_S)
                for future in futures:
                    future.get(timeout=_SEND_TIMEOUT_S)
            except KafkaError as e:
                raise BrokerUnavailableError(
                    f"cannot send dead letters to {self.dlq}: {e}") from e
            with self.conn.cursor() as cur:
                cur.executemany(
                    "UPDATE quarantine SET dead_lettered_at = now() "
                    'WHERE topic = %s AND partition = %s AND "offset" = %s',
                    [(self.topic, p, o) for p, o, *_ in rows])
        return len(rows)


def _headers(stored: Any) -> list[tuple[str, bytes]]:
    return [(name, base64.b64decode(value)) for name, value in (stored or [])]


@dataclass
class RetryReport:
    """What a retry did: events folded now, events found already applied, and the
    records still failing with their reasons."""

    folded: int = 0
    already_applied: int = 0
    still_failing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retry_quarantined(conn: psycopg.Connection, topic: str) -> RetryReport:
    """Folds the topic's quarantined events again, in one transaction; marks each one
    that folds (or turns out applied meanwhile) retried, and records the error of each
    one that still fails. An aggregate stops at its first failing event, so its later
    events stay parked and are never folded out of order."""
    report = RetryReport()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT DISTINCT partition FROM quarantine WHERE topic = %s "
                    "AND NOT retried", (topic,))
        lock_partitions(cur, {(topic, int(p)) for (p,) in cur.fetchall()})
        cur.execute('SELECT partition, "offset", key, value, headers FROM quarantine '
                    "WHERE topic = %s AND NOT retried FOR UPDATE", (topic,))
        items = [decode_record(Record(topic, p, o, bytes(k) if k is not None else None,
                                      bytes(v), tuple(_headers(h))))
                 for p, o, k, v, h in cur.fetchall()]
        items.sort(key=lambda i: (i.envelope is None,
                                  i.envelope.aggregate_id if i.envelope else "",
                                  i.envelope.aggregate_version if i.envelope else 0,
                                  i.record.partition, i.record.offset))
        ids = {i.envelope.aggregate_id for i in items if i.envelope is not None}
        steps = apply_isolated(conn, cur, plan_batch(items, applied_versions(cur, ids), {}))
        record_applied(cur, steps)
        done, failing = [], []
        for step in steps:
            r = step.item.record
            if isinstance(step, Quarantine):
                failing.append((safe_text(step.reason), topic, r.partition, r.offset))
                report.still_failing.append(f"{r.partition}/{r.offset}: {step.reason}")
            else:
                done.append((topic, r.partition, r.offset))
                report.folded += isinstance(step, Apply)
                report.already_applied += isinstance(step, Skip)
        cur.executemany("UPDATE quarantine SET retried = true, retried_at = now(), "
                        'last_retry_error = NULL WHERE topic = %s AND partition = %s '
                        'AND "offset" = %s', done)
        cur.executemany("UPDATE quarantine SET last_retry_error = %s WHERE topic = %s "
                        'AND partition = %s AND "offset" = %s', failing)
    return report
