"""Test helpers for the published log: a realistic store, the relay as a real process,
and what the topic holds.

The store is filled by the demo's generated workload (every desk, many aggregates per
customer) through `SupportDesk.execute`, without relaying, so the relay under test is
the only publisher. The relay process is `supportlog relay` with the test's database
and topic in its environment, exactly as an operator would start it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from eventlog.envelope import Envelope, event_id
from eventlog.topic_reader import read_to_end
from supportlog.bootstrap import System
from supportlog.settings import Settings
from supportlog.workload import START, Workload

RELAY_COMMAND = [sys.executable, "-m", "supportlog.cli", "relay"]


def fill_store(system: System, *, seed: int, customers: int, days: int,
               prefix: str = "") -> int:
    """Stores a generated stretch of activity (no relaying); returns the store's head."""
    for profile_id in PROFILE_IDS:
        system.desk.adopt(builtin_profile(profile_id), START)
    for step in Workload(seed, customers, days, prefix=prefix).build():
        # The workload includes commands the rules reject; a rejection writes nothing.
        with contextlib.suppress(SupportlogError):
            system.desk.execute(step.do, step.args, step.at)
    return system.desk.recorder.max_notification_id() or 0


@dataclass(frozen=True)
class StoredEvent:
    """A stored event as the topic should show it."""

    position: int
    event_id: str
    aggregate_id: str
    version: int


def stored_events(system: System) -> list[StoredEvent]:
    """Returns every stored event's position and ids, in store order."""
    out, position = [], 0
    while page := system.desk.recorder.select_notifications(position, 1000,
                                                            inclusive_of_start=False):
        out += [StoredEvent(n.id, str(event_id(n.originator_id, n.originator_version)),
                            str(n.originator_id), n.originator_version) for n in page]
        position = page[-1].id
    return out


def topic_envelopes(settings: Settings, timeout_s: float = 30.0) -> list[tuple[Any, Envelope]]:
    """Returns (record, decoded envelope) of every record of the test's topic."""
    return [(record, Envelope.decode(record.value))
            for record in read_to_end(settings.kafka_bootstrap, settings.topic, timeout_s)]


def order_violations(records: list[tuple[Any, Envelope]]) -> list[str]:
    """Returns how the topic breaks store order, per key and per aggregate; empty if not.

    At least once allows an event to appear again (a re-published batch), so only the
    first appearance of each event counts: within a key, each new event must come
    after every event seen before it in store order, and each aggregate's new versions
    must come one by one, without a gap.
    """
    problems: list[str] = []
    seen: set[str] = set()
    last_position: dict[bytes, int] = defaultdict(int)
    last_version: dict[str, int] = defaultdict(int)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for record, envelope in sorted(records, key=lambda r: (r[0].partition, r[0].offset)):
        partitions_of_key[record.key].add(record.partition)
        if record.key != envelope.customer.encode():
            problems.append(f"{envelope.id}: key {record.key!r} is not its customer")
        if envelope.id in seen:
            continue
        seen.add(envelope.id)
        if envelope.position < last_position[record.key]:
            problems.append(f"{envelope.id} at position {envelope.position} comes after "
                            f"position {last_position[record.key]} of key {record.key!r}")
        if envelope.aggregate_version != last_version[envelope.aggregate_id] + 1:
            problems.append(f"aggregate {envelope.aggregate_id}: version "
                            f"{envelope.aggregate_version} follows "
                            f"{last_version[envelope.aggregate_id]}")
        last_position[record.key] = max(last_position[record.key], envelope.position)
        last_version[envelope.aggregate_id] = envelope.aggregate_version
    problems += [f"key {key!r} is in partitions {sorted(parts)}"
                 for key, parts in partitions_of_key.items() if len(parts) > 1]
    return problems


def relay_position(settings: Settings) -> int:
    """Returns the relay's stored position on the test's topic."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT notification_id FROM relay_position WHERE topic = %s",
                           (settings.topic,)).fetchone()
    return int(row[0]) if row else 0


class RelayProcess:
    """`supportlog relay` as a child process, its JSON-lines log in a file."""

    def __init__(self, settings: Settings, log_path: Path, *args: str,
                 fault: str | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTLOG_")}
        env.update({
            "DATABASE_URL": settings.database_url or "",
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap or "",
            "SUPPORTLOG_TOPIC": settings.topic,
            "SUPPORTLOG_PARTITIONS": str(settings.partitions),
            "SUPPORTLOG_HOME": str(settings.home),
            "SUPPORTLOG_BROKER": settings.broker,
        })
        if fault:
            env["SUPPORTLOG_FAULT"] = fault
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen([*RELAY_COMMAND, *args], env=env,
                                            stdout=log, stderr=log)

    def exited(self) -> int | None:
        """Returns the exit status once the process has ended, else None."""
        return self.process.poll()

    def kill(self) -> int:
        """Sends SIGKILL and returns the exit status."""
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 15.0) -> int:
        """Sends SIGTERM and returns the exit status once the process has ended."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def started(self) -> bool:
        """True once the process logged that it relays (bootstrap and checks done)."""
        return any(line.get("message") == "relay started" for line in self.log_lines())

    def log_lines(self) -> list[dict[str, Any]]:
        """Returns the JSON objects of the log; other lines are returned as `text`."""
        return self.read_log(self.log_path)

    @staticmethod
    def read_log(path: Path) -> list[dict[str, Any]]:
        """Returns the JSON objects of a relay log; other lines are returned as `text`."""
        lines = []
        for line in path.read_text().splitlines():
            try:
                lines.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                lines.append({"text": line})
        return lines
