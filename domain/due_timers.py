"""Firing due timers in due order: the loop that the scheduler and the what-if replay
share (R-SLA-5, R-TKT-4, R-TKT-5, R-QTA-3, R-BAN-3, R-SUB-5, R-DSP-1).

Due times come from events; which timers are due at `now` is asked of a `DueTimers`
source (the `timers` projection in production, `projections.timers`), so this module
holds no SQL and reads no clock: `now` is given. Firing a timer is a command that
carries the timer id, and its handler re-checks the aggregate's state, so a timer fired
twice (two schedulers, a restart after a crash) records its event once; two concurrent
firings meet optimistic concurrency and the loser decides again on the fresh state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, Protocol

from domain.desk import Outcome


class DueTimer(NamedTuple):
    """A timer whose due time has come: what fires, on which subject, and when it was due."""

    timer_id: str
    kind: str
    subject: str
    due_at: datetime


class DueTimers(Protocol):
    """Where the due timers are read: in due order, then by id."""

    def due(self, now: datetime, limit: int = 500) -> list[DueTimer]: ...


class FiresTimers(Protocol):
    """The desk's timer command (`SupportDesk.fire_timer`)."""

    def fire_timer(self, kind: str, subject: str, timer_id: str, due: datetime) -> Outcome: ...


class TimerFiring:
    """Fires every due timer of `timers` through `desk`, one at a time, in due order."""

    def __init__(self, desk: FiresTimers, timers: DueTimers,
                 sync: Callable[[], None] | None = None,
                 after_fire: Callable[[DueTimer, Outcome], None] | None = None):
        """`sync` brings the due-timer source up to date before each look (a firing may
        add or remove timers); `after_fire(timer, outcome)` runs after each firing (the
        scheduler logs it; crash tests stop there)."""
        self.desk = desk
        self.timers = timers
        self.sync = sync or (lambda: None)
        self.after_fire = after_fire or (lambda timer, outcome: None)
        self._tried: set[tuple[str, str]] = set()

    def fire_due(self, now: datetime) -> int:
        """Fires every timer due at `now`, in order, syncing the source between firings;
        returns how many recorded events."""
        fired = 0
        while True:
            self.sync()
            pending = [t for t in self.timers.due(now)
                       if (t.timer_id, t.due_at.isoformat()) not in self._tried]
            if not pending:
                return fired
            timer = pending[0]
            # A timer whose firing recorded nothing stays in the table until its
            # projection moves; remembering it keeps this loop from spinning on it.
            self._tried.add((timer.timer_id, timer.due_at.isoformat()))
            outcome = self.desk.fire_timer(timer.kind, timer.subject, timer.timer_id,
                                           timer.due_at)
            self.after_fire(timer, outcome)
            fired += bool(outcome.events)
