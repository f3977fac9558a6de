"""The command line: arguments in, a command or a report out; error codes to exit status.

It takes `now` from the clock chosen at startup (the system clock here; scenarios and
the demo use a simulated one) and never decides anything itself.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click

from domain.errors import SupportlogError
from supportlog.settings import ENVIRONMENT, Settings, SettingsError

#: Exit statuses: 0 ok, 1 a check failed, 2 bad usage or input, 3 a server is unreachable.
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise click.UsageError(str(e)) from e


def fail(error: SupportlogError) -> None:
    """Prints `error: <code>: <message>` and exits with the status its kind calls for."""
    click.echo(f"error: {error.code}: {error.message}", err=True)
    sys.exit(EXIT_UNAVAILABLE if error.retriable else EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Settings come from the environment: "
             + "; ".join(f"{k}: {v}" for k, v in ENVIRONMENT.items()))
@click.option("-v", "--verbose", is_flag=True, help="Log what the servers and clients do.")
def main(verbose: bool) -> None:
    """supportlog: an event-sourced ticket, credit and subscription system for
    software vendors' support desks."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.group()
def infra() -> None:
    """Start, inspect or stop the embedded PostgreSQL and broker."""


@infra.command("up")
def infra_up() -> None:
    """Start the embedded servers (if not running) and print their addresses."""
    settings = _settings()
    if not settings.embedded:
        click.echo("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are set: nothing embedded starts")
        return
    from supportlog.embedded import EmbeddedInfra

    state = EmbeddedInfra(settings.home).up()
    click.echo(f"postgres  up  pid {state.postgres.pid}  {state.database_url}")
    click.echo(f"kafka     up  pid {state.kafka.pid}  {state.kafka_bootstrap}")


@infra.command("status")
def infra_status() -> None:
    """Show each embedded server's health; exit 1 if one is down."""
    settings = _settings()
    if not settings.embedded:
        click.echo("using configured servers: " f"{settings.kafka_bootstrap} (Kafka)")
        return
    from supportlog.embedded import EmbeddedInfra

    infra_ = EmbeddedInfra(settings.home)
    health = infra_.health()
    state = infra_.read_state()
    for name, status in health.items():
        server = getattr(state, name) if state else None
        where = f"pid {server.pid}  {server.address}" if server else ""
        click.echo(f"{name:<9} {status:<12} {where}")
    if any(status != "up" for status in health.values()):
        sys.exit(EXIT_CHECK_FAILED)


@infra.command("down")
def infra_down() -> None:
    """Stop the embedded servers by PID. Their data folder stays."""
    settings = _settings()
    from supportlog.embedded import EmbeddedInfra

    EmbeddedInfra(settings.home).down()
    click.echo(f"stopped the embedded servers of {Path(settings.home).resolve()}")


#: Modules that add commands to `main`; each defines `register(main)`.
COMMAND_MODULES = ("commands_cli", "cli_log", "cli_projector", "cli_replay", "cli_run",
                   "cli_bench")


def _register_commands() -> None:
    """Adds the command groups that live in their own modules."""
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"supportlog.{name}").register(main)


def run() -> None:
    """Entry point with typed errors turned into exit statuses."""
    try:
        main(standalone_mode=True)
    except SupportlogError as e:
        fail(e)


_register_commands()


if __name__ == "__main__":
    run()
