"""Every Kafka client setting that affects delivery, in one place, set explicitly.

kafka-python's defaults favour convenience (auto-commit, `latest`, no idempotence);
ours favour correctness: the producer waits for all replicas and is idempotent, the
consumer never auto-commits (offsets live in PostgreSQL) and starts at `earliest`.
Topics are created explicitly, never by auto-create.

The consumer's fetches are bounded to 1 MiB in all (256 KiB a partition), not
kafka-python's 50 MiB: a fetch response is held raw and decoded while its records wait
for `poll`, so its size sets the projector's peak memory. Unbounded, a fetch could carry
1 MiB from each of 8 partitions, and a projector's peak RSS rose by 15-25% between
10,000 and 100,000 events, depending on which fetch happened to be the largest (4 MiB
in all did no better); at 1 MiB it is flat, and the projector measured as fast
(docs/performance.md, `rss_growth`). Kafka still returns a record batch larger than
the limit, so a large record never blocks a partition.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from domain.errors import SupportlogError

PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    "linger_ms": 5,
    "batch_size": 512 * 1024,
    "compression_type": "lz4",
    "retries": 2**31 - 1,
    "request_timeout_ms": 30_000,
}

CONSUMER_CONFIG: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "max_poll_records": 2000,
    "fetch_max_bytes": 1024 * 1024,
    "max_partition_fetch_bytes": 256 * 1024,
    "fetch_max_wait_ms": 100,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 300_000,
}


class BrokerUnavailableError(SupportlogError):
    """Raised when the Kafka bootstrap servers do not answer."""

    code = "broker_unavailable"
    retriable = True


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """Returns a safe, fast producer; raises BrokerUnavailableError if none answers."""
    try:
        return KafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_CONFIG, **overrides})
    except KafkaError as e:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap}") from e


def make_consumer(bootstrap: str, **overrides: Any) -> KafkaConsumer:
    """Returns a consumer that never commits on its own."""
    try:
        return KafkaConsumer(bootstrap_servers=bootstrap, **{**CONSUMER_CONFIG, **overrides})
    except KafkaError as e:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap}") from e


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication: int = 1) -> None:
    """Creates `topic` with `partitions` partitions unless it exists."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    except KafkaError as e:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap}") from e
    try:
        if topic in set(admin.list_topics()):
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, partitions, replication)])
    except KafkaError as e:
        raise BrokerUnavailableError(f"cannot create topic {topic}: {e}") from e
    finally:
        admin.close()


def delete_topics(bootstrap: str, topics: list[str]) -> list[str]:
    """Deletes those of `topics` that exist and returns their names: a throwaway store
    (a scenario, a what-if) takes its topics with it, or every run would leave some
    behind. Raises BrokerUnavailableError if the broker does not answer or refuses."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    except KafkaError as e:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap}") from e
    try:
        present = [t for t in topics if t in set(admin.list_topics())]
        if present:
            admin.delete_topics(present, timeout_ms=15_000)
        return present
    except KafkaError as e:
        raise BrokerUnavailableError(f"cannot delete topics {', '.join(topics)}: {e}") from e
    finally:
        admin.close()


def partition_count(consumer: KafkaConsumer, topic: str) -> int:
    """Returns the number of partitions of `topic` as the cluster reports it."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise BrokerUnavailableError(f"topic {topic} has no partitions (does it exist?)")
    return len(partitions)
