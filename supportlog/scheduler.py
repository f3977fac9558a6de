"""The scheduler: fires the timers whose due time has come, again and again, until
stopped.

What fires and in which order is `domain.due_timers.TimerFiring`'s, shared with the
what-if replay; this adds the clock and the rhythm. The clock is injected: the wall
clock in `run` and `schedule`, a simulated one in scenarios and the demo. It is built
by the composition root (`supportlog.bootstrap.System.scheduler`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from consumers.faults import FaultSwitch
from domain.desk import Outcome
from domain.due_timers import DueTimer, TimerFiring

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The system clock, in UTC: what `now` is when nobody gives it."""
    return datetime.now(UTC)


class Scheduler:
    """Fires due timers with `firing` at the instants a clock gives."""

    def __init__(self, firing: TimerFiring):
        self.firing = firing

    @staticmethod
    def after_fire_hook(faults: FaultSwitch) -> Callable[[DueTimer, Outcome], None]:
        """Returns what runs after each firing: a log line for a timer that recorded
        events, then the crash tests' fault point."""
        def after_fire(timer: DueTimer, outcome: Outcome) -> None:
            if outcome.events:
                log.info("timer fired", extra={"timer": timer.timer_id, "kind": timer.kind})
            faults.reached("scheduler.after_fire")

        return after_fire

    def fire_due(self, now: datetime) -> int:
        """Fires every timer due at `now`, in due order; returns how many recorded
        events."""
        return self.firing.fire_due(now)

    def run(self, stop: threading.Event, clock: Clock = wall_clock,
            interval_s: float = 1.0) -> None:
        """Fires due timers every `interval_s` until `stop` is set."""
        while not stop.is_set():
            self.fire_due(clock())
            stop.wait(interval_s)
