"""How far a topic goes, and reading all of it: for the relay's refill check and audits.

The extent of a partition is its high-water mark as the broker states it in every fetch
response (`KafkaConsumer.highwater`), which is correct on Apache Kafka and on Tansu
alike; the ListOffsets answer behind `end_offsets()` is not used, because Tansu answers
it wrongly (it counts batches, not records). Reading stops at the marks seen when the
read began, so a topic that grows meanwhile still ends. No consumer group is joined and
nothing is committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from domain.errors import SupportlogError
from eventlog.kafka_config import make_consumer


class TopicReadTimeoutError(SupportlogError):
    """Raised when the broker does not answer for every partition before the deadline."""

    code = "timeout"
    retriable = True


def _assign_from_beginning(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicReadTimeoutError(f"topic {topic} has no partitions (does it exist?)")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    return tps


def high_water_marks(bootstrap: str, topic: str, timeout_s: float = 15.0) -> dict[int, int]:
    """Returns each partition's high-water mark: the offset its next record will get.

    A partition with no records has mark 0. Raises TopicReadTimeoutError if some
    partition's fetch does not answer before `timeout_s`.
    """
    consumer = make_consumer(bootstrap, group_id=None, max_partition_fetch_bytes=1024,
                             client_id="supportlog-extent")
    try:
        tps = _assign_from_beginning(consumer, topic)
        marks: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(marks) < len(tps):
            if time.monotonic() > deadline:
                raise TopicReadTimeoutError(
                    f"no fetch answer for {len(tps) - len(marks)} partition(s) of {topic} "
                    f"after {timeout_s:.0f}s")
            consumer.poll(timeout_ms=100)
            for tp in tps:
                mark = consumer.highwater(tp)
                if mark is not None and tp.partition not in marks:
                    marks[tp.partition] = mark
                    consumer.pause(tp)
        return marks
    finally:
        consumer.close()


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 60.0) -> Iterator[Any]:
    """Yields every record of `topic`, partition by partition in offset order, up to the
    high-water marks seen when reading began.

    Raises TopicReadTimeoutError if the end is not reached before `timeout_s`.
    """
    consumer = make_consumer(bootstrap, group_id=None, client_id="supportlog-reader")
    try:
        tps = _assign_from_beginning(consumer, topic)
        targets: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            for records in consumer.poll(timeout_ms=100).values():
                yield from records
            for tp in tps:
                mark = consumer.highwater(tp)
                if tp not in targets and mark is not None:
                    targets[tp] = mark
            if len(targets) == len(tps) and all(
                    consumer.position(tp) >= end for tp, end in targets.items()):
                return
            if time.monotonic() > deadline:
                raise TopicReadTimeoutError(f"did not reach the end of {topic} in "
                                            f"{timeout_s:.0f}s")
    finally:
        consumer.close()
