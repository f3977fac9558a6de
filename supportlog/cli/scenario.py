"""Commands that play activity through the whole pipeline: `scenario run` (acceptance
scenarios, each in a database and topic of its own) and `demo` (a generated month)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from supportlog.cli.shared import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, settings


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(demo)
    main.add_command(scenario)


def demo_end(value: str | None, now: datetime) -> datetime:
    """Returns the instant the demo's days end: `now` to the minute, or `--end` (a date
    means its midnight UTC; an instant needs its offset). The clock is read here, at the
    command line, never by the demo or its workload."""
    from domain.commands.args import instant
    from domain.errors import InvalidArgumentError

    if value is None:
        return now.replace(second=0, microsecond=0)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            return instant(value, "--end")
        except InvalidArgumentError as e:
            raise click.BadParameter(f"{e.message} (or a date: 2026-04-01)",
                                     param_hint="--end") from e
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@click.command()
@click.option("--seed", default=7, show_default=True, help="Seed of the generated month.")
@click.option("--customers", default=200, show_default=True, help="Customers to generate.")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Days of activity, ending at --end.")
@click.option("--end", "end_text", metavar="DATE",
              help="When the days end: a date (its midnight UTC) or an ISO instant, for "
                   "a run that gives the same ids and dates every time [default: now].")
@click.option("--fresh", is_flag=True, help="Start from an empty database first.")
def demo(seed: int, customers: int, days: int, end_text: str | None, fresh: bool) -> None:
    """Play the last month of five desks through the real pipeline and report.

    The days end now (or at --end), so the queue, due times and bans are live and a
    later `run` carries on from there."""
    from supportlog.demo import run_demo
    from supportlog.scheduler import wall_clock

    end = demo_end(end_text, wall_clock())
    run_demo(settings(), seed=seed, customers=customers, days=days, end=end, fresh=fresh)


@click.group()
def scenario() -> None:
    """Acceptance scenarios: a policy profile and timed steps (see scenario-format)."""


@scenario.command("run")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run.")
def scenario_run(files: tuple[Path, ...], as_json: bool) -> None:
    """Play FILES through the whole pipeline; exit 0 only if every check holds, 1 if a
    check failed, 2 if a file could not be read as JSON (the others are still played)."""
    from supportlog.bootstrap import isolated_system
    from supportlog.scenario import ScenarioFileError, ScenarioRunner, load_scenario

    failed = bad_input = False
    for path in files:
        try:
            data = load_scenario(path)
        except ScenarioFileError as e:
            click.echo(f"error: {e.code}: {e.message}", err=True)
            bad_input = True
            continue
        with isolated_system(settings()) as system:
            report = ScenarioRunner(system).run(data, base_dir=path.parent)
        failed = failed or report.failed > 0
        if as_json:
            click.echo(json.dumps(report.to_dict()))
        else:
            click.echo(f"{path}: {report.passed} passed, {report.failed} failed")
            for failure in report.failures:
                click.echo(f"  {failure}")
    sys.exit(EXIT_BAD_INPUT if bad_input else EXIT_CHECK_FAILED if failed else 0)
