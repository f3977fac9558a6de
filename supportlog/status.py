"""`supportlog status`: where each part of the pipeline stands, read without changing it.

It reports the store's head (its highest notification id); the relay's position and
the next offset it produced to in each partition, as the relay recorded them when the
broker acknowledged; the topic's high-water marks as the broker states them, compared
with those: a partition holding fewer records than the relay acknowledged (a restarted
memory broker, a replaced cluster) is a lost or short topic, reported as a problem until
the relay refills it; for each projector group its stored offsets, its lag per partition
and the notification id up to which every event is applied; the quarantine counts; and
which servers run, their health and versions, embedded or configured. It never starts a
server, creates a topic or applies a migration, and every client it makes has a short
timeout, so a lost server is reported within seconds (`unreachable`: exit 3).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from kafka.errors import KafkaError

from consumers.dead_letter import dlq_topic, quarantine_counts
from consumers.relay import topic_loss
from domain.errors import SupportlogError
from eventlog.kafka_config import make_admin
from eventlog.topic_reader import high_water_marks
from supportlog.bootstrap import bootstrap, embedded_infra
from supportlog.settings import Settings

_TIMEOUT_S = 5


@dataclass
class PartitionStatus:
    """One partition of the topic as one projector group sees it."""

    partition: int
    produced: int
    consumed: int
    lag: int
    position: int | None


@dataclass
class GroupStatus:
    """One projector group: its lag in records and in notifications."""

    group_id: str
    lag: int
    applied_through: int
    behind_head: int | None
    partitions: list[PartitionStatus] = field(default_factory=list)


@dataclass
class Status:
    """Everything `supportlog status` shows."""

    topic: str
    #: Each server's health: "up" (perhaps with a note), "down: why", "stopped", ...
    infrastructure: dict[str, str] = field(default_factory=dict)
    #: What each server is and where: "apache-kafka 4.4.0, embedded, pid 12, 127.0.0.1:9092".
    servers: dict[str, str] = field(default_factory=dict)
    store_head: int | None = None
    relay_position: int | None = None
    produced: dict[int, int] = field(default_factory=dict)
    #: Each partition's high-water mark as the broker states it (None: not read).
    high_water: dict[int, int] | None = None
    groups: list[GroupStatus] = field(default_factory=list)
    quarantine: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when every server is up and nothing is wrong (no lost topic)."""
        return not self.problems and not self.unreachable

    @property
    def unreachable(self) -> list[str]:
        """The servers that did not answer (or, embedded, are not running): the exit
        status says so apart from other problems, so a script can tell "start the
        servers" from "look at the pipeline"."""
        return [name for name, value in self.infrastructure.items()
                if not value.startswith("up")]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy, "unreachable": self.unreachable}


def collect(settings: Settings) -> Status:
    """Returns the status of the deployment `settings` point at."""
    status = Status(topic=settings.topic)
    servers = _servers(settings, status)
    if servers is None:
        return status
    database_url, kafka = servers
    status.infrastructure["kafka"], topics = _kafka_health(kafka, settings.topic)
    if settings.topic in topics:
        try:
            status.high_water = high_water_marks(
                kafka, settings.topic, timeout_s=_TIMEOUT_S,
                list_offsets=settings.trusts_list_offsets)
        except SupportlogError as e:
            status.infrastructure["kafka"] = f"down: {e.message}"
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=_TIMEOUT_S)
    except psycopg.OperationalError as e:
        status.infrastructure["postgres"] = f"down: {str(e).strip()}"
        return status
    status.infrastructure["postgres"] = "up"
    with conn:
        try:
            _read_positions(conn, status, settings.topic)
        except psycopg.errors.UndefinedTable as e:
            status.problems.append(f"the schema is not migrated yet ({e.diag.message_primary})")
            return status
    status.store_head = _store_head(settings.with_servers(database_url, kafka))
    _derive(status)
    _check_topic(status)
    return status


def positions(conn: psycopg.Connection, topic: str, store_head: int) -> Status:
    """Returns the pipeline's positions as `collect` reports them (relay, each projector
    group's lag per partition, quarantine), from an open connection to the store and its
    head, without asking the servers' health (the console's operator page)."""
    status = Status(topic=topic, store_head=store_head)
    _read_positions(conn, status, topic)
    _derive(status)
    return status


def _servers(settings: Settings, status: Status) -> tuple[str, str] | None:
    """Returns the servers' addresses, noting in `status` what each server is; None if
    an embedded one is not running (the report stops there)."""
    if not settings.embedded:
        assert settings.database_url and settings.kafka_bootstrap
        status.servers["kafka"] = f"{settings.broker}, {settings.kafka_bootstrap}"
        return settings.database_url, settings.kafka_bootstrap
    infra = embedded_infra(settings)
    for name, health, server in infra.servers():
        status.infrastructure[name] = health
        status.servers[name] = (f"{server.described}, embedded, pid {server.pid or '-'}, "
                                f"127.0.0.1:{server.port}" if server else "embedded")
    state = infra.read_state()
    if state is None or any(v != "up" for v in status.infrastructure.values()):
        status.problems.append("the embedded servers are not running (supportlog infra up)")
        return None
    return state.database_url, state.kafka_bootstrap


def kafka_health(bootstrap: str, topic: str) -> str:
    """Returns `up` (noting missing topics) or `down: <why>` for the broker."""
    return _kafka_health(bootstrap, topic)[0]


def _kafka_health(bootstrap: str, topic: str) -> tuple[str, set[str]]:
    """Returns 'up' (noting a missing topic) or 'down: why', and the topics listed."""
    try:
        admin = make_admin(bootstrap, request_timeout_ms=_TIMEOUT_S * 1000)
    except SupportlogError as e:
        return f"down: {e.message}", set()
    try:
        topics = set(admin.list_topics())
    except KafkaError as e:
        return f"down: {e}", set()
    finally:
        with contextlib.suppress(Exception):  # closing a failed client is best effort
            admin.close()
    missing = [t for t in (topic, dlq_topic(topic)) if t not in topics]
    return "up" + (f" (no topic {', '.join(missing)} yet)" if missing else ""), topics


def _check_topic(status: Status) -> None:
    """Notes a lost or short topic: fewer records than the relay acknowledged."""
    if status.high_water is None or not status.relay_position:
        return
    reason = topic_loss(status.relay_position, status.produced, status.high_water)
    if reason is not None:
        status.problems.append(
            f"the topic {status.topic} lost records: {reason} (the relay refills it when "
            "it starts: supportlog relay or supportlog run)")


def _read_positions(conn: psycopg.Connection, status: Status, topic: str) -> None:
    with conn.transaction():
        row = conn.execute("SELECT notification_id FROM relay_position WHERE topic = %s",
                           (topic,)).fetchone()
        status.relay_position = int(row[0]) if row else 0
        status.produced = {int(p): int(o) for p, o in conn.execute(
            "SELECT partition, next_offset FROM relay_partition_offsets WHERE topic = %s",
            (topic,))}
        consumed: dict[str, dict[int, int]] = {}
        for group, p, o in conn.execute(
                "SELECT group_id, partition, next_offset FROM projector_offsets "
                "WHERE topic = %s", (topic,)):
            consumed.setdefault(group, {})[int(p)] = int(o)
        positions: dict[str, dict[int, int]] = {}
        for group, p, position in conn.execute(
                "SELECT group_id, partition, position FROM projector_positions "
                "WHERE topic = %s", (topic,)):
            positions.setdefault(group, {})[int(p)] = int(position)
    for group in sorted(consumed):
        parts = sorted(set(status.produced) | set(consumed[group]))
        status.groups.append(GroupStatus(group, 0, 0, None, [
            PartitionStatus(p, status.produced.get(p, 0), consumed[group].get(p, 0),
                            max(status.produced.get(p, 0) - consumed[group].get(p, 0), 0),
                            positions.get(group, {}).get(p))
            for p in parts]))
    status.quarantine = quarantine_counts(conn, topic)


def _store_head(settings: Settings) -> int:
    system = bootstrap(settings, prepare=False)  # reads only: no migration, no topic
    try:
        return system.desk.recorder.max_notification_id() or 0
    finally:
        system.close()


def _derive(status: Status) -> None:
    """Every event up to `applied_through` is applied (or quarantined, which the
    quarantine count shows): the relay's position if no partition is behind, else the
    lowest last-consumed position among the partitions that are behind."""
    for group in status.groups:
        group.lag = sum(p.lag for p in group.partitions)
        behind = [p.position or 0 for p in group.partitions if p.lag > 0]
        group.applied_through = min([status.relay_position or 0, *behind])
        if status.store_head is not None:
            group.behind_head = max(status.store_head - group.applied_through, 0)


#: `_derive`'s rule for one group in one statement, for callers that ask often (the
#: API's `?after=` waits): the relay's position, or the lowest last-applied position of
#: a partition the relay produced beyond what the group consumed.
_APPLIED_THROUGH = """
SELECT least(
    coalesce((SELECT notification_id FROM relay_position WHERE topic = %(topic)s), 0),
    coalesce((SELECT min(coalesce(pos.position, 0))
              FROM relay_partition_offsets p
              LEFT JOIN projector_offsets c ON c.topic = p.topic
                   AND c.partition = p.partition AND c.group_id = %(group)s
              LEFT JOIN projector_positions pos ON pos.topic = p.topic
                   AND pos.partition = p.partition AND pos.group_id = %(group)s
              WHERE p.topic = %(topic)s AND p.next_offset > coalesce(c.next_offset, 0)),
             9223372036854775807))
"""


def applied_through(conn: psycopg.Connection, topic: str, group_id: str) -> int:
    """Returns the store position up to which group `group_id` has applied every event
    of `topic` (quarantined ones count as handled), as `supportlog status` reports it."""
    row = conn.execute(_APPLIED_THROUGH, {"topic": topic, "group": group_id}).fetchone()
    return int(row[0]) if row else 0


def render(status: Status) -> str:
    """Returns the status as the text `supportlog status` prints."""
    lines = [f"infrastructure  {name}: {value}"
             + (f" ({status.servers[name]})" if status.servers.get(name) else "")
             for name, value in status.infrastructure.items()]
    if status.high_water is not None:
        lines.append(f"topic           {status.topic}: high-water marks "
                     + (", ".join(f"p{p}={o}" for p, o in sorted(status.high_water.items()))
                        or "none"))
    if status.store_head is not None:
        lines.append(f"store           head at notification {status.store_head}")
    if status.relay_position is not None:
        behind = (status.store_head or 0) - status.relay_position
        lines.append(f"relay           {status.topic}: published through notification "
                     f"{status.relay_position} ({max(behind, 0)} behind the head); produced "
                     + (", ".join(f"p{p}={o}" for p, o in sorted(status.produced.items()))
                        or "nothing yet"))
    for group in status.groups:
        lines.append(f"projector       group {group.group_id}: applied through notification "
                     f"{group.applied_through} ({group.behind_head} behind the head), "
                     f"{group.lag} records behind the relay")
        lines.append("                partition  produced  consumed  lag  last position")
        lines.extend(f"                {p.partition:>9}  {p.produced:>8}  {p.consumed:>8}  "
                     f"{p.lag:>3}  {p.position if p.position is not None else '-':>13}"
                     for p in group.partitions)
    if status.relay_position is not None and not status.groups:
        lines.append("projector       no group has written anything yet")
    if status.quarantine:
        q = status.quarantine
        lines.append(f"quarantine      {q['quarantined']} waiting ({q['not_dead_lettered']} not "
                     f"yet on {dlq_topic(status.topic)}), {q['retried']} retried")
    lines.extend(f"problem         {p}" for p in status.problems)
    return "\n".join(lines)
