"""Commands that play activity through the whole pipeline: `scenario run` (acceptance
scenarios, each in a database and topic of its own) and `demo` (a generated month)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from supportlog.cli.shared import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, settings


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(demo)
    main.add_command(scenario)


@click.command()
@click.option("--seed", default=7, show_default=True, help="Seed of the generated month.")
@click.option("--customers", default=200, show_default=True, help="Customers to generate.")
@click.option("--days", default=30, show_default=True, help="Days of activity.")
@click.option("--fresh", is_flag=True, help="Start from an empty database first.")
def demo(seed: int, customers: int, days: int, fresh: bool) -> None:
    """Play a generated month of five desks through the real pipeline and report."""
    from supportlog.demo import run_demo

    run_demo(settings(), seed=seed, customers=customers, days=days, fresh=fresh)


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
