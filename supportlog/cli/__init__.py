"""The command line: arguments in, a command or a report out; error codes to exit status.

One module per area adds its commands to `main`: `infra` (embedded servers), `log`
(relay, verify, schema), `projector` (project, status, dlq), `replay` (rebuild, asof,
audit, whatif), `run` (run, schedule, command, adopt), `reference` (commands: the
command vocabulary), `bench`, `scenario` (scenario, demo), `privacy` (erase, privacy),
`tokens` (token create/list/revoke), `serve` (the HTTP API with the pipeline); `shared`
holds what they all use. It takes `now` from the clock chosen at
startup (the system clock here; scenarios and the demo use a simulated one) and never
decides anything itself.
"""

from __future__ import annotations

import importlib
import logging
import warnings

import click

from domain.errors import SupportlogError
from supportlog.cli.shared import fail
from supportlog.settings import ENVIRONMENT

#: Modules that add commands to `main`; each defines `register(main)`.
COMMAND_MODULES = ("infra", "scenario", "log", "projector", "replay", "run", "reference",
                   "bench", "privacy", "tokens", "serve")


class _Commands(click.Group):
    """The command group, which turns a typed error of any command into its message and
    exit status (`shared.fail`), however the command was invoked."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SupportlogError as e:
            fail(e)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]},
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
    # A one-shot command reports a lost broker itself, in one line (exit 3); the Kafka
    # client's own complaints (a refresh cancelled at close, a refused connection) are
    # noise there. Long-running commands log them as JSON lines (`use_json_logs`).
    logging.getLogger("kafka").setLevel(logging.INFO if verbose else logging.CRITICAL)


def entry_point() -> None:
    """Entry point of the `supportlog` command (a module of this package is named `run`)."""
    main(standalone_mode=True)


for _name in COMMAND_MODULES:
    importlib.import_module(f"supportlog.cli.{_name}").register(main)
