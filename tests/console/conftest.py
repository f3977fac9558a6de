"""The console in a real browser: Debian's Chromium driven by Playwright, against the
API and the pipeline on a free loopback port (as `supportlog serve` runs them).

`console_desk(settings)` starts the server with a desk `cart-power` holding two
customers with credits, tickets waiting in the queue and a disputed charge; each part of
the pipeline runs with a stop switch of its own, so a test can stop the projector
alone. One browser serves the whole run; each test gets a fresh context (no cookies),
records every URL the page asks for, and saves a screenshot under
`.pytest-tmp/screenshots/` (kept after the run, gitignored).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn

from domain.actor import Actor
from domain.policy.profile import builtin_profile
from supportlog.bootstrap import System, bootstrap
from supportlog.settings import Settings
from supportlog.status import applied_through
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".pytest-tmp" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
#: Deadline of every browser wait (ms): generous for a loaded CI machine.
WAIT_MS = 20_000
OPERATOR = Actor("operator", "cli:tests")
DESK = "cart-power"
#: A desk with a first-response target, for the countdowns.
SLA_DESK = "imagecms"


@dataclass
class ConsoleDesk:
    """A running server: its base URL, its system, and a stop switch per worker."""

    url: str
    system: System
    stops: dict[str, threading.Event]
    threads: dict[str, threading.Thread]
    ids: dict[str, str] = field(default_factory=dict)

    def token(self, role: str, customer: str | None = None, desk: str = DESK) -> str:
        _, token = self.system.principals().create(desk=desk, role=role, customer=customer,
                                                   name=f"browser test {role}", by=OPERATOR)
        return token

    def run(self, command: str, at: datetime | None = None, **args: Any) -> None:
        self.system.desk.execute(command, args, at or datetime.now(UTC), actor=OPERATOR)

    def head(self) -> int:
        return self.system.desk.recorder.max_notification_id() or 0

    def settle(self) -> None:
        """Waits until the read models include every event stored so far."""
        head = self.head()
        conn = self.system.connect()
        settings = self.system.settings
        wait_for(lambda: applied_through(conn, settings.topic, settings.group_id) >= head,
                 60, f"the projector to apply position {head}")

    def stop(self, worker: str) -> None:
        """Stops one worker of the pipeline and waits until it has."""
        self.stops[worker].set()
        self.threads[worker].join(timeout=30)
        assert not self.threads[worker].is_alive(), f"{worker} did not stop"


def seed(desk: ConsoleDesk) -> None:
    """Two customers with 160 credits, two tickets waiting, a disputed charge."""
    suffix = uuid.uuid4().hex[:6]
    a, b = f"ann-{suffix}", f"bob-{suffix}"
    desk.ids.update(a=a, b=b, q1=f"q1-{suffix}", q2=f"q2-{suffix}", d=f"d-{suffix}",
                    charged=f"c-{suffix}")
    for customer in (a, b):
        desk.run("register_customer", customer=customer, email=f"{customer}@x.example",
                 desk=DESK)
        desk.run("purchase_credits", customer=customer, purchase=f"p-{customer}",
                 package=160)
    desk.run("open_ticket", customer=a, ticket=desk.ids["charged"], department="technical",
             channel="helpdesk", subject="Checkout fails")
    desk.run("agent_reply", ticket=desk.ids["charged"], agent="agent-seed")
    desk.run("log_work", ticket=desk.ids["charged"], agent="agent-seed", minutes=40,
             kind="investigation", classification="third_party_addon")
    desk.run("open_dispute", customer=a, dispute=desk.ids["d"],
             charge=f"{desk.ids['charged']}/1")
    desk.run("open_ticket", customer=a, ticket=desk.ids["q1"], department="technical",
             channel="helpdesk", subject="Cart is empty")
    desk.run("open_ticket", customer=b, ticket=desk.ids["q2"], department="technical",
             channel="helpdesk", subject="Slow admin")
    # ImageCMS answers within 24 h (R-SLA-1): one ticket three days old (breached by the
    # scheduler's timer), one just opened (counting down).
    now = datetime.now(UTC)
    c = f"cleo-{suffix}"
    desk.ids.update(c=c, late=f"late-{suffix}", fresh=f"fresh-{suffix}")
    desk.run("register_customer", at=now - timedelta(days=5), customer=c, desk=SLA_DESK)
    desk.run("open_ticket", at=now - timedelta(days=3), customer=c, ticket=desk.ids["late"],
             department="consultation", channel="helpdesk", subject="Which plan?")
    desk.run("open_ticket", customer=c, ticket=desk.ids["fresh"], department="consultation",
             channel="helpdesk", subject="Which add-on?")


@contextlib.contextmanager
def console_desk(settings: Settings) -> Iterator[ConsoleDesk]:
    """The API with the console and the pipeline on a free loopback port, seeded."""
    system = bootstrap(settings)
    stops: dict[str, threading.Event] = {}
    threads: dict[str, threading.Thread] = {}
    server = None
    try:
        system.desk.adopt(builtin_profile(DESK), datetime.now(UTC), actor=OPERATOR)
        system.desk.adopt(builtin_profile(SLA_DESK), datetime.now(UTC) - timedelta(days=10),
                          actor=OPERATOR)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(system.api(), log_config=None,
                                               access_log=False, timeout_graceful_shutdown=2))
        threads["api"] = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                                          daemon=True)
        for worker in system.workers(scheduler_interval_s=0.2):
            stops[worker.name] = threading.Event()
            threads[worker.name] = threading.Thread(target=worker.run,
                                                    args=(stops[worker.name],), daemon=True)
        for thread in threads.values():
            thread.start()
        wait_for(lambda: server.started, 30, "the API to start")
        desk = ConsoleDesk(f"http://127.0.0.1:{port}", system, stops, threads)
        seed(desk)
        desk.settle()
        yield desk
    finally:
        if server is not None:
            server.should_exit = True
        for stop in stops.values():
            stop.set()
        for thread in threads.values():
            thread.join(timeout=15)
        system.close()


@pytest.fixture(scope="module")
def console_settings(servers: tuple[str, str], tmp_path_factory) -> Iterator[Settings]:
    """A database and topic of the module's own, dropped afterwards."""
    admin_url, bootstrap_servers = servers
    name = f"console_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Settings(database_url=admin_url.rsplit("/", 1)[0] + f"/{name}",
                   kafka_bootstrap=bootstrap_servers,
                   home=tmp_path_factory.mktemp("console"), topic=f"events-{name}",
                   partitions=4, group_id=f"group-{name}", rate_per_s=0, read_wait_s=10)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def desk(console_settings: Settings) -> Iterator[ConsoleDesk]:
    with console_desk(console_settings) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, for the whole run."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (./sl test does, "
                    "as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Visit:
    """One test's browser page, the URLs it asked for, and where its screenshot goes."""

    page: Any
    base: str
    requested: list[str]
    name: str

    def sign_in(self, token: str) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.base}/console")
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#principal")).to_be_visible()

    def screenshot(self, label: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}{'-' + label if label else ''}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def outside(self) -> list[str]:
        """Every URL the page asked for that is not this server's."""
        return [u for u in self.requested
                if not u.startswith(self.base + "/") and not u.startswith(("data:", "blob:"))]


def visit(browser: Any, base: str, name: str, **context: Any) -> Iterator[Visit]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    ctx = browser.new_context(viewport=context.pop("viewport", {"width": 1280, "height": 800}),
                              **context)
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        yield Visit(page, base, requested, name)
    finally:
        ctx.close()


@pytest.fixture
def web(browser: Any, desk: ConsoleDesk, request: pytest.FixtureRequest) -> Iterator[Visit]:
    """A fresh browser context at 1280x800 on the module's desk."""
    yield from visit(browser, desk.url, request.node.name)
