"""Named fault points for crash tests: a process kills itself (SIGKILL) at a named point.

The switch is read once, at start, from the settings (`SUPPORTLOG_FAULT=point` or
`point@N` to crash on the N-th pass); production code calls `fault.reached(point)`,
which does nothing when the switch is off. No mocks: crash tests run the real process.
"""

from __future__ import annotations

import os
import signal


class FaultSwitch:
    """Kills the process at a configured point; inert when `spec` is None."""

    def __init__(self, spec: str | None):
        self.point: str | None = None
        self.after = 1
        if spec:
            point, _, count = spec.partition("@")
            self.point = point
            self.after = int(count) if count else 1
        self._passes = 0

    def reached(self, point: str) -> None:
        """Crashes here if this is the configured point and pass."""
        if point != self.point:
            return
        self._passes += 1
        if self._passes >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)


NO_FAULTS = FaultSwitch(None)
