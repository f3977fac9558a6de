"""`supportlog demo`: a generated month of five desks through the real pipeline, then a
report of what was stored, published and projected, with things to try next.

The month is the `days` that end at `end` (the CLI gives now, or a pinned `--end`), so
what a newcomer opens next is live: tickets still in the queue with due times ahead,
bans still running, and a later `run` fires only the timers that are really due. The
activity is deterministic from the seed and `end`, played with a simulated clock:
commands run in time order, before each simulated hour the due timers fire (SLA
breaches, auto-close, rollovers, expiries), and at the end every timer due by `end`
has fired, so the state is the one at `end`. Steps the workload has after `end` (the
rest of a conversation) are not played. Running the demo again adds a new run with its
own ids next to the earlier ones; `--fresh` starts the embedded servers from empty.
The report ends with the console's address and a demo agent's token, printed once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.actor import Actor
from domain.customer import Customer
from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from supportlog.bootstrap import System, bootstrap, embedded_infra
from supportlog.pipeline import Pipeline
from supportlog.settings import Settings
from supportlog.workload import Workload, iter_hours


@dataclass
class DemoResult:
    """What a demo run did: its id prefix, its period, and what it played."""

    prefix: str
    start: datetime
    end: datetime
    commands: int = 0
    rejected: Counter = field(default_factory=Counter)
    timers_fired: int = 0
    events_before: int = 0
    events_after: int = 0
    #: The console's demo agent (principal id, token), when the run issued one.
    agent: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def events(self) -> int:
        """The events this run stored (its commands' and the timers it fired)."""
        return self.events_after - self.events_before


#: Who the demo's commands record (R-ACL-1): the local operator, playing generated work.
DEMO = Actor("operator", "demo")


def next_prefix(system: System) -> str:
    """Returns the id prefix of the next run: r1-, r2-, ... (the first unused)."""
    run = 1
    while system.desk.load(Customer, Customer.id_for(f"r{run}-cs-cart-c0000")) is not None:
        run += 1
    return f"r{run}-"


def play(system: System, *, seed: int, customers: int, days: int, end: datetime,
         progress: Progress | None = None, issue_agent: bool = False) -> DemoResult:
    """Plays the activity of the `days` that end at `end` through `system`'s pipeline
    and fires every timer due by `end`: the state left is the one at `end`. With
    `issue_agent`, the run also issues the console's demo agent (`result.agent`)."""
    start = end - timedelta(days=days)
    result = DemoResult(next_prefix(system), start, end,
                        events_before=system.desk.recorder.max_notification_id() or 0)
    for profile_id in PROFILE_IDS:
        system.desk.adopt(builtin_profile(profile_id), start, actor=DEMO)
    steps = Workload(seed, customers, days, prefix=result.prefix, start=start).build(
        until=end)
    pipeline = Pipeline(system)
    scheduler = system.scheduler(sync=pipeline.sync)
    task = progress.add_task("playing commands", total=len(steps)) if progress else None
    for hour, bucket in iter_hours(steps):
        result.timers_fired += scheduler.fire_due(hour)
        for step in bucket:
            try:
                system.desk.execute(step.do, step.args, step.at, actor=DEMO)
                result.commands += 1
            except SupportlogError as e:
                result.rejected[e.code] += 1
        if progress:
            progress.advance(task, len(bucket))
    result.timers_fired += scheduler.fire_due(end)
    if issue_agent:  # its `principal.issued` is an event of this run, published with it
        result.agent = demo_agent(system)
    pipeline.sync()
    result.events_after = system.desk.recorder.max_notification_id() or 0
    return result


def _fresh(settings: Settings, console: Console) -> None:
    if not settings.embedded:
        raise click.UsageError("--fresh only resets the embedded servers; "
                               "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are set")
    infra = embedded_infra(settings)
    infra.wipe()
    console.print(f"removed the embedded data in {infra.home}")


def analyst_psql(settings: Settings) -> str:
    """A psql command line that connects as the analyst (docs/analytics.md), its
    password read from the embedded home's pgpass file, never shown."""
    if not settings.embedded:
        return "psql \"$DATABASE_URL\"  # as a role granted supportlog_analyst"
    infra = embedded_infra(settings)
    state = infra.read_state()
    if state is None or state.credentials is None:
        return "psql"
    return f"PGPASSFILE={infra.pgpass_path} psql '{infra.analyst_url(state)}'"


#: The run's own figures, each a query with the run's id prefix as its one parameter.
_RUN_FIGURES: tuple[tuple[str, str], ...] = (
    ("credits bought", "SELECT COALESCE(SUM(delta), 0) FROM ledger "
     "WHERE cause_type = 'purchase' AND starts_with(customer, %s)"),
    ("credits charged", "SELECT COALESCE(-SUM(delta), 0) FROM ledger "
     "WHERE cause_type = 'charge' AND starts_with(customer, %s)"),
    ("credits given back", "SELECT COALESCE(SUM(delta), 0) FROM ledger "
     "WHERE cause_type = 'dispute' AND starts_with(customer, %s)"),
    ("money charged", "SELECT COALESCE(string_agg(amount || ' ' || currency, ', ' "
     "ORDER BY currency), 'none') FROM (SELECT split_part(money, ' ', 2) AS currency, "
     "SUM(split_part(money, ' ', 1)::numeric) AS amount FROM charges WHERE money IS NOT "
     "NULL AND starts_with(customer, %s) GROUP BY 1) AS m"),
    ("tickets waiting now", "SELECT COUNT(*) FROM service_queue "
     "WHERE starts_with(customer, %s)"),
    ("customers banned now", "SELECT COUNT(*) FROM bans "
     "WHERE banned AND starts_with(customer, %s)"),
    ("disputes open", "SELECT COUNT(*) FROM disputes "
     "WHERE status = 'open' AND starts_with(customer, %s)"),
)


def report(system: System, result: DemoResult, console: Console,
           psql: str = "psql") -> None:
    """Prints this run's figures (not the whole database's: an earlier run's would be
    counted in), one line of what the database holds in all, and what to try next with
    real ids (`psql` connects as the analyst, its password never shown). Fits 80
    columns; the commands to copy are never wrapped."""
    conn = system.connect()
    prefix = result.prefix

    def one(sql: str, *params: object) -> object:
        return conn.execute(sql, params).fetchone()[0]

    console.print(f"demo run {prefix.rstrip('-')}: {_day(result.start)} to "
                  f"{_day(result.end)} UTC", style="bold", highlight=False)
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_row("commands accepted", str(result.commands))
    table.add_row("commands rejected", str(sum(result.rejected.values())))
    for code, n in result.rejected.most_common():
        table.add_row(f"  {code}", str(n))
    table.add_row("events stored", str(result.events))
    table.add_row("timers fired", str(result.timers_fired))
    for label, query in _RUN_FIGURES[:4]:
        table.add_row(label, str(one(query, prefix)))
    for tenant, breaches, tickets in conn.execute(
            "SELECT tenant, COUNT(*) FILTER (WHERE sla_breached), COUNT(*) FROM tickets "
            "WHERE starts_with(customer, %s) GROUP BY tenant ORDER BY tenant", (prefix,)):
        table.add_row(f"SLA breached, {tenant}", f"{breaches} of {tickets} tickets")
    for label, query in _RUN_FIGURES[4:]:
        table.add_row(label, str(one(query, prefix)))
    console.print(table)
    console.print(_in_all(system, one, prefix), highlight=False)
    charge = conn.execute(
        "SELECT c.charge_id FROM charges c WHERE c.credits IS NOT NULL AND "
        "starts_with(c.customer, %s) ORDER BY EXISTS (SELECT FROM disputes d WHERE "
        "d.charge_id = c.charge_id) DESC, c.at DESC LIMIT 1", (prefix,)).fetchone()
    topic, bootstrap_servers = system.settings.topic, system.kafka_bootstrap
    console.print()
    console.print("Try next", style="bold")
    for comment, command in (
            ("the analysts' views (docs/analytics.md)",
             f"{psql} -c 'SELECT * FROM analytics.charges LIMIT 10'"),
            ("a charge's receipt, from the log alone",
             f"./sl audit charge {charge[0]}" if charge else None),
            ("a subscriber that prints every credit charge on the topic",
             f".venv/bin/python examples/print_charges.py --bootstrap {bootstrap_servers} "
             f"--topic {topic} --max-messages 5"),
            ("the same history under a changed policy",
             "./sl whatif --profile cart-power --set credits.unit_minutes=10"),
            ("an acceptance scenario through the whole pipeline",
             "./sl scenario run tests/scenarios/cart-power-credits.json"),
            ("the pipeline from now on: relay, projector, timers", "./sl run")):
        if command:
            console.print(f"  # {comment}", style="dim", highlight=False)
            # Whole on one line however narrow the terminal, so it pastes as typed.
            console.print(f"  {command}", soft_wrap=True, markup=False, highlight=False)


#: Where `./sl serve` serves the console by default (`serve --host/--port`).
CONSOLE_URL = "http://127.0.0.1:8080/console"
#: The desk whose demo agent the demo signs up: it sells credits, so its customers'
#: accounts have balances to chart, charges to audit and disputes to review.
CONSOLE_DESK = "cart-power"


def demo_agent(system: System) -> tuple[str, str]:
    """Issues an agent of `CONSOLE_DESK` for the console; returns its principal id and
    its token (only the token's hash is kept)."""
    record, token = system.principals().create(desk=CONSOLE_DESK, role="agent",
                                               customer=None, name="demo agent", by=DEMO)
    return record.principal, token


def console_invitation(principal: str, token: str, console: Console) -> None:
    """Prints how to reach the console as the demo agent; the token is the last line,
    printed this once."""
    console.print()
    console.print("The console", style="bold")
    console.print("  # serve it (the API, the pipeline and the console), then open",
                  style="dim", highlight=False)
    console.print("  ./sl serve", soft_wrap=True, markup=False, highlight=False)
    console.print(f"  {CONSOLE_URL}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"  # sign in as {principal} (agent, desk {CONSOLE_DESK}) with",
                  style="dim", highlight=False)
    console.print("  # this token, shown only once (./sl token create makes others):",
                  style="dim", highlight=False)
    console.print(token, soft_wrap=True, markup=False, highlight=False)


def _day(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _in_all(system: System, one: Callable[..., object], prefix: str) -> str:
    """Returns the line of what the database holds in all runs together."""
    stored = system.desk.recorder.max_notification_id() or 0
    published = one("SELECT COALESCE(MAX(notification_id), 0) FROM relay_position "
                    "WHERE topic = %s", system.settings.topic)
    projected = one("SELECT COALESCE(SUM(next_offset), 0) FROM projector_offsets "
                    "WHERE group_id = %s AND topic = %s", system.settings.group_id,
                    system.settings.topic)
    runs = int(prefix[1:-1])
    where = "all published and projected" if stored == published == projected else \
        f"{published} published, {projected} projected"
    return (f"in all: {runs} run{'s' if runs > 1 else ''}, "
            f"{one('SELECT COUNT(*) FROM customers')} customers, {stored} events, {where}")


def run_demo(settings: Settings, *, seed: int, customers: int, days: int, end: datetime,
             fresh: bool) -> None:
    """Plays the demo on the deployment of `settings` and prints the report."""
    console = Console()
    if fresh:
        _fresh(settings, console)
    with console.status("starting PostgreSQL and the broker"):
        system = bootstrap(settings)
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        # Into a pipe or a file a progress bar is noise (and rich ends it with a blank
        # line): only a terminal gets one.
        with Progress(*columns, console=console,
                      disable=not console.is_terminal) as progress:
            result = play(system, seed=seed, customers=customers, days=days, end=end,
                          progress=progress, issue_agent=True)
        report(system, result, console, analyst_psql(settings))
        assert result.agent is not None
        console_invitation(*result.agent, console)
    finally:
        system.close()
