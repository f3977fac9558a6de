"""Read your writes, and whether the servers behind the API are there.

Every write answers the store position of its last event; a read given `?after=N`
is answered once the projector group has applied every event up to N
(`supportlog.status.applied_through`), or refused with 504 `projection_lag` after
`Settings.read_wait_s` (a position no write has reached yet is 400 at once). One watch
serves all waiting reads of the process: a read whose
position is already known to be applied costs nothing, and the others share one query
per `poll_s` however many are waiting. If the broker is down when the wait runs out,
the answer is 503 `broker_unavailable` instead: the read models cannot move until it
returns.

`Health` looks at the database and the broker every few seconds on a thread of its
own, so `/readyz` and the waits read a fresh verdict without paying for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from domain.errors import InvalidArgumentError
from supportlog.http.problems import ProjectionLagError, UnavailableError
from supportlog.status import applied_through, kafka_health

log = logging.getLogger("supportlog.http")


@dataclass
class HealthReport:
    """The last look at the servers behind the API."""

    database: str = "unknown"
    broker: str = "unknown"
    store_head: int | None = None
    applied_through: int | None = None
    checked_at: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return self.database == "up" and self.broker.startswith("up")

    def to_dict(self) -> dict[str, Any]:
        lag = None
        if self.store_head is not None and self.applied_through is not None:
            lag = max(self.store_head - self.applied_through, 0)
        return {"ready": self.ready, "database": self.database, "broker": self.broker,
                "store_head": self.store_head, "applied_through": self.applied_through,
                "projector_lag": lag}


class Health:
    """Checks the database and the broker every `interval_s` until stopped."""

    def __init__(self, pool: ConnectionPool, store_head: Callable[[], int | None],
                 kafka_bootstrap: str, topic: str, group_id: str, interval_s: float = 3.0):
        self.pool = pool
        self.store_head = store_head
        self.kafka_bootstrap = kafka_bootstrap
        self.topic = topic
        self.group_id = group_id
        self.interval_s = interval_s
        self.report = HealthReport()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, broker: bool = True) -> HealthReport:
        """Looks now and returns (and keeps) the report; without `broker`, the broker's
        verdict is the last look's."""
        verdict = kafka_health(self.kafka_bootstrap, self.topic) if broker \
            else self.report.broker
        report = HealthReport(broker=verdict)
        try:
            with self.pool.connection(timeout=2) as conn:
                report.applied_through = applied_through(conn, self.topic, self.group_id)
            report.store_head = self.store_head() or 0
            report.database = "up"
        except Exception as e:  # any failure to reach it is "down", with the reason
            report.database = f"down: {type(e).__name__}"
        self.report = report
        return report

    def refuse_if_database_down(self) -> None:
        """Raises UnavailableError (503) if the last look found the database down: a
        command would otherwise wait out the store's own retries (tens of seconds)
        before failing. A database that came back is noticed at the next look."""
        if self.report.database.startswith("down"):
            raise UnavailableError("database_unavailable",
                                   "the database does not answer; try again shortly")

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):  # a look that fails says "down"
                    self.check()
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=loop, name="api-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class ProjectionWatch:
    """Waits until the projector has applied a store position."""

    def __init__(self, pool: ConnectionPool, store_head: Callable[[], int | None],
                 topic: str, group_id: str, wait_s: float, health: Health | None = None,
                 poll_s: float = 0.02):
        self.pool = pool
        self.store_head = store_head
        self.topic = topic
        self.group_id = group_id
        self.wait_s = wait_s
        self.health = health
        self.poll_s = poll_s
        self.known = 0
        self._lock = asyncio.Lock()
        self._looked_at = 0.0

    def _applied(self) -> int:
        with self.pool.connection() as conn:
            return applied_through(conn, self.topic, self.group_id)

    async def _refresh(self) -> int:
        async with self._lock:  # one query per poll, shared by every waiting read
            if time.monotonic() - self._looked_at >= self.poll_s:
                self.known = max(self.known, await asyncio.to_thread(self._applied))
                self._looked_at = time.monotonic()
        return self.known

    async def wait_for(self, position: int) -> None:
        """Returns once every event up to `position` is applied; raises
        ProjectionLagError (or UnavailableError if the broker is down) after the wait."""
        if position <= self.known:
            return
        head = await asyncio.to_thread(self.store_head)
        if position > (head or 0):
            # No write answered this position yet: waiting could never end well.
            raise InvalidArgumentError(f"after={position} is beyond the store's last "
                                       f"position {head or 0}; pass a write's `position`")
        deadline = time.monotonic() + self.wait_s
        while await self._refresh() < position:
            if time.monotonic() >= deadline:
                if self.health is not None and not self.health.report.broker.startswith("up"):
                    raise UnavailableError("broker_unavailable",
                                           "the broker does not answer, so the read models "
                                           "cannot catch up; try again shortly")
                raise ProjectionLagError(
                    f"the read models have applied the log up to position {self.known}, "
                    f"not yet {position}, after {self.wait_s:g} s; try again shortly")
            await asyncio.sleep(self.poll_s)
