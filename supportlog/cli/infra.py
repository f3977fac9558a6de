"""Commands of the embedded servers: `infra up`, `infra status`, `infra down`.

What they print names each server (the broker and its version) and how to connect; a
password is never printed: the analyst's and the superuser's are in `pgpass` (mode
0600) in the home folder, which `PGPASSFILE` points psql and libpq at.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from supportlog.bootstrap import embedded_infra
from supportlog.cli.shared import EXIT_CHECK_FAILED, EXIT_UNAVAILABLE, settings


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(infra)


@click.group()
def infra() -> None:
    """Start, inspect or stop the embedded PostgreSQL and broker."""


def connect_lines(embedded) -> list[str]:
    """How to connect to the running embedded servers, without a password in sight."""
    state = embedded.read_state()
    if state is None or state.credentials is None:
        return []
    return [f"psql (analyst): PGPASSFILE={embedded.pgpass_path} psql "
            f"'{embedded.analyst_url(state)}'",
            f"psql (owner):   PGPASSFILE={embedded.pgpass_path} psql "
            f"'postgresql://postgres@127.0.0.1:{state.postgres.port}/postgres'"]


@infra.command("up")
def infra_up() -> None:
    """Start the embedded servers that are not running, on their recorded ports, and
    print what they are and where."""
    chosen = settings()
    if not chosen.embedded:
        click.echo("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are set: nothing embedded starts")
        return
    embedded = embedded_infra(chosen)
    state = embedded.up()
    for server in (state.postgres, state.kafka):
        click.echo(f"{server.name:<9} up  {server.described:<20} pid {server.pid:<7} "
                   f"127.0.0.1:{server.port}")
    for line in connect_lines(embedded):
        click.echo(line)


@infra.command("status")
def infra_status() -> None:
    """Show each embedded server's health; exit 3 if one is down."""
    chosen = settings()
    if not chosen.embedded:
        click.echo(f"using configured servers: {chosen.kafka_bootstrap} ({chosen.broker})")
        return
    servers = embedded_infra(chosen).servers()
    for name, status, server in servers:
        where = (f"{server.described:<20} pid {server.pid or '-':<7} 127.0.0.1:{server.port}"
                 if server else "")
        click.echo(f"{name:<9} {status:<12} {where}")
    if any(status != "up" for _name, status, _server in servers):
        sys.exit(EXIT_UNAVAILABLE if any(status == "down" for _n, status, _s in servers)
                 else EXIT_CHECK_FAILED)


@infra.command("down")
def infra_down() -> None:
    """Stop the embedded servers by PID. Their data, ports and logins stay."""
    chosen = settings()
    embedded_infra(chosen).down()
    click.echo(f"stopped the embedded servers of {Path(chosen.home).resolve()}")
