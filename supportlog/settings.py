"""Settings: one frozen object, read once from the environment at start.

Nothing else reads environment variables. With no `DATABASE_URL` and no
`KAFKA_BOOTSTRAP_SERVERS`, the program runs on the embedded PostgreSQL and broker
that it starts in `SUPPORTLOG_HOME`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

#: Every environment variable the program reads, with its meaning. The README and the
#: docker-compose structure test are checked against this table.
ENVIRONMENT: dict[str, str] = {
    "DATABASE_URL": "PostgreSQL URL (postgresql://user:pass@host:port/db); unset: embedded",
    "KAFKA_BOOTSTRAP_SERVERS": "Kafka bootstrap servers (host:port,...); unset: embedded Tansu",
    "SUPPORTLOG_HOME": "folder for embedded servers' data and state (default ./.supportlog)",
    "SUPPORTLOG_BROKER": "the broker: tansu (default; embedded, memory-only) or apache-kafka "
                         "(embedded from Maven Central, needs java and mvn); with "
                         "KAFKA_BOOTSTRAP_SERVERS, the kind of broker given",
    "SUPPORTLOG_CACHE": "folder for downloaded servers: Apache Kafka's jars (default "
                        "$XDG_CACHE_HOME/supportlog or ~/.cache/supportlog)",
    "SUPPORTLOG_TOPIC": "the Kafka topic every event is published on (default supportlog.events)",
    "SUPPORTLOG_PARTITIONS": "partitions of that topic, created explicitly at start (default 8)",
    "SUPPORTLOG_GROUP": "the projector's consumer group id (default supportlog-projector)",
    "SUPPORTLOG_DESK_CACHE": "aggregates each desk thread keeps between commands "
                             "(default 10000; 0: off)",
    "SUPPORTLOG_FAULT": "crash-test switch: a named fault point where the process kills itself",
    "SUPPORTLOG_LOG_KEY": "the log key that seals every event (64 hex digits or base64 of 32 "
                          "bytes); unset: SUPPORTLOG_HOME/log.key, created on first use",
    "SUPPORTLOG_MASTER_KEY": "the master key that wraps every customer's data key (64 hex "
                             "digits or base64 of 32 bytes); unset: "
                             "SUPPORTLOG_HOME/master.key, created on first use",
    "SUPPORTLOG_RATE_LIMIT": "API requests a token may make: RATE per second with bursts of "
                             "BURST, written RATE,BURST (default 50,100; 0: no limit)",
    "SUPPORTLOG_READ_WAIT": "seconds an API read with ?after= waits for the projector "
                            "(default 5)",
    "SUPPORTLOG_IDEMPOTENCY_HOURS": "hours the API keeps Idempotency-Key answers "
                                    "(default 24, at least 24)",
}


#: The brokers `SUPPORTLOG_BROKER` names.
BROKERS = ("tansu", "apache-kafka")


class SettingsError(ValueError):
    """Raised when an environment variable holds a value the program cannot use."""


@dataclass(frozen=True)
class Settings:
    """Where the servers are and how the log is laid out."""

    #: Left out of the repr: it may hold a password (the embedded server's does).
    database_url: str | None = field(default=None, repr=False)
    kafka_bootstrap: str | None = None
    home: Path = Path(".supportlog")
    topic: str = "supportlog.events"
    partitions: int = 8
    group_id: str = "supportlog-projector"
    fault: str | None = None
    #: Aggregates each desk thread caches between commands (`domain.cache`); 0: none.
    desk_cache: int = 10_000
    #: The broker: the embedded one to start, or the kind of the configured one.
    broker: str = "tansu"
    #: Where downloaded servers are kept, outside any work tree (Apache Kafka's jars).
    cache_dir: Path = Path.home() / ".cache" / "supportlog"
    #: The log key as written in SUPPORTLOG_LOG_KEY (`supportlog.log_key`); None: the key
    #: file. Never shown: a secret must not reach a log line or a traceback's repr.
    log_key: str | None = field(default=None, repr=False)
    #: The master key of personal data as written in SUPPORTLOG_MASTER_KEY
    #: (`supportlog.privacy.master_key`); None: the key file. Never shown either.
    master_key: str | None = field(default=None, repr=False)
    #: The API's per-token rate limit: requests per second, and the burst (0: none).
    rate_per_s: float = 50.0
    rate_burst: int = 100
    #: Seconds a read with `?after=` waits for the projector before answering 504.
    read_wait_s: float = 5.0
    #: Hours the API keeps each idempotency key's answer (Stripe keeps 24).
    idempotency_hours: int = 24

    @property
    def trusts_list_offsets(self) -> bool:
        """True when the broker answers ListOffsets (`end_offsets`) right: Apache Kafka
        does; Tansu 0.6 answers the last batch's base offset + 1 instead of the end."""
        return self.broker == "apache-kafka"

    @property
    def embedded(self) -> bool:
        """True when neither server is configured, so both are started locally."""
        return self.database_url is None and self.kafka_bootstrap is None

    def with_servers(self, database_url: str, kafka_bootstrap: str) -> Settings:
        """Returns a copy that points at the given servers."""
        return replace(self, database_url=database_url, kafka_bootstrap=kafka_bootstrap)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads the settings from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        database_url = env.get("DATABASE_URL") or None
        kafka = env.get("KAFKA_BOOTSTRAP_SERVERS") or None
        if (database_url is None) != (kafka is None):
            raise SettingsError(
                "set both DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS to use real servers, "
                "or neither to use the embedded ones"
            )
        partitions = _whole_number(env, "SUPPORTLOG_PARTITIONS", "8", minimum=1)
        broker = env.get("SUPPORTLOG_BROKER") or "tansu"
        if broker not in BROKERS:
            raise SettingsError(f"SUPPORTLOG_BROKER must be one of {', '.join(BROKERS)}, "
                                f"got {broker!r}")
        xdg = env.get("XDG_CACHE_HOME")
        cache = env.get("SUPPORTLOG_CACHE") or (
            str(Path(xdg) / "supportlog") if xdg else None)
        rate_per_s, rate_burst = _rate_limit(env.get("SUPPORTLOG_RATE_LIMIT") or "50,100")
        return cls(
            broker=broker,
            cache_dir=Path(cache) if cache else cls.cache_dir,
            database_url=database_url,
            desk_cache=_whole_number(env, "SUPPORTLOG_DESK_CACHE", "10000", minimum=0),
            kafka_bootstrap=kafka,
            home=Path(env.get("SUPPORTLOG_HOME") or ".supportlog"),
            topic=env.get("SUPPORTLOG_TOPIC") or "supportlog.events",
            partitions=partitions,
            group_id=env.get("SUPPORTLOG_GROUP") or "supportlog-projector",
            fault=env.get("SUPPORTLOG_FAULT") or None,
            log_key=env.get("SUPPORTLOG_LOG_KEY") or None,
            master_key=env.get("SUPPORTLOG_MASTER_KEY") or None,
            rate_per_s=rate_per_s,
            rate_burst=rate_burst,
            read_wait_s=_seconds(env, "SUPPORTLOG_READ_WAIT", "5"),
            idempotency_hours=_whole_number(env, "SUPPORTLOG_IDEMPOTENCY_HOURS", "24",
                                            minimum=24),
        )


def _whole_number(env: Mapping[str, str], name: str, default: str, minimum: int) -> int:
    """Returns `env[name]` as an int >= `minimum`; raises SettingsError otherwise."""
    text = env.get(name) or default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise SettingsError(f"{name} must be a whole number >= {minimum}, got {text!r}")
    return value


def _rate_limit(text: str) -> tuple[float, int]:
    """Returns (per second, burst) of `RATE,BURST` (`RATE` alone: a burst of 2 * RATE;
    0: no limit); raises SettingsError otherwise."""
    rate, _, burst = text.partition(",")
    try:
        per_s = float(rate)
        size = int(burst) if burst else max(1, int(2 * per_s))
    except ValueError:
        per_s, size = -1.0, -1
    if per_s < 0 or size < 1 or per_s != per_s or per_s == float("inf"):
        raise SettingsError(f"SUPPORTLOG_RATE_LIMIT must be RATE,BURST (e.g. 50,100; 0: "
                            f"no limit), got {text!r}")
    return per_s, size


def _seconds(env: Mapping[str, str], name: str, default: str) -> float:
    """Returns `env[name]` as a number of seconds > 0 and <= 300; raises SettingsError."""
    text = env.get(name) or default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 300:
        raise SettingsError(f"{name} must be seconds between 0 and 300, got {text!r}")
    return value
