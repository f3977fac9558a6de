"""How far a topic goes, and reading all of it: for the relay's refill check, the
projector's check for a refilled topic, `status` and audits.

The extent of a partition is its high-water mark. Every fetch response states it
(`KafkaConsumer.highwater`), correctly on Apache Kafka and on Tansu alike; that is the
default. On a broker whose ListOffsets answer is right (`list_offsets=True`: Apache
Kafka, `Settings.trusts_list_offsets`) one `end_offsets()` request for every partition
is asked instead, which needs no fetch; Tansu 0.6 answers it wrongly (the last record
batch's base offset + 1, short by that batch's size - 1), so it is never asked there.
Reading stops at the marks seen when the read began, so a topic that grows meanwhile
still ends. No consumer group is joined and nothing is committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

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


def high_water_marks(bootstrap: str, topic: str, timeout_s: float = 15.0, *,
                     list_offsets: bool = False) -> dict[int, int]:
    """Returns each partition's high-water mark: the offset its next record will get.

    A partition with no records has mark 0. With `list_offsets` the marks come from one
    ListOffsets request (right on Apache Kafka only), else from a fetch of each
    partition. Raises TopicReadTimeoutError if the broker does not answer for every
    partition before `timeout_s`.
    """
    consumer = make_consumer(bootstrap, group_id=None, max_partition_fetch_bytes=1024,
                             client_id="supportlog-extent",
                             isolation_level="read_uncommitted")
    try:
        tps = _assign_from_beginning(consumer, topic)
        if list_offsets:
            try:
                ends = consumer.end_offsets(tps, timeout_ms=int(timeout_s * 1000))
            except KafkaError as e:
                raise TopicReadTimeoutError(
                    f"no ListOffsets answer for {topic} after {timeout_s:.0f}s: {e}") from e
            return {tp.partition: int(end) for tp, end in ends.items()}
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
