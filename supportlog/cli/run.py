"""Commands for production: `run` (relay, projector and scheduler), `schedule`, and
`command` (JSON-lines commands on stdin, for front ends and scripts)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

import click
import orjson

from consumers.outage import DatabaseUnavailableError
from domain.actor import Actor
from domain.errors import InvalidArgumentError, SupportlogError
from supportlog.cli.shared import fail, operator, part_thread, stop_on_signals, system

log = logging.getLogger("supportlog.run")


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(run)
    main.add_command(schedule)
    main.add_command(command)
    main.add_command(adopt)


@click.command()
@click.option("--interval", default=1.0, show_default=True,
              help="Seconds between the scheduler's looks at the timers.")
def run(interval: float) -> None:
    """Relay, projector (consumer group) and scheduler, until SIGTERM.

    On SIGTERM each part finishes the batch in hand (positions are stored with it)
    and the process exits 0; if a part fails the others stop and it exits 1.
    """
    from supportlog.logs import use_json_logs
    from supportlog.runtime import settle_heap

    use_json_logs()
    stop = stop_on_signals()
    failures: list[str] = []
    with system() as built:
        workers = built.workers(scheduler_interval_s=interval)
        settle_heap()
        threads = [part_thread(w.name, lambda w=w: w.run(stop), stop, failures)
                   for w in workers]
        log.info("supportlog running", extra={"topic": built.settings.topic,
                                               "group": built.settings.group_id})
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
    if failures:
        log.error("stopped after a failure", extra={"failures": failures})
        sys.exit(1)
    log.info("stopped cleanly")


@click.command()
@click.option("--once", is_flag=True, help="Fire what is due now and exit.")
@click.option("--now", "now_text", default=None,
              help="The instant to act at (ISO-8601 with offset); default: the wall clock.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between looks.")
def schedule(once: bool, now_text: str | None, interval: float) -> None:
    """Fire due timers (SLA breaches, auto-close, rollovers, expiries) until SIGTERM."""
    from domain.commands.args import instant
    from supportlog.logs import use_json_logs
    from supportlog.scheduler import wall_clock

    use_json_logs()
    try:
        clock = (lambda: instant(now_text, "--now")) if now_text else wall_clock
        clock()  # a malformed --now is bad usage before anything starts
    except InvalidArgumentError as e:
        raise click.BadParameter(e.message) from e
    with system() as built:
        scheduler = built.scheduler()
        if once:
            fired = scheduler.fire_due(clock())
            log.info("timers fired", extra={"fired": fired})
            return
        scheduler.run(stop_on_signals(), clock=clock, interval_s=interval)


def answer_line(desk, line: str | bytes, clock: Callable[[], datetime],
                actor: Actor | None = None,
                new_error_id: Callable[[], str] = lambda: uuid4().hex[:12]) -> dict:
    """Executes one JSON-lines command as `actor` and returns its answer; never raises an
    Exception (`domain.commands.request`). An unexpected failure is answered
    `internal_error` naming an id from `new_error_id`, logged with its traceback; a
    lost database is answered `database_unavailable` (the command wrote nothing)."""
    from consumers.outage import lost_server
    from domain.commands.request import answer_json

    lost: list[BaseException] = []

    def report(error: BaseException) -> str:
        if lost_server(error) == "database":
            lost.append(error)
            return "-"
        error_id = new_error_id()
        log.error("a command line failed unexpectedly", exc_info=error,
                  extra={"error_id": error_id})
        return error_id

    answer = answer_json(desk, line, clock, report, actor)
    if lost:
        return {"accepted": False, "code": "database_unavailable", "message":
                f"PostgreSQL does not answer ({type(lost[0]).__name__}); the command wrote "
                "nothing, and a repeat with the same command_id has no second effect"}
    return answer


@click.command()
@click.argument("profile")
@click.option("--at", "at_text", default=None, help="When it takes effect (default: now).")
def adopt(profile: str, at_text: str | None) -> None:
    """Adopt a policy profile for its desk: a built-in id (`insales`, `cart-power@1`) or
    a profile file. Adopting is an event; history keeps the version in force then."""
    from domain.commands.args import instant
    from supportlog.scenario import StepError, load_profile
    from supportlog.scheduler import wall_clock

    try:
        chosen = load_profile(profile, None)
        at = instant(at_text, "--at") if at_text else wall_clock()
    except (StepError, SupportlogError) as e:
        raise click.BadParameter(str(e)) from e
    with system() as built:
        changed = built.desk.adopt(chosen, at, actor=operator())
    click.echo(f"{chosen.id} v{chosen.version} " + ("adopted" if changed else
                                                     "was already in force"))


@click.command()
@click.option("--desk", default=None,
              help="The desk (profile id) this session acts on: new customers register "
                   "with it, and another desk's data does not exist for it.")
def command(desk: str | None) -> None:
    """Read commands as JSON lines on stdin and answer each with a JSON line.

    A line is {"do": "...", "args": {...}, "at": "ISO instant" (default now),
    "command_id": "..." (optional: a repeat has no second effect; the same id with
    other arguments is refused)}; the answer is {"accepted": true, "events": [...],
    "position": N} or {"accepted": false, "code", "message"}. Every event records the
    operator (`cli:<os user>`) as its actor. Every line is answered: bad input with
    `invalid_argument`, an unexpected failure with `internal_error` and an id that its
    JSON log line on stderr carries.
    """
    from supportlog.logs import use_json_logs
    from supportlog.scheduler import wall_clock

    use_json_logs()
    actor = operator(desk)
    with system() as built:
        built.desk.default_profile = desk
        for line in sys.stdin.buffer:  # bytes: invalid UTF-8 is one bad line, not the end
            if line.strip():
                answer = answer_line(built.desk, line, wall_clock, actor)
                sys.stdout.write(orjson.dumps(answer).decode() + "\n")
                sys.stdout.flush()
                if answer.get("code") == "database_unavailable":
                    # the lines after it would wait out the lost server one by one
                    fail(DatabaseUnavailableError(answer["message"]))
