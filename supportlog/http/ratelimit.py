"""A rate limit per principal: a token bucket in this process's memory.

Each principal's bucket holds up to `burst` requests and refills at `per_s` a second;
a request finding it empty is refused with 429 and a `Retry-After` saying when one
request will be allowed again. In memory and per process: with several API processes a
client gets the limit once per process, which bounds a runaway client without a shared
store on the hot path; a limit that must hold across processes belongs in front of
them (a proxy). Idle buckets are dropped so the table stays as small as the set of
active principals.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from supportlog.http.problems import RateLimitedError

#: Buckets are forgotten after this long unused (a full bucket is the same as none).
_IDLE_S = 600.0


class RateLimiter:
    """Token buckets by principal id; `per_s` 0 turns the limit off."""

    def __init__(self, per_s: float, burst: int,
                 monotonic: Callable[[], float] = time.monotonic):
        self.per_s = per_s
        self.burst = burst
        self.monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # id -> (tokens, at)
        self._lock = threading.Lock()
        self._swept_at = monotonic()

    def take(self, principal: str) -> None:
        """Takes one request from `principal`'s bucket; raises RateLimitedError if it is
        empty."""
        if self.per_s <= 0:
            return
        now = self.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(principal, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_s)
            if tokens < 1:
                self._buckets[principal] = (tokens, now)
                wait_s = math.ceil((1 - tokens) / self.per_s)
                raise RateLimitedError(
                    f"more than {self.per_s:g} requests a second (bursts of {self.burst}); "
                    f"try again in {wait_s} s", retry_after_s=wait_s)
            self._buckets[principal] = (tokens - 1, now)
            if now - self._swept_at > _IDLE_S:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        for principal, (_, at) in list(self._buckets.items()):
            if now - at > _IDLE_S:
                del self._buckets[principal]
