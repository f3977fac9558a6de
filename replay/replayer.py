"""One isolated store replaying recorded commands at their recorded instants (R-AUD-4).

Its `SupportDesk` decides every command again, under the profiles the history adopted
or, once `start` has come, under a changed one (`profile_override`). Its timers are not
copied from the log: the scheduler fires them from the replayed state, folding the
store's new events into its own `timers` table with the live folds before each look,
so a changed target moves its breaches. A command the replayed state refuses is kept
with its error code, and the replay goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg

from domain.desk import SupportDesk
from domain.due_timers import TimerFiring
from domain.errors import SupportlogError
from domain.policy.profile import PolicyProfile
from eventlog.envelope import Envelope
from projections.timers import TimersTable
from replay.rebuild import ShadowFolder
from replay.recorded import ADOPTION, COMMANDS, recorded_command
from replay.sources import StoreSource
from replay.streams import envelopes, head
from replay.tally import Figures, tally


@dataclass
class Rejection:
    """A recorded command the replayed state refused."""

    at: str
    command: str
    args: dict[str, Any]
    code: str
    message: str


class Override:
    """A `profile_override`: the changed profile for its desk once `active`."""

    def __init__(self, changed: PolicyProfile):
        self.changed = changed
        self.active = False

    def __call__(self, tenant: str) -> PolicyProfile | None:
        return self.changed if self.active and tenant == self.changed.id else None


class IsolatedStore(Protocol):
    """A store of its own to replay into (the composition root's `isolated_system`)."""

    def connect(self) -> psycopg.Connection: ...

    def desk_with(self, profile_override: Override | None) -> SupportDesk: ...


@dataclass
class Replayer:
    """Replays into `isolated` (a store of its own); with `override`, under the changed
    profile from `start` on."""

    isolated: IsolatedStore
    override: Override | None = None
    start: datetime | None = None
    #: Only this desk's history (None: every desk's).
    tenant: str | None = None
    commands: int = 0
    timers_fired: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.desk = self.isolated.desk_with(self.override)
        #: The ref of a domain the history recorded in plain text (`replay.recorded`).
        self.ref: Callable[[str], str] = self.desk.personal.ref
        conn = self.isolated.connect()
        timers = ShadowFolder(conn, "public", only={"timers"})
        written = StoreSource(self.desk)

        def sync() -> None:
            for batch in written.batches():
                timers.fold(batch)

        self.scheduler = TimerFiring(self.desk, TimersTable(conn), sync=sync)

    def _enter_period(self, at: datetime) -> None:
        """Fires what was due before the period under the old policy, then switches."""
        if self.override is None or self.override.active:
            return
        if self.start is not None and at < self.start:
            return
        if self.start is not None:
            self.timers_fired += self.scheduler.fire_due(self.start - timedelta(microseconds=1))
        self.override.active = True

    def feed(self, envelope: Envelope, at: datetime) -> None:
        """Fires the timers due by `at`, then replays the command `envelope` is named by
        (or the profile adoption it records)."""
        self._enter_period(at)
        self.timers_fired += self.scheduler.fire_due(at)
        if envelope.type == ADOPTION:
            self.desk.adopt(PolicyProfile.from_record(envelope.data["profile"], "log"), at)
            return
        recorded = recorded_command(envelope, self.ref)
        if recorded is None:
            return
        self.commands += 1
        try:
            self.desk.execute(recorded.command, recorded.args, at)
        except SupportlogError as e:
            self.rejected.append(Rejection(recorded.at, recorded.command, recorded.args,
                                           e.code, e.message))

    def finish(self, last_at: datetime) -> None:
        """Fires the timers due by `last_at`, the last recorded instant replayed."""
        self._enter_period(last_at)
        self.timers_fired += self.scheduler.fire_due(last_at)

    def replay(self, live: SupportDesk, end: datetime | None, last_at: datetime,
               progress: Callable[[int, int], None] | None = None) -> None:
        """Replays every command and adoption of `live` up to `end`, then fires the
        timers due by `last_at`. Reads `live` only."""
        self.ref = live.personal.ref
        total, done = head(live), 0
        for envelope in envelopes(live):
            done += 1
            if progress and done % 500 == 0:
                progress(done, total)
            at = datetime.fromisoformat(envelope.time)
            if (end is not None and at > end) or (
                    self.tenant is not None and envelope.tenant != self.tenant):
                continue
            if envelope.type == ADOPTION or envelope.type in COMMANDS:
                self.feed(envelope, at)
        self.finish(last_at)
        if progress:
            progress(total, total)

    def figures(self, start: datetime | None, end: datetime | None) -> dict[str, Figures]:
        """Returns the replayed history's figures over [start, end]."""
        return tally(envelopes(self.desk), start, end)

    def close(self) -> None:
        self.desk.close()
