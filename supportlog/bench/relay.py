"""Relay: events/s from the store to Kafka by the `Relay`, against a bare kafka-python
producer sending the same bytes (`relay_vs_raw_produce`).

The relay reads the source system's store and publishes to a fresh topic of the target
system, keeping its position in the target's database, so the source's own relay and
topic are untouched. The baseline's records (key, value, headers) are encoded before
its clock starts; it sends them all with the relay's producer settings (acks=all,
idempotent, lz4) and flushes once at the end, which is the most a producer can do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eventlog.envelope import Envelope
from eventlog.kafka_config import ensure_topic, make_producer
from supportlog.bench.measure import Rate
from supportlog.bootstrap import System

Advance = Callable[[int], None]
#: The relay's batch size as `supportlog run` uses it (`Relay` and `System.relay` default).
RELAY_BATCH = 2000


@dataclass(frozen=True)
class Encoded:
    """One record as the relay would publish it."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def run_relay(source: System, target: System, advance: Advance | None = None) -> Rate:
    """Relays the whole store to the target's topic; returns events per second."""
    relay = target.relay(batch_size=RELAY_BATCH, source=source)
    rate = Rate(notes={"batch_size": RELAY_BATCH})
    with rate.timing():
        stats = relay.pump(progress=advance)
    rate.items = stats.published
    rate.notes["batches"] = stats.batches
    return rate


def encoded_log(system: System) -> list[Encoded]:
    """Returns every stored event encoded as the relay encodes it (not timed)."""
    desk, out, position = system.desk, [], 0
    while True:
        page = desk.recorder.select_notifications(position, 1000, inclusive_of_start=False)
        if not page:
            return out
        for n in page:
            envelope = Envelope.from_event(desk.mapper.to_domain_event(n), n.id)
            out.append(Encoded(envelope.key(), envelope.encode(), envelope.headers()))
        position = page[-1].id


def raw_produce(target: System, records: list[Encoded],
                advance: Advance | None = None) -> Rate:
    """Sends `records` to a fresh topic with a bare producer; returns records per second."""
    topic = f"{target.settings.topic}.raw"
    ensure_topic(target.kafka_bootstrap, topic, target.settings.partitions)
    producer = make_producer(target.kafka_bootstrap)
    rate = Rate(items=len(records), notes={"bytes": sum(len(r.value) for r in records)})
    try:
        producer.partitions_for(topic)  # metadata before the clock starts
        with rate.timing():
            for i, r in enumerate(records):
                producer.send(topic, key=r.key, value=r.value, headers=r.headers)
                if advance and i % 1000 == 999:
                    advance(1000)
            producer.flush()
    finally:
        producer.close()
    if advance:
        advance(len(records) % 1000)
    return rate
