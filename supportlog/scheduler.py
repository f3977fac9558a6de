"""The scheduler: fires the timers whose due time has come, in due order.

Due times come from events; the `timers` table is their projection. Firing a timer is a
command that carries the timer id, and its handler re-checks the aggregate's state, so a
timer fired twice (two schedulers, a restart after a crash) records its event once; two
concurrent firings meet optimistic concurrency and the loser decides again on the fresh
state. The clock is injected: the wall clock in `run`, a simulated one in scenarios and
the demo.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from consumers.faults import NO_FAULTS, FaultSwitch
from domain.desk import SupportDesk

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The system clock, in UTC: only the scheduler of `supportlog run` uses it."""
    return datetime.now(UTC)


class Scheduler:
    """Fires due timers read from the `timers` projection of `conn`'s database."""

    def __init__(self, desk: SupportDesk, conn, sync: Callable[[], None] | None = None,
                 faults: FaultSwitch = NO_FAULTS):
        self.desk = desk
        self.conn = conn
        self.sync = sync or (lambda: None)
        self.faults = faults
        self._tried: set[tuple[str, str]] = set()

    def due(self, now: datetime, limit: int = 500) -> list[tuple[str, str, str, datetime]]:
        """Returns (timer_id, kind, subject, due_at) of the timers due at `now`, in order."""
        return self.conn.execute(
            "SELECT timer_id, kind, subject, due_at FROM timers WHERE due_at <= %s "
            "ORDER BY due_at, timer_id LIMIT %s", (now, limit)).fetchall()

    def fire_due(self, now: datetime) -> int:
        """Fires every timer due at `now`, one at a time, syncing the projection between
        firings (a firing may add or remove timers); returns how many recorded events."""
        fired = 0
        while True:
            self.sync()
            pending = [row for row in self.due(now)
                       if (row[0], row[3].isoformat()) not in self._tried]
            if not pending:
                return fired
            timer_id, kind, subject, due_at = pending[0]
            # A timer whose firing recorded nothing stays in the table until its
            # projection moves; remembering it keeps this loop from spinning on it.
            self._tried.add((timer_id, due_at.isoformat()))
            outcome = self.desk.fire_timer(kind, subject, timer_id, due_at)
            self.faults.reached("scheduler.after_fire")
            if outcome.events:
                fired += 1
                log.info("timer fired", extra={"timer": timer_id, "kind": kind})

    def run(self, stop: threading.Event, clock: Clock = wall_clock,
            interval_s: float = 1.0) -> None:
        """Fires due timers every `interval_s` until `stop` is set."""
        while not stop.is_set():
            self.fire_due(clock())
            stop.wait(interval_s)
