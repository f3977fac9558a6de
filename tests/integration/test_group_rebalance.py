"""Two `supportlog project` processes joining and leaving one group while events flow
(issue #17, item 3): the consumers use the cooperative-sticky assignor (KIP-429), so a
member joining or leaving moves only the partitions that change owner; the member that
stays never gives up all of its partitions, and keeps folding through the rebalance.
At the end the read models equal a fold of the whole log from scratch.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from supportlog.bootstrap import bootstrap
from supportlog.settings import Settings
from tests.conftest import wait_for
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

ALL = {0, 1, 2, 3}


class Member:
    """One `supportlog project` process and what its log says it owns."""

    def __init__(self, settings: Settings, log_path: Path):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(SUPPORTLOG), "project", "--session-timeout-ms", "3000", "--poll-ms", "50"],
                env={**os.environ, **cli_env(settings)}, stdout=log, stderr=log)

    def lines(self) -> list[dict]:
        out = []
        for raw in self.log_path.read_bytes().splitlines():
            try:
                out.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                out.append({"message": raw.decode(errors="replace")})
        return out

    def owned(self) -> set[int]:
        """The partitions it owns now, by its log: assigned, minus revoked."""
        owned: set[int] = set()
        for line in self.lines():
            if line.get("message") == "partitions assigned":
                owned |= {int(p) for p in line["offsets"]}
            elif line.get("message") == "partitions revoked":
                owned -= set(line["partitions"])
        return owned

    def largest_revocation(self) -> int:
        return max([len(line["partitions"]) for line in self.lines()
                    if line.get("message") == "partitions revoked"], default=0)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@contextmanager
def members(settings: Settings, tmp_path: Path) -> Iterator[list[Member]]:
    started: list[Member] = []
    try:
        yield started
    finally:
        for member in started:
            if member.process.poll() is None:
                member.process.kill()
                member.process.wait()


def test_projectors_joining_and_leaving_while_events_flow_fold_what_one_folds(settings,
                                                                              tmp_path):
    seed = int(os.environ.get("SUPPORTLOG_CRASH_SEED") or random.randrange(2**32))
    system = bootstrap(settings)
    writer = Writer(system, random.Random(seed), pause_s=0.01)
    conn = system.connect()

    def applied(member: Member) -> int:
        return sum(line["batch"]["applied"] for line in member.lines()
                   if line.get("message") == "batch written")

    try:
        writer.start()
        with members(settings, tmp_path) as group:
            a = Member(settings, tmp_path / "a.log")
            group.append(a)
            wait_for(lambda: a.owned() == ALL, 60, "the first member to own every partition")
            b = Member(settings, tmp_path / "b.log")
            group.append(b)
            wait_for(lambda: a.owned() and b.owned() and a.owned() | b.owned() == ALL
                     and not a.owned() & b.owned(), 60, "the partitions split between two")
            before = applied(a)
            wait_for(lambda: applied(a) > before and applied(b) > 0, 60,
                     "both members to fold while events flow")
            assert b.stop() == 0
            wait_for(lambda: a.owned() == ALL, 60, "the one left to take every partition")
            c = Member(settings, tmp_path / "c.log")
            group.append(c)
            wait_for(lambda: c.owned() and a.owned() | c.owned() == ALL, 60,
                     "the partitions split again")
            # cooperative rebalancing: a member gives up only what moves, never all it has
            assert 0 < a.largest_revocation() < len(ALL), a.lines()
            assert a.stop() == 0
            wait_for(lambda: c.owned() == ALL, 60, "the last one to own every partition")
            writer.stop.set()
            writer.join(timeout=60)
            assert writer.error is None, writer.error
            wait_for(lambda: projected_through(conn, settings.group_id, settings.topic,
                                               produced_offsets(conn, settings.topic)),
                     90, f"the group to catch up (seed {seed})")
            assert c.stop() == 0
        envelopes = store_envelopes(system.desk)
        with fresh_database(system.database_url, "group") as url:
            tables = fold_from_scratch(envelopes, url)
            assert differing_tables(system.database_url, url, tables) == {}, f"seed {seed}"
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
        print(f"seed {seed}: {len(envelopes)} events, {writer.commands} commands; "
              f"applied a={applied(a)} b={applied(b)} c={applied(c)}")
    finally:
        writer.stop.set()
        system.close()
