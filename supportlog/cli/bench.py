"""Commands of the benchmarks: bench.

`supportlog bench` measures each stage of the pipeline against its raw baseline in one
run (`supportlog.bench`), on a throwaway database and topic of the configured or
embedded servers, so the user's data is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import click
from rich.console import Console

from supportlog.cli.shared import progress_bar, settings


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(bench)


@click.command()
@click.option("--events", "events", type=click.IntRange(min=100), default=100_000,
              show_default=True, help="About how many events the generated log holds.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (progress goes to stderr).")
@click.option("--seed", type=int, default=7, show_default=True,
              help="Seed of the generated workload.")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Days of activity the workload spreads its customers over.")
@click.option("--latency-samples", type=click.IntRange(min=1), default=None,
              help="Commands timed to the read models [default: N/500, 20 to 200].")
def bench(events: int, as_json: bool, seed: int, days: int,
          latency_samples: int | None) -> None:
    """Measure every stage against its raw baseline (see docs/performance.md)."""
    from supportlog.bench.report import print_report
    from supportlog.bench.runner import BenchPlan, run_bench

    with progress_bar(Console(stderr=as_json), transient=as_json) as progress:
        def track(description: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(description, total=max(total, 1))
            return lambda n: progress.advance(task, n)

        result = run_bench(settings(), BenchPlan(events=events, seed=seed, days=days,
                                                 latency_samples=latency_samples), track)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_report(result, Console())
