"""The scheduler: fires the timers whose due time has come, again and again, until
stopped.

What fires and in which order is `domain.due_timers.TimerFiring`'s, shared with the
what-if replay; this adds the clock and the rhythm. The clock is injected: the wall
clock in `run` and `schedule`, a simulated one in scenarios and the demo. It is built
by the composition root (`supportlog.bootstrap.System.scheduler`).

Running (`run`), it rides out a lost database like the relay and the projector: a round
that fails for it is logged, the timers' connection is replaced (`reconnect`) and the
round tried again after a capped backoff. Firing is idempotent per timer (a timer's
event records its id), so a round cut short fires nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from consumers.faults import FaultSwitch
from consumers.outage import Backoff, lost_server
from domain.desk import Outcome
from domain.due_timers import DueTimer, TimerFiring

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The system clock, in UTC: what `now` is when nobody gives it."""
    return datetime.now(UTC)


class Scheduler:
    """Fires due timers with `firing` at the instants a clock gives."""

    def __init__(self, firing: TimerFiring, timers: Any = None,
                 reconnect: Callable[[], Any] | None = None):
        """`timers` (whose `conn` is replaced) and `reconnect` let `run` ride out a
        lost database; without them it stops on one."""
        self.firing = firing
        self.timers = timers
        self.reconnect = reconnect

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
        backoff = Backoff()
        while not stop.is_set():
            try:
                self.fire_due(clock())
            except Exception as e:
                if lost_server(e) != "database" or self.reconnect is None:
                    raise
                delay = backoff.next()
                log.warning("scheduler lost the database; trying again", extra={
                    "attempt": backoff.attempt, "retry_in_s": delay,
                    "error": f"{type(e).__name__}: {e}"})
                with contextlib.suppress(Exception):  # still gone: the next round says
                    self.timers.conn = self.reconnect()
                stop.wait(delay)
                continue
            backoff.reset()
            stop.wait(interval_s)
