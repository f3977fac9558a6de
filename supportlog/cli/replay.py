"""Commands of replay: rebuild, asof, audit, whatif (R-AUD-1, R-AUD-2, R-AUD-4, R-DSP).

Each command reads the store (and, for `rebuild --compare/--swap`, the live read models);
only `rebuild --swap` writes, and only the read-model tables. Exit statuses: 0 all is
well, 1 a check failed (a difference, a mismatch), 2 bad input, 3 a server is down.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from supportlog.cli.shared import EXIT_CHECK_FAILED, fail, progress_bar, system, table_console


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(rebuild)
    main.add_command(asof)
    main.add_command(audit)
    main.add_command(whatif)


def _instant(value: str | None, name: str) -> datetime | None:
    from domain.commands.args import instant

    return None if value is None else instant(value, name)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# --- rebuild ------------------------------------------------------------------------

@click.command()
@click.option("--projection", metavar="NAME", help="Only this read-model table.")
@click.option("--compare", is_flag=True,
              help="Print row-level differences from live; exit 1 if there are any.")
@click.option("--swap", is_flag=True, help="Replace the live tables, in one transaction.")
@click.option("--source", type=click.Choice(["store", "kafka"]), default="store",
              show_default=True, help="Fold the event store or the Kafka topic.")
@click.option("--keep", is_flag=True, help="Keep the shadow schema rebuild_shadow.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rebuild(projection: str | None, compare: bool, swap: bool, source: str, keep: bool,
            as_json: bool) -> None:
    """Fold the whole log again into a shadow schema with the live folds (R-AUD-2)."""
    from replay.rebuild import rebuild as run_rebuild
    from replay.render import diff_text

    console = Console(stderr=True)
    where = "event store" if source == "store" else "Kafka topic"
    with system() as built, progress_bar(console) as progress:
        task = progress.add_task(f"folding the {where}", total=None)
        result = run_rebuild(
            built, source=source, projection=projection, compare=compare, swap=swap,
            keep=keep, progress=lambda done, total: progress.update(task, completed=done,
                                                                    total=total))
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(f"rebuilt {len(result.tables)} table(s) from {result.events} events "
                   f"of the {where}: " + ", ".join(
                       f"{t} {n}" for t, n in result.rows.items()))
        for failure in result.failures:
            click.echo(f"warning: {failure}")
        if result.not_yet_live:
            click.echo(f"note: the live projector has yet to apply {result.not_yet_live} of "
                       "these events; differences may only be lag")
        if result.differences is not None:
            click.echo(diff_text(result.differences))
        if result.swapped is not None:
            click.echo("swapped into live: " + ", ".join(
                f"{t} {n} rows" for t, n in result.swapped.items()))
    if compare and result.differs:
        sys.exit(EXIT_CHECK_FAILED)


# --- asof ---------------------------------------------------------------------------

@click.command()
@click.argument("instant")
@click.option("--customer", metavar="C", help="One customer (default: every customer "
              "registered by then, in summary).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def asof(instant: str, customer: str | None, as_json: bool) -> None:
    """State as it stood at INSTANT (ISO 8601 with an offset), from customers' streams."""
    from domain.errors import InvalidArgumentError
    from replay.as_of import customer_as_of, customers_registered_by
    from replay.profiles import AdoptedProfiles
    from replay.render import as_of_text

    with system() as built:
        at = _instant(instant, "INSTANT")
        assert at is not None
        conn = built.connect()
        profiles = AdoptedProfiles(built.desk)
        names = [customer] if customer else customers_registered_by(conn, at)
        states = [customer_as_of(built.desk, n, at, conn, profiles) for n in names]
        if customer and states[0] is None:
            fail(InvalidArgumentError(f"customer {customer!r} was not registered at {at}"))
        found = [s for s in states if s is not None]
        if as_json:
            _echo_json([s.to_dict() for s in found] if not customer else found[0].to_dict())
        elif customer:
            click.echo(as_of_text(found[0]))
        else:
            _as_of_table(found, at)


def _as_of_table(states: list[Any], at: datetime) -> None:
    from domain.ticket import OPEN_STATES

    table = Table(title=f"as of {at.isoformat()}")
    for column in ("customer", "desk", "balance", "tickets open", "SLA breached",
                   "SLA overdue", "banned", "disputes open"):
        table.add_column(column)
    for s in states:
        open_tickets = sum(1 for t in s.tickets if t.status in OPEN_STATES)
        table.add_row(s.customer, s.tenant, str(s.balance),
                      str(open_tickets), str(sum(t.sla == "breached" for t in s.tickets)),
                      str(sum(t.sla == "overdue" for t in s.tickets)),
                      "yes" if s.ban else "", str(sum(d["status"] == "open"
                                                      for d in s.disputes)))
    table_console().print(table)


# --- audit --------------------------------------------------------------------------

@click.group()
def audit() -> None:
    """Receipts for charges, re-priced under the recorded profile version (R-AUD-1)."""


@audit.command("charge")
@click.argument("charge_id")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
def audit_charge(charge_id: str, as_json: bool) -> None:
    """The receipt of CHARGE_ID (<ticket>/<n>) from the log alone; exit 1 on a mismatch."""
    from replay.charge_audit import ChargeAuditor
    from replay.render import receipt_text

    with system() as built:  # the operator is entitled to the subject (R-PRV-1)
        receipt = ChargeAuditor(built.desk, built.personal.reveal).receipt(charge_id)
    if as_json:
        _echo_json(receipt.to_dict())
    else:
        click.echo(receipt_text(receipt))
    if not receipt.agrees:
        for check in receipt.checks:
            if not check.ok:
                click.echo(f"MISMATCH {charge_id}: {check.name}: {check.detail}", err=True)
        sys.exit(EXIT_CHECK_FAILED)


@audit.command("all")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def audit_all(as_json: bool) -> None:
    """Audit every charge in the log; exit 1 if any receipt does not agree."""
    from replay.charge_audit import sweep

    console = Console(stderr=True)
    with system() as built, progress_bar(console) as progress:
        task = progress.add_task("auditing charges", total=None)
        result = sweep(built.desk, progress=lambda n: progress.update(task, completed=n))
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(f"{result.audited} charges audited, {result.agreeing} agree with "
                   f"re-pricing under their recorded profile versions")
    for receipt in result.mismatches:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in receipt.checks if not c.ok)
        click.echo(f"MISMATCH {receipt.charge_id}: {failed}", err=True)
    if result.mismatches:
        sys.exit(EXIT_CHECK_FAILED)


# --- whatif -------------------------------------------------------------------------

@click.command()
@click.option("--profile", "spec", required=True, metavar="FILE|ID",
              help="The changed profile: a file, or a built-in id such as cart-power.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Change one value of that profile, e.g. credits.unit_minutes=10 "
                   "(repeatable; VALUE is JSON).")
@click.option("--from", "start", metavar="T1", help="Start of the period (ISO 8601).")
@click.option("--to", "end", metavar="T2", help="End of the period (ISO 8601).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Compare with a replay under the recorded profiles (else with the "
                   "recorded history itself).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def whatif(spec: str, settings: tuple[str, ...], start: str | None, end: str | None,
           baseline: bool, as_json: bool) -> None:
    """Replay the period's commands under a changed profile in an isolated store and
    report the differences (R-AUD-4); the live store is only read."""
    from contextlib import nullcontext

    from replay.what_if import load_changed_profile, what_if
    from supportlog.bootstrap import isolated_system

    console = Console(stderr=True)
    with system() as built:
        changed = load_changed_profile(spec, settings)
        t1, t2 = _instant(start, "--from"), _instant(end, "--to")
        with isolated_system(built.settings, "whatif") as isolated, \
                (isolated_system(built.settings, "baseline") if baseline
                 else nullcontext()) as reference, progress_bar(console) as progress:
            task = progress.add_task("replaying", total=None)
            report = what_if(built.desk, isolated, changed, baseline=reference, start=t1,
                             end=t2, progress=lambda d, t: progress.update(
                                 task, completed=d, total=t))
    if as_json:
        _echo_json(report.to_dict())
        return
    _what_if_text(report)


def _fmt(figures: dict[str, Any], name: str) -> str:
    value = figures[name]
    if name == "money":
        return ", ".join(value.values()) or "0"
    return str(value)


def _delta(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(v if v.startswith("-") else f"+{v}" for v in value.values()) or "0"
    return f"{value:+d}" if value else "0"


FIGURE_NAMES = ("charges", "credits", "money", "sla_breaches", "paid_modifications",
                "free_modifications")


def _what_if_text(report: Any) -> None:
    data = report.to_dict()
    period = f"{data['from'] or 'the beginning'} to {data['to'] or 'the end'}"
    before = "the recorded history" if report.baseline is None else \
        "a replay under the recorded profiles"
    click.echo(f"what if {report.profile['id']} had been {report.profile['source']}, "
               f"from {period}; compared with {before}:")
    if not report.desk_found:
        click.echo(f"note: no desk {report.profile['id']!r} in the log; nothing changes")
    click.echo(f"{data['commands']} recorded commands replayed, {data['timers_fired']} "
               f"timer events, {len(report.rejected)} rejected under the changed profile")
    counted, shown = data["totals"]["customers"], len(data["customers"])
    label = f"TOTAL (all {counted} customer{'' if counted == 1 else 's'}; {shown} shown)"
    rows = [*data["customers"], {"customer": label, **data["totals"]}]
    # Only the figures that changed somewhere: a what-if is read for its differences.
    names = [n for n in FIGURE_NAMES if any(r["difference"][n] for r in rows)] or \
        ["charges", "credits"]
    table = Table()
    table.add_column("customer")
    for name in names:
        table.add_column(name.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(row["customer"], *(
            f"{_fmt(row['before'], n)} -> {_fmt(row['what_if'], n)} "
            f"({_delta(row['difference'][n])})" for n in names))
    table_console().print(table)
    for r in report.rejected[:20]:
        click.echo(f"rejected {r.at} {r.command} {json.dumps(r.args)}: {r.code}: {r.message}")
    if len(report.rejected) > 20:
        click.echo(f"... and {len(report.rejected) - 20} more (--json shows all)")
    fidelity = data["fidelity"]
    if fidelity and (fidelity["customers"] or fidelity["rejected"]):
        changed = ", ".join(f"{n} {_delta(v)}" for n, v in fidelity["difference"].items()
                            if v)
        click.echo(f"note: the baseline replay differs from the recorded history ({changed}"
                   f" over {len(fidelity['customers'])} customer(s)): the recorded "
                   "scheduler fired some timers after their due time; --json shows them")
