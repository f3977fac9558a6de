"""Projection: events/s from Kafka into the read models by the `Projector`, against the
same folds with one PostgreSQL transaction per event (`projection_vs_naive`) and against
a bare consumer that only reads the topic (`projection_vs_raw_consume`).

All three read the same topic from the beginning with the same consumer settings
(`eventlog.kafka_config`, up to 2,000 records a poll). The projector writes a poll's
batch in one transaction (rows, applied versions, offsets), stepping as `Projector.run`
does: each batch's commit overlaps the next poll, and a batch counts once its commit is
confirmed. The naive loop decodes each
record, folds it with the same registered folds and writes its rows and its offset in a
transaction of its own, into a copy of the read-model tables in schema `bench_naive`, so
it competes with nothing the projector wrote. One commit per event is bounded by the
server's WAL flush, so it is measured on at most `naive_limit` events: its rate does
not depend on how many there are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from eventlog.envelope import Envelope
from eventlog.kafka_config import make_consumer
from projections.changes import apply_changes, changes_for, is_known
from replay.shadow import create_shadow, read_model_tables
from supportlog.bench.measure import Rate
from supportlog.bootstrap import System

Advance = Callable[[int], None]
NAIVE_SCHEMA = "bench_naive"
_DEADLINE_S = 600.0


class StalledError(RuntimeError):
    """Raised when a reader stops receiving records before the end of the topic."""


def run_projector(system: System, total: int, advance: Advance | None = None) -> Rate:
    """Projects the system's topic from the start until `total` records are written;
    returns events per second."""
    projector = system.projector()
    rate = Rate(notes={"max_poll_records": projector.consumer.config["max_poll_records"]})
    batches = 0
    deadline = time.monotonic() + _DEADLINE_S
    with rate.timing():
        while rate.items < total:
            # as `Projector.run` does: each commit overlapped with the next poll; a
            # batch counts once its commit is confirmed
            result = projector.step(100)
            rate.items += result.records
            batches += 1 if result.records else 0
            if advance:
                advance(result.records)
            if time.monotonic() > deadline:
                raise StalledError(f"the projector wrote {rate.items} of {total} records")
    rate.notes["transactions"] = batches
    return rate


def reader(system: System, topic: str,
           client_id: str = "supportlog-bench-reader") -> KafkaConsumer:
    """Returns a group-less consumer at the start of every partition of `topic`."""
    consumer = make_consumer(system.kafka_bootstrap, group_id=None, client_id=client_id)
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek_to_beginning(tp)
    return consumer


def _records(consumer: KafkaConsumer, limit: int) -> Iterator[Any]:
    """Yields records until `limit` were read; raises StalledError past the deadline."""
    seen = 0
    deadline = time.monotonic() + _DEADLINE_S
    while seen < limit:
        for records in consumer.poll(timeout_ms=100).values():
            for record in records:
                if seen < limit:
                    seen += 1
                    yield record
        if time.monotonic() > deadline:
            raise StalledError(f"read {seen} of {limit} records")


def raw_consume(system: System, total: int, advance: Advance | None = None) -> Rate:
    """Reads `total` records of the topic with a bare consumer; returns records/s."""
    consumer = reader(system, system.settings.topic)
    rate = Rate(notes={"bytes": 0})
    try:
        with rate.timing():
            for record in _records(consumer, total):
                rate.items += 1
                rate.notes["bytes"] += len(record.value)
        if advance:
            advance(total)
    finally:
        consumer.close()
    return rate


def naive(system: System, limit: int, advance: Advance | None = None) -> Rate:
    """Folds the first `limit` records with one transaction per event; returns events/s."""
    conn = system.connect()
    create_shadow(conn, read_model_tables(conn), schema=NAIVE_SCHEMA)
    conn.execute(f"CREATE TABLE {NAIVE_SCHEMA}.offsets "
                 "(partition int PRIMARY KEY, next_offset bigint NOT NULL)")
    consumer = reader(system, system.settings.topic)
    rate = Rate(notes={"transactions": 0})
    try:
        with rate.timing(), conn.cursor() as cur:
            for record in _records(consumer, limit):
                envelope = Envelope.decode(record.value)
                changes = changes_for(envelope) if is_known(envelope.type) else []
                with conn.transaction():
                    apply_changes(cur, changes, schema=NAIVE_SCHEMA)
                    cur.execute(
                        f"INSERT INTO {NAIVE_SCHEMA}.offsets VALUES (%s, %s) ON CONFLICT "
                        "(partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                        (record.partition, record.offset + 1))
                rate.items += 1
                if advance and rate.items % 100 == 0:
                    advance(100)
        rate.notes["transactions"] = rate.items
    finally:
        consumer.close()
    return rate
