"""What the routes use, gathered once by the composition root (`System.api`).

The routes reach every part through `request.app.state.services`: the desk (commands,
the store), the pool (read models and the API's own tables), the token service and the
authenticators, the rate limiter, the idempotency keys, the freshness watch, the health
monitor, the console's sessions, the clock that gives a command its `now`, the desk
threads commands run on, a factory of isolated stores for what-if replays (at most one
at a time: each builds a database of its own), erasure, and the cipher's reveal of
personal data (R-PRV-1).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from domain.desk import SupportDesk
from supportlog.http.auth import Authenticator
from supportlog.http.freshness import Health, ProjectionWatch
from supportlog.http.idempotency import IdempotencyStore
from supportlog.http.lanes import DeskLanes
from supportlog.http.ratelimit import RateLimiter
from supportlog.principals import Principals
from supportlog.settings import Settings

#: Desk threads: enough to overlap one command's reads with another's (the store takes
#: one insert at a time), few enough that each keeps its customers' aggregates warm.
LANES = 4


@dataclass
class ApiServices:
    """Every dependency of the HTTP API."""

    settings: Settings
    desk: SupportDesk
    pool: ConnectionPool
    principals: Principals
    authenticators: list[Authenticator]
    limiter: RateLimiter
    keys: IdempotencyStore
    watch: ProjectionWatch
    health: Health
    clock: Callable[[], datetime]
    #: `isolated(label)`: a context manager giving a System on a database of its own.
    isolated: Callable[[str], contextlib.AbstractContextManager[Any]]
    #: `erase(customer, reason=, actor=)`: `supportlog.privacy.erase.erase_customer` on
    #: this store (R-PRV-1), for the desk admin's erase route.
    erase: Callable[..., Any]
    #: `revealer(customer)`: shows each personal value of the customer to a reader
    #: entitled to it (`PersonalCipher.revealer`: its text, or `[erased]`).
    revealer: Callable[[str], Callable[[str, str, Any], str | None]]
    #: The web console's sessions (`supportlog.console`); None: no console.
    sessions: Any = None
    #: The desk threads commands run on, by customer.
    lanes: DeskLanes = field(default_factory=lambda: DeskLanes(LANES))
    what_if_slots: threading.Semaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(1))
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Starts the background work: health checks, and purging old idempotency keys
        every hour."""
        self.health.start()

        def purge() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):  # a missed purge is made up next hour
                    self.keys.purge()
                self._stop.wait(3600)

        threading.Thread(target=purge, name="api-key-purge", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.health.stop()
        self.lanes.close()
