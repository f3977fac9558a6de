"""Commands for production: run, schedule, command."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
