"""Commands of the projector: project, status, dlq.

`project` is the long-running consumer: it joins the projector group, folds until
SIGTERM or SIGINT, finishes the batch in hand (its rows and offsets commit together, so
nothing else needs saving) and leaves the group, logging JSON lines to stderr. `status`
reads positions without changing anything; `dlq` lists and retries quarantined events.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click

from supportlog.cli.shared import (
    EXIT_CHECK_FAILED,
    EXIT_UNAVAILABLE,
    settings,
    stop_on_signals,
    system,
)

log = logging.getLogger("supportlog.project")


def project_command(session_timeout_ms: int | None, standalone: bool, poll_ms: int,
                    verbose: bool) -> None:
    """Runs the projector until SIGTERM/SIGINT (see `supportlog project --help`)."""
    from kafka.errors import InvalidSessionTimeoutError

    from domain.errors import InvalidArgumentError
    from supportlog.cli.shared import fail
    from supportlog.logs import use_json_logs
    from supportlog.runtime import settle_heap

    use_json_logs(verbose=verbose)
    stop = stop_on_signals()
    overrides: dict[str, Any] = {}
    if session_timeout_ms is not None:
        overrides = {"session_timeout_ms": session_timeout_ms,
                     "heartbeat_interval_ms": max(100, session_timeout_ms // 4)}
    with system() as built:
        group = built.settings.group_id
        log.info("projector starting", extra={
            "group": group, "topic": built.settings.topic, "pid": os.getpid(),
            "mode": "standalone" if standalone else "group"})
        # Closed by the system on the way out, the consumer leaves the group at once, so
        # the other members rebalance without waiting for its session to time out.
        projector = built.projector(
            join_group=not standalone, dead_letters=True, consumer_overrides=overrides,
            client_id=f"supportlog-projector-{group}-{os.getpid()}")
        settle_heap()
        try:
            projector.run(stop, timeout_ms=poll_ms)
        except InvalidSessionTimeoutError:
            fail(InvalidArgumentError(
                f"--session-timeout-ms: the broker refuses a "
                f"{projector.consumer.config['session_timeout_ms']} ms session: it must "
                "lie within its group.min.session.timeout.ms and "
                "group.max.session.timeout.ms (Apache Kafka's defaults: 6000 and 1800000)"))
    log.info("projector stopped", extra={"group": group, "pid": os.getpid()})


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""

    @main.command("project")
    @click.option("--session-timeout-ms", type=click.IntRange(min=500), default=None,
                  help="Consumer-group session timeout (default 6000): how soon a dead "
                  "member's partitions move to the others. The broker must allow it "
                  "(Apache Kafka: group.min.session.timeout.ms, default 6000).")
    @click.option("--standalone", is_flag=True,
                  help="Read every partition without joining the group (one projector).")
    @click.option("--poll-ms", type=click.IntRange(min=10), default=200, show_default=True,
                  help="How long one poll waits for records.")
    @click.option("-v", "--verbose", is_flag=True, help="Log the Kafka client too.")
    def project(session_timeout_ms: int | None, standalone: bool, poll_ms: int,
                verbose: bool) -> None:
        """Fold the topic into the read models until SIGTERM (JSON-lines log on stderr).

        Joins the projector group (SUPPORTLOG_GROUP); start several to split the
        partitions. Each batch's rows and offsets commit in one transaction, so a
        stop or a crash at any point loses and repeats nothing.
        """
        project_command(session_timeout_ms, standalone, poll_ms, verbose)

    @main.command("status")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    def status(as_json: bool) -> None:
        """Show the store head, the relay and what the topic holds, each projector
        group's lag, the quarantine and the servers (which, their versions, health);
        exit 3 if a server does not answer, 1 if something is wrong (a lost topic, a
        schema not migrated yet)."""
        from supportlog.status import collect, render

        report = collect(settings())
        click.echo(json.dumps(report.to_dict(), indent=2) if as_json else render(report))
        if report.unreachable:
            sys.exit(EXIT_UNAVAILABLE)
        if not report.healthy:
            sys.exit(EXIT_CHECK_FAILED)

    @main.group("dlq")
    def dlq() -> None:
        """List or retry the events the projector quarantined (and dead-lettered)."""

    @dlq.command("list")
    @click.option("--all", "include_retried", is_flag=True, help="Include retried ones.")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
    def dlq_list(include_retried: bool, as_json: bool) -> None:
        """List quarantined records: where they were, why, and whether they were sent
        to the dead-letter topic or retried."""
        from consumers.dead_letter import list_quarantine

        with system() as built:
            rows = list_quarantine(built.connect(), built.settings.topic, include_retried)
        if as_json:
            click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
            return
        if not rows:
            click.echo("the quarantine is empty")
        for r in rows:
            state = ("retried" if r.retried else
                     "dead-lettered" if r.dead_lettered_at else "not yet dead-lettered")
            click.echo(f"{r.topic}/{r.partition}@{r.offset}  {r.event_type or '?'}  "
                       f"v{r.aggregate_version if r.aggregate_version is not None else '?'}  "
                       f"{state}  {r.reason}"
                       + (f"  (last retry: {r.last_retry_error})" if r.last_retry_error
                          else ""))

    @dlq.command("retry")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    def dlq_retry(as_json: bool) -> None:
        """Fold the quarantined events again (after their problem is fixed); those that
        fold are marked retried, the others keep waiting with the new error. Exit 1 if
        some still fail."""
        from consumers.dead_letter import retry_quarantined

        with system() as built:
            report = retry_quarantined(built.connect(), built.settings.topic)
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            click.echo(f"folded {report.folded}, already applied {report.already_applied}, "
                       f"still failing {len(report.still_failing)}")
            for line in report.still_failing:
                click.echo(f"  {line}")
        if report.still_failing:
            sys.exit(EXIT_CHECK_FAILED)
