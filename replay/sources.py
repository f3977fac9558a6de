"""Where a rebuild reads its events: the store's notification log or the Kafka topic.

Both hand out batches of `Envelope`s from where the previous read stopped to the end as
it stands when the read begins, so a rebuild can read everything, then catch up with
what arrived meanwhile while the live tables are locked for the swap. The store is read
in notification order (the order the relay publishes); the topic partition by partition
in offset order, which keeps each customer's events in order, as the projector sees them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

from kafka import TopicPartition

from domain.desk import SupportDesk
from eventlog.envelope import Envelope, EnvelopeError
from eventlog.kafka_config import make_consumer
from eventlog.topic_reader import TopicReadTimeoutError, high_water_marks
from eventlog.versions import current
from replay.streams import BATCH_SIZE, head, notification_batches


class Source(Protocol):
    """A sequence of events that can be read to its current end, again and again."""

    name: str
    #: Records that were not envelopes (the projector would quarantine them).
    undecodable: list[str]

    def remaining(self) -> int:
        """Returns about how many events a read would hand out now (for progress)."""
        ...

    def batches(self) -> Iterator[list[Envelope]]:
        """Yields the events after the last read, to the current end, in batches."""
        ...


class StoreSource:
    """The event store's notification log.

    Without `with_hash` the envelopes' `hash` is empty: a reader that only folds (the
    rebuild) skips computing it, since no fold reads it (`replay.decode`)."""

    name = "store"

    def __init__(self, desk: SupportDesk, batch_size: int = BATCH_SIZE,
                 with_hash: bool = True):
        self.desk = desk
        self.batch_size = batch_size
        self.with_hash = with_hash
        self.position = 0
        self.undecodable: list[str] = []

    def remaining(self) -> int:
        return max(0, head(self.desk) - self.position)

    def batches(self) -> Iterator[list[Envelope]]:
        stop = head(self.desk)
        for batch in notification_batches(self.desk, self.position, stop=stop,
                                          batch_size=self.batch_size,
                                          with_hash=self.with_hash):
            self.position = batch[-1].position
            yield batch


class TopicSource:
    """The Kafka topic, read without a consumer group and without committing.

    The end of a partition is its high-water mark as every fetch response states it
    (`KafkaConsumer.highwater`), which is right on Apache Kafka and on the embedded
    Tansu broker alike; Tansu's ListOffsets answer (behind `end_offsets()`) is not.
    """

    name = "kafka"

    def __init__(self, bootstrap: str, topic: str, batch_size: int = BATCH_SIZE,
                 timeout_s: float = 120.0):
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.next_offsets: dict[int, int] = {}
        self.undecodable: list[str] = []

    def _consumer(self):
        consumer = make_consumer(self.bootstrap, group_id=None,
                                 client_id="supportlog-rebuild")
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.close()
            raise TopicReadTimeoutError(f"topic {self.topic} has no partitions")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        for tp in tps:
            if tp.partition in self.next_offsets:
                consumer.seek(tp, self.next_offsets[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
        return consumer, tps

    def remaining(self) -> int:
        marks = high_water_marks(self.bootstrap, self.topic, self.timeout_s)
        return sum(max(0, mark - self.next_offsets.get(p, 0)) for p, mark in marks.items())

    def batches(self) -> Iterator[list[Envelope]]:
        consumer, tps = self._consumer()
        try:
            targets: dict[int, int] = {}
            batch: list[Envelope] = []
            deadline = time.monotonic() + self.timeout_s
            while True:
                for records in consumer.poll(timeout_ms=100,
                                             max_records=self.batch_size).values():
                    for record in records:
                        if record.offset >= targets.get(record.partition, 1 << 62):
                            continue  # arrived after this read began: the next read's
                        self.next_offsets[record.partition] = record.offset + 1
                        try:
                            batch.append(current(Envelope.decode(record.value)))
                        except EnvelopeError as e:
                            self.undecodable.append(
                                f"{record.topic}/{record.partition}@{record.offset}: {e}")
                for tp in tps:
                    mark = consumer.highwater(tp)
                    if mark is not None and tp.partition not in targets:
                        targets[tp.partition] = mark
                if len(batch) >= self.batch_size:
                    yield batch
                    batch = []
                    deadline = time.monotonic() + self.timeout_s
                if len(targets) == len(tps) and all(
                        self.next_offsets.get(p, 0) >= end or
                        consumer.position(TopicPartition(self.topic, p)) >= end
                        for p, end in targets.items()):
                    break
                if time.monotonic() > deadline:
                    raise TopicReadTimeoutError(
                        f"did not reach the end of {self.topic} in {self.timeout_s:.0f}s")
            if batch:
                yield batch
        finally:
            consumer.close()
