"""Commands of the embedded servers: `infra up`, `infra status`, `infra down`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from supportlog.bootstrap import embedded_infra
from supportlog.cli.shared import EXIT_CHECK_FAILED, settings


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(infra)


@click.group()
def infra() -> None:
    """Start, inspect or stop the embedded PostgreSQL and broker."""


@infra.command("up")
def infra_up() -> None:
    """Start the embedded servers (if not running) and print their addresses."""
    chosen = settings()
    if not chosen.embedded:
        click.echo("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are set: nothing embedded starts")
        return
    state = embedded_infra(chosen).up()
    click.echo(f"postgres  up  pid {state.postgres.pid}  {state.database_url}")
    click.echo(f"kafka     up  pid {state.kafka.pid}  {state.kafka_bootstrap}")


@infra.command("status")
def infra_status() -> None:
    """Show each embedded server's health; exit 1 if one is down."""
    chosen = settings()
    if not chosen.embedded:
        click.echo("using configured servers: " f"{chosen.kafka_bootstrap} (Kafka)")
        return
    servers = embedded_infra(chosen).servers()
    for name, status, server in servers:
        where = f"pid {server.pid}  {server.address}" if server else ""
        click.echo(f"{name:<9} {status:<12} {where}")
    if any(status != "up" for _name, status, _server in servers):
        sys.exit(EXIT_CHECK_FAILED)


@infra.command("down")
def infra_down() -> None:
    """Stop the embedded servers by PID. Their data folder stays."""
    chosen = settings()
    embedded_infra(chosen).down()
    click.echo(f"stopped the embedded servers of {Path(chosen.home).resolve()}")
