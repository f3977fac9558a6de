"""What every command of the command line shares: the settings, the system, exit
statuses, how a typed error is printed, signal handling, progress and tables.

The settings are read once per command from the environment (`Settings.from_env`), and
the system is asked of the composition root (`supportlog.bootstrap`); no command builds
a component itself.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.actor import Actor
from domain.errors import SupportlogError
from supportlog.bootstrap import System, bootstrap
from supportlog.settings import Settings, SettingsError

#: Exit statuses: 0 ok, 1 a check failed, 2 bad usage or input, 3 a server is unreachable.
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3


def settings() -> Settings:
    """Returns the settings of this process's environment; a bad value is a usage error."""
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise click.UsageError(str(e)) from e


@contextmanager
def system() -> Iterator[System]:
    """The deployment's system, built by the composition root and closed afterwards."""
    built = bootstrap(settings())
    try:
        yield built
    finally:
        built.close()


def operator(desk: str | None = None) -> Actor:
    """The principal of this command line: a trusted local tool, recorded as such on
    every event it causes (`cli:<os user>`), kept to `desk` when one is given."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = f"uid{os.getuid()}"
    return Actor("operator", f"cli:{user}", desk=desk)


def fail(error: SupportlogError) -> NoReturn:
    """Prints `error: <code>: <message>` and exits with the status its kind calls for."""
    click.echo(f"error: {error.code}: {error.message}", err=True)
    sys.exit(EXIT_UNAVAILABLE if error.retriable else EXIT_BAD_INPUT)


#: A long-running command ends within this many seconds of SIGTERM or SIGINT, whatever
#: the servers do (issue #16: a relay facing a killed broker once ignored SIGTERM for 80 s).
STOP_DEADLINE_S = 4.5


def stop_on_signals(deadline_s: float = STOP_DEADLINE_S) -> threading.Event:
    """Returns an event that SIGTERM or SIGINT sets: long-running commands finish the
    work in hand and exit 0 once it is set. Every wait of theirs is bounded, but a
    library call may not be (eventsourcing retries a lost database for seconds): if the
    process is still there `deadline_s` after the signal, it exits at once with status 3
    (a server did not let it finish), which is as safe as a crash: every position is
    stored with what it covers, and what was not confirmed is done again next time."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if stop.is_set():
            return
        stop.set()
        late = threading.Timer(deadline_s, _exit_late, (deadline_s,))
        late.daemon = True
        late.start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    return stop


def _exit_late(deadline_s: float) -> None:
    logging.getLogger("supportlog").warning(
        "not stopped %.1f s after the stop signal: a server does not answer; exiting now "
        "(nothing unconfirmed was stored)", deadline_s)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(EXIT_UNAVAILABLE)


def part_thread(name: str, body: Callable[[], None], stop: threading.Event,
                failures: list[str]) -> threading.Thread:
    """Returns a (daemon, unstarted) thread running one part of a long-running command;
    if the part fails, the failure is logged and noted and `stop` is set, so the whole
    process stops, loudly (`run`, `serve`)."""
    def guarded() -> None:
        try:
            body()
        except Exception as e:  # a failing part stops the whole process, loudly
            logging.getLogger("supportlog.run").exception("%s failed", name)
            failures.append(f"{name}: {type(e).__name__}: {e}")
            stop.set()

    return threading.Thread(target=guarded, name=name, daemon=True)


def progress_bar(console: Console, transient: bool = True) -> Progress:
    """A progress display for long work: description, bar, done of total, time taken.

    Only on a terminal: into a pipe or a file it would be noise, and rich ends a
    progress display there with an empty line, which would open the command's output."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=transient,
                    disable=not console.is_terminal)


def table_console() -> Console:
    """A console for tables: the terminal's width, or 160 columns into a pipe or file."""
    console = Console()
    return console if console.is_terminal else Console(width=160)
