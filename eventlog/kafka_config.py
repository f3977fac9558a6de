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

Every client has bounds, so a lost broker is noticed and a stop is prompt: the first
contact gives up after 5 s (`bootstrap_timeout_ms`; kafka-python's default is 30 s), a
send waits at most 5 s for metadata or buffer room (`max_block_ms`, default 60 s),
reconnects back off to at most 1 s (`reconnect_backoff_max_ms`; the default 30 s kept a
client away for half a minute after a broker restart). A produced record is retried
until `delivery_timeout_ms` (120 s, longer than a broker restart takes, so one
idempotent producer rides the restart out without a duplicate); past it the relay
replaces the producer (`consumers.relay`). Consumers in a group use the
cooperative-sticky assignor (KIP-429): a member joining or leaving moves only the
partitions that change owner, and the others never stop folding.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

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
    "delivery_timeout_ms": 120_000,
    "max_block_ms": 5_000,
    "bootstrap_timeout_ms": 5_000,
    "reconnect_backoff_max_ms": 1_000,
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
    "partition_assignment_strategy": (CooperativeStickyAssignor,),
    "request_timeout_ms": 30_000,
    "bootstrap_timeout_ms": 5_000,
    "reconnect_backoff_max_ms": 1_000,
}

#: Admin requests (topic creation, listing) come from commands that must answer within
#: seconds when the broker is gone.
ADMIN_CONFIG: dict[str, Any] = {
    "request_timeout_ms": 10_000,
    "bootstrap_timeout_ms": 5_000,
    "reconnect_backoff_max_ms": 1_000,
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


def close_producer(producer: KafkaProducer, timeout_s: float) -> None:
    """Closes `producer`, giving it `timeout_s` to deliver what it holds, then dropping
    the rest. kafka-python's `close(timeout)` flushes first and raises when the flush
    times out, leaving its I/O thread running (and able to deliver the old records
    later); so after a timeout the I/O thread is force-closed, which fails what it still
    held. Nothing confirmed is lost: the relay stores a position only for acknowledged
    records and publishes the rest again."""
    try:
        producer.close(timeout=timeout_s)
    except KafkaTimeoutError:
        sender = getattr(producer, "_sender", None)  # no public force-close in 3.0.12
        if sender is not None:
            sender.force_close()
            sender.join(timeout_s)
        with contextlib.suppress(KafkaError):
            producer.close(timeout=0)


def make_admin(bootstrap: str, **overrides: Any) -> KafkaAdminClient:
    """Returns an admin client with short timeouts; raises BrokerUnavailableError if
    no broker answers."""
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, **{**ADMIN_CONFIG, **overrides})
    except KafkaError as e:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap}") from e


def make_consumer(bootstrap: str, **overrides: Any) -> KafkaConsumer:
    """Returns a consumer that never commits on its own."""
    try:
        return KafkaConsumer(bootstrap_servers=bootstrap, **{**CONSUMER_CONFIG, **overrides})
    except KafkaError as e:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap}") from e


#: The configs of every topic supportlog creates (the event topic, its dead-letter topic,
#: bench and what-if topics): records are kept for ever and never compacted, since the log
#: is read from its start by subscribers, `rebuild --source kafka` and `verify --kafka`.
#: Apache Kafka applies them (its default retention is 7 days); Tansu accepts and ignores
#: them. A topic that already exists keeps the configs it has.
TOPIC_CONFIGS: dict[str, str] = {"retention.ms": "-1", "cleanup.policy": "delete"}


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication: int = 1,
                 configs: dict[str, str] | None = None) -> None:
    """Creates `topic` with `partitions` partitions and `configs` (TOPIC_CONFIGS when
    None) unless it exists, and returns once every new partition has a leader.

    It asks to create rather than first listing the topics: on Apache Kafka (KRaft) a
    broker's metadata lags the controller for a moment, so a topic deleted a moment ago
    can still be listed (it would not be created again) and one just created not yet."""
    admin = make_admin(bootstrap)
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": replication,
                         "configs": dict(TOPIC_CONFIGS if configs is None else configs)}},
                wait_for_metadata=True)
    except KafkaError as e:
        raise BrokerUnavailableError(f"cannot create topic {topic}: {e}") from e
    finally:
        admin.close()


def delete_topics(bootstrap: str, topics: list[str]) -> list[str]:
    """Deletes those of `topics` that exist and returns their names: a throwaway store
    (a scenario, a what-if) takes its topics with it, or every run would leave some
    behind. Raises BrokerUnavailableError if the broker does not answer or refuses."""
    admin = make_admin(bootstrap)
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
