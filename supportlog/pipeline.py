"""Drives relay and projector step by step until the read models have caught up.

Scenarios, the demo and tests need "every event so far is projected" before they read
a projection; this waits on that condition (relay at the store's head, projector at the
relay's produced offsets) with a deadline, never with a sleep.
"""

from __future__ import annotations

import time

from domain.errors import SupportlogError
from supportlog.bootstrap import System


class CatchUpTimeoutError(SupportlogError):
    """Raised when the projector does not catch up with the store in time."""

    code = "timeout"
    retriable = True


class Pipeline:
    """A relay and a projector of one system, pumped on demand."""

    def __init__(self, system: System):
        self.system = system
        self.relay = system.relay()
        # A broker that lost the topic (the embedded one keeps nothing across restarts)
        # is refilled from the store before anything else is published.
        self.relay.refill_if_topic_lost()
        self.projector = system.projector()

    def sync(self, timeout_s: float = 60.0) -> None:
        """Returns once every stored event is published and projected."""
        deadline = time.monotonic() + timeout_s
        self.relay.pump()
        while self.projector.lag() > 0:
            if time.monotonic() > deadline:
                raise CatchUpTimeoutError(
                    f"the projector is {self.projector.lag()} records behind after "
                    f"{timeout_s:.0f}s")
            self.projector.poll_once(50)
