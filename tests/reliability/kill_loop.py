"""A kill -9 loop of the relay and the projector while commands flow, and what came of
it (docs/reliability.md).

A writer decides commands all along (tests/crash/test_projector_crash.Writer, without
relaying); `supportlog relay` and `supportlog project` run as real processes. Again and
again one of the two, at random, is SIGKILLed at a random moment after it has made
progress since its start, and started again at once. At the end the writer stops, both
catch up and stop on SIGTERM, and:

- lost: stored events missing from the topic (must be 0);
- double: the read models compared with a fold of the whole log from scratch into a
  fresh database (must be equal: an event counted twice or not at all shows there);
- duplicates: records published more than once (at least once allows them; the
  projector skips them by version), and store-order violations per key (must be 0).

    .venv/bin/python -m tests.reliability.kill_loop --kills 100 [--broker apache-kafka]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from supportlog.bootstrap import bootstrap
from supportlog.settings import Settings
from tests.crash.relay_process import (
    RelayProcess,
    order_violations,
    relay_position,
    stored_events,
    topic_envelopes,
)
from tests.crash.test_projector_crash import Writer
from tests.integration.test_projector import (
    SUPPORTLOG,
    cli_env,
    differing_tables,
    fold_from_scratch,
    fresh_database,
    produced_offsets,
    projected_through,
    store_envelopes,
)


class LoopError(AssertionError):
    """The loop could not go on (a process died by itself, nothing moved)."""


@dataclass
class KillFigures:
    """What a kill loop did and found."""

    broker: str
    kills: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    events: int = 0
    records: int = 0
    duplicates: int = 0
    lost: int = 0
    order_violations: int = 0
    differing_tables: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    seed: int = 0


def wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise LoopError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def consumed(conn: psycopg.Connection, settings: Settings) -> int:
    row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets "
                       "WHERE group_id = %s AND topic = %s",
                       (settings.group_id, settings.topic)).fetchone()
    return int(row[0]) if row else 0


class Projector:
    """`supportlog project` as a child process, its log in a file."""

    def __init__(self, settings: Settings, log_path: Path):
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(SUPPORTLOG), "project", "--session-timeout-ms", "1500", "--poll-ms",
                 "50"], env={**os.environ, **cli_env(settings)}, stdout=log, stderr=log)


def run_kill_loop(settings: Settings, kills: int, workdir: Path, seed: int | None = None,
                  progress=lambda text: None) -> KillFigures:
    """Kills the relay or the projector `kills` times while commands flow; returns the
    figures (and raises LoopError if the loop itself could not go on)."""
    seed = seed if seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    figures = KillFigures(settings.broker, seed=seed)
    system = bootstrap(settings)
    conn = system.connect()
    writer = Writer(system, random.Random(seed + 1), relay=False, pause_s=0.01)
    moment = threading.Event()  # never set: waits for a random moment
    started = time.monotonic()
    relay: RelayProcess | None = None
    projector: Projector | None = None
    counts: Counter[str] = Counter()
    try:
        writer.start()
        relay = RelayProcess(settings, workdir / "relay.log", "--batch-size", "50")
        projector = Projector(settings, workdir / "projector.log")
        for n in range(kills):
            victim = rng.choice(["relay", "projector"])
            if victim == "relay":
                before = relay_position(settings)
                wait(lambda b=before, r=relay: relay_position(settings) > b
                     or r.exited() is not None, 120, "the relay to publish")
                if relay.exited() is not None:
                    raise LoopError(f"the relay exited {relay.exited()} by itself")
                moment.wait(rng.uniform(0, 0.3))
                relay.kill()
                relay = RelayProcess(settings, workdir / "relay.log", "--batch-size", "50")
            else:
                before = consumed(conn, settings)
                wait(lambda b=before, p=projector: consumed(conn, settings) > b
                     or p.process.poll() is not None, 120, "the projector to fold")
                if projector.process.poll() is not None:
                    raise LoopError(f"the projector exited {projector.process.poll()}")
                moment.wait(rng.uniform(0, 0.3))
                projector.process.send_signal(signal.SIGKILL)
                projector.process.wait(timeout=30)
                projector = Projector(settings, workdir / "projector.log")
            counts[victim] += 1
            progress(f"kill {n + 1}/{kills}: {victim}")
        writer.stop.set()
        writer.join(timeout=60)
        if writer.error is not None:
            raise LoopError(f"the writer failed: {writer.error!r}")
        head = system.desk.recorder.max_notification_id()
        wait(lambda: relay_position(settings) == head, 300, "the relay to catch up")
        wait(lambda: projected_through(conn, settings.group_id, settings.topic,
                                       produced_offsets(conn, settings.topic)),
             300, "the projector to catch up")
        if relay.terminate() != 0:
            raise LoopError("the last relay did not stop cleanly on SIGTERM")
        projector.process.send_signal(signal.SIGTERM)
        if projector.process.wait(timeout=30) != 0:
            raise LoopError("the last projector did not stop cleanly on SIGTERM")

        records = topic_envelopes(settings, timeout_s=300)
        on_topic = Counter(envelope.id for _, envelope in records)
        figures.kills = dict(counts)
        figures.commands = writer.commands
        figures.records = len(records)
        figures.duplicates = len(records) - len(on_topic)
        figures.lost = sum(1 for s in stored_events(system) if s.event_id not in on_topic)
        figures.order_violations = len(order_violations(records))
        envelopes = store_envelopes(system.desk)
        figures.events = len(envelopes)
        with fresh_database(system.database_url, "kills") as url:
            tables = fold_from_scratch(envelopes, url)
            figures.differing_tables = len(differing_tables(system.database_url, url, tables))
        figures.quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        figures.seconds = round(time.monotonic() - started, 1)
        return figures
    finally:
        writer.stop.set()
        for process in (relay.process if relay else None,
                        projector.process if projector else None):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        system.close()


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from tests.reliability.servers import own_servers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--broker", choices=("tansu", "apache-kafka"), default="tansu")
    args = parser.parse_args(argv)
    with own_servers(args.broker) as settings, tempfile.TemporaryDirectory() as work:
        figures = run_kill_loop(settings, args.kills, Path(work), args.seed,
                                progress=lambda text: print(text, file=sys.stderr))
    print(json.dumps(asdict(figures), indent=2))
    print(f"{sum(figures.kills.values())} kills {figures.kills}: {figures.events} events, "
          f"{figures.lost} lost, {figures.differing_tables} tables differing (double), "
          f"{figures.duplicates} duplicates skipped, {figures.seconds} s")
    ok = not (figures.lost or figures.differing_tables or figures.order_violations
              or figures.quarantined)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
