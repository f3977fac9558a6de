"""`supportlog demo`: a generated month of five desks through the real pipeline, then a
report of what was stored, published and projected, with things to try next.

The activity is deterministic from the seed and played with a simulated clock: commands
run in time order, and before each simulated hour the due timers fire (SLA breaches,
auto-close, rollovers, expiries). Running the demo again adds a new run with its own
ids next to the earlier ones; `--fresh` starts the embedded servers from empty.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field

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
from supportlog.workload import START, Workload, iter_hours


@dataclass
class DemoResult:
    """What a demo run did."""

    prefix: str
    commands: int = 0
    rejected: Counter = field(default_factory=Counter)
    timers_fired: int = 0


#: Who the demo's commands record (R-ACL-1): the local operator, playing generated work.
DEMO = Actor("operator", "demo")


def next_prefix(system: System) -> str:
    """Returns the id prefix of the next run: r1-, r2-, ... (the first unused)."""
    run = 1
    while system.desk.load(Customer, Customer.id_for(f"r{run}-cs-cart-c0000")) is not None:
        run += 1
    return f"r{run}-"


def play(system: System, *, seed: int, customers: int, days: int,
         progress: Progress | None = None) -> DemoResult:
    """Plays the generated activity through `system`'s pipeline."""
    for profile_id in PROFILE_IDS:
        system.desk.adopt(builtin_profile(profile_id), START, actor=DEMO)
    result = DemoResult(next_prefix(system))
    steps = Workload(seed, customers, days, prefix=result.prefix).build()
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
    result.timers_fired += scheduler.fire_due(steps[-1].at)
    pipeline.sync()
    return result


def _fresh(settings: Settings, console: Console) -> None:
    if not settings.embedded:
        raise click.UsageError("--fresh only resets the embedded servers; "
                               "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are set")
    infra = embedded_infra(settings)
    infra.down()
    shutil.rmtree(infra.pg_data, ignore_errors=True)
    console.print(f"removed the embedded data in {infra.home}")


def report(system: System, result: DemoResult, console: Console) -> None:
    """Prints the run's figures and what to try next, with real ids."""
    conn = system.connect()

    def one(sql: str, *params):
        return conn.execute(sql, params).fetchone()[0]

    stored = system.desk.recorder.max_notification_id() or 0
    published = one("SELECT notification_id FROM relay_position WHERE topic = %s",
                    system.settings.topic)
    projected = one("SELECT COALESCE(SUM(next_offset), 0) FROM projector_offsets "
                    "WHERE group_id = %s AND topic = %s", system.settings.group_id,
                    system.settings.topic)
    table = Table(title=f"demo run {result.prefix.rstrip('-')}", show_header=False)
    table.add_row("commands accepted / rejected",
                  f"{result.commands} / {sum(result.rejected.values())} "
                  f"({', '.join(f'{c} {n}' for c, n in result.rejected.most_common(4))})")
    table.add_row("events stored / published / projected",
                  f"{stored} / {published} / {projected}")
    table.add_row("timers fired", str(result.timers_fired))
    table.add_row("credits bought / charged / compensated", " / ".join(str(one(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE cause_type = %s", kind) * sign)
        for kind, sign in (("purchase", 1), ("charge", -1), ("dispute", 1))))
    for tenant, breaches, tickets in conn.execute(
            "SELECT tenant, COUNT(*) FILTER (WHERE sla_breached), COUNT(*) FROM tickets "
            "GROUP BY tenant ORDER BY tenant"):
        table.add_row(f"SLA breaches, {tenant}", f"{breaches} of {tickets} tickets")
    table.add_row("customers banned now", str(one("SELECT COUNT(*) FROM bans WHERE banned")))
    table.add_row("open disputes", str(one(
        "SELECT COUNT(*) FROM disputes WHERE status = 'open'")))
    console.print(table)
    charge = conn.execute("SELECT charge_id FROM charges WHERE credits IS NOT NULL "
                          "ORDER BY at DESC LIMIT 1").fetchone()
    console.print("\n[bold]Try next[/bold]")
    console.print(f"  psql '{system.database_url}' -c "
                  "'SELECT * FROM analytics.sla_by_profile_plan_channel LIMIT 10'")
    if charge:
        console.print(f"  ./sl audit charge {charge[0]}")
    console.print(f"  the topic {system.settings.topic} on {system.kafka_bootstrap}; "
                  "a subscriber that prints every credit charge:")
    console.print(f"  .venv/bin/python examples/print_charges.py --bootstrap "
                  f"{system.kafka_bootstrap} --topic {system.settings.topic} --max-messages 5")
    console.print("  ./sl whatif --profile cart-power --set credits.unit_minutes=10")
    console.print("  ./sl scenario run tests/scenarios/cart-power-credits.json")


def run_demo(settings: Settings, *, seed: int, customers: int, days: int,
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
        with Progress(*columns, console=console) as progress:
            result = play(system, seed=seed, customers=customers, days=days,
                          progress=progress)
        report(system, result, console)
    finally:
        system.close()
