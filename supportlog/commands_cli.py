"""Command-line commands that run the pipeline: demo (and later run, scenario, audit...)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(demo)


@click.command()
@click.option("--seed", default=7, show_default=True, help="Seed of the generated month.")
@click.option("--customers", default=200, show_default=True, help="Customers to generate.")
@click.option("--days", default=30, show_default=True, help="Days of activity.")
@click.option("--fresh", is_flag=True, help="Start from an empty database first.")
def demo(seed: int, customers: int, days: int, fresh: bool) -> None:
    """Play a generated month of five desks through the real pipeline and report."""
    from supportlog.demo import run_demo

    run_demo(seed=seed, customers=customers, days=days, fresh=fresh)
