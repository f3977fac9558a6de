"""The API over real HTTP: uvicorn on a free loopback port, in front of the real desk,
store, relay, projector group and scheduler on the session's embedded servers.

`running_api(settings)` starts it all the way `supportlog serve` does (the app from
`System.api`, the workers from `System.workers`) and stops it afterwards; `Api` holds
its address and issues tokens. Each module gets a database and topic of its own
(`api_settings`), and each test its own ids, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from domain.actor import SCHEDULER, Actor
from domain.policy.profile import builtin_profile
from replay.streams import notification_batches
from supportlog.bootstrap import System, bootstrap
from supportlog.settings import Settings
from supportlog.status import applied_through
from tests.conftest import wait_for

OPERATOR = Actor("operator", "cli:tests")
DESKS = ("cart-power", "cs-cart")
ROLES = ("customer", "agent", "desk_admin", "auditor", "service")
T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


@dataclass
class Api:
    """A running API: its base URL, its system, and tokens by (desk, role)."""

    url: str
    system: System
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=30)

    def issue(self, desk: str, role: str, customer: str | None = None) -> str:
        """Issues a principal and returns its token."""
        _, token = self.system.principals().create(desk=desk, role=role, customer=customer,
                                                   name=f"test {role}", by=OPERATOR)
        return token

    def token(self, desk: str, role: str) -> str:
        """The module's token of `role` on `desk` (a customer token is customer a's)."""
        key = (desk, role)
        if key not in self.tokens:
            self.tokens[key] = self.issue(desk, role, "a-" + desk if role == "customer"
                                          else None)
        return self.tokens[key]

    def run(self, command: str, at: datetime | None = None, **args: Any) -> None:
        """Runs a command as the local operator (setting up what a test needs)."""
        self.system.desk.execute(command, args, at or datetime.now(UTC), actor=OPERATOR)

    def head(self) -> int:
        """The position of the newest event a caller caused. The scheduler's own firings
        do not count: a breach of a ticket an earlier test opened may fall due (once the
        projector has its timer) while a later test runs, and is no write of that test."""
        caused = self.caused_after(0)
        return caused[-1] if caused else 0

    def caused_after(self, position: int) -> list[int]:
        """The positions after `position` of the events a caller caused (`head`)."""
        return [e.position for e in self._caused(position)]

    def written_since(self, head: int) -> list[str]:
        """The types of the events stored after position `head`, less the scheduler's:
        its timers fire in the background whenever they come due (the month rollovers
        of customers registered at T0 catch up, one month at a time, while a module
        runs), so "nothing was written" cannot be read off the store's head alone."""
        return [e.type for e in self._caused(head)]

    def _caused(self, position: int) -> Iterator[Any]:
        """The envelopes stored after `position` that a caller, not the scheduler,
        caused."""
        for batch in notification_batches(self.system.desk, position, with_hash=False):
            yield from (e for e in batch if e.actor != SCHEDULER.record())


def nothing_due(system: System) -> bool:
    """True once the projector has applied the whole store and no timer it projected is
    due: every timer due so far fired, and its event (which replaces the timer's row,
    or schedules the next) was projected."""
    settings = system.settings
    head = system.desk.recorder.max_notification_id() or 0
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        if applied_through(conn, settings.topic, settings.group_id) < head:
            return False
        return conn.execute("SELECT count(*) FROM timers WHERE due_at <= now()"
                            ).fetchone()[0] == 0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def running_api(settings: Settings, pipeline: bool = True) -> Iterator[Api]:
    """The API of `settings` on a free loopback port (with the pipeline behind it),
    until the block ends; every desk of DESKS has adopted its profile and has a
    customer `a-<desk>` and `b-<desk>` with 160 credits where the desk sells them."""
    system = bootstrap(settings)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    server = None
    try:
        for desk in DESKS:
            system.desk.adopt(builtin_profile(desk), T0, actor=OPERATOR)
            for name in ("a", "b"):
                system.desk.execute("register_customer", {"customer": f"{name}-{desk}",
                                                          "email": f"{name}@x.example",
                                                          "desk": desk}, T0, actor=OPERATOR)
        for name in ("a", "b"):
            system.desk.execute("purchase_credits", {"customer": f"{name}-cart-power",
                                                     "purchase": f"p-{name}", "package": 160},
                                T0, actor=OPERATOR)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(system.api(), log_config=None,
                                               access_log=False, timeout_graceful_shutdown=2))
        threads.append(threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                                        daemon=True))
        if pipeline:
            threads += [threading.Thread(target=w.run, args=(stop,), daemon=True)
                        for w in system.workers(scheduler_interval_s=0.2)]
        for thread in threads:
            thread.start()
        wait_for(lambda: server.started, 30, "the API to start")
        if pipeline:
            # The customers registered at T0 have months of rollovers due: each fires and
            # schedules the next. Tests compare the store's head before and after a
            # request, so the scheduler must be done with them first.
            wait_for(lambda: nothing_due(system), 120, "the timers due at start to fire")
        yield Api(f"http://127.0.0.1:{port}", system)
    finally:
        if server is not None:
            server.should_exit = True
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        system.close()


@pytest.fixture(scope="module")
def module_settings(servers: tuple[str, str], tmp_path_factory) -> Iterator[Settings]:
    """A database and topic of the module's own, dropped afterwards."""
    admin_url, bootstrap_servers = servers
    name = f"api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Settings(database_url=admin_url.rsplit("/", 1)[0] + f"/{name}",
                   kafka_bootstrap=bootstrap_servers, home=tmp_path_factory.mktemp("api"),
                   topic=f"events-{name}", partitions=4, group_id=f"group-{name}",
                   rate_per_s=0, read_wait_s=10)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def api(module_settings: Settings) -> Iterator[Api]:
    """The module's running API, with the pipeline."""
    with running_api(module_settings) as running:
        yield running


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
