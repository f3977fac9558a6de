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
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from supportlog.settings import Settings, SettingsError

log = logging.getLogger("supportlog.project")

#: Attributes every LogRecord has; anything else was passed in `extra` and is logged.
_STANDARD = {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per line: instant, level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(), "logger": record.name,
            "msg": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise click.UsageError(str(e)) from e


def _log_json(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("kafka").setLevel(logging.INFO if verbose else logging.WARNING)


def project_command(session_timeout_ms: int | None, standalone: bool, poll_ms: int,
                    verbose: bool) -> None:
    """Runs the projector until SIGTERM/SIGINT (see `supportlog project --help`)."""
    from consumers.dead_letter import DeadLetters, ensure_dead_letter_topic
    from consumers.kafka_config import make_consumer, make_producer
    from consumers.projector import Projector
    from supportlog.bootstrap import bootstrap
    from supportlog.runtime import settle_heap

    _log_json(verbose)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    system = bootstrap(_settings())
    settings = system.settings
    group = settings.group_id
    overrides: dict[str, Any] = {}
    if session_timeout_ms is not None:
        overrides = {"session_timeout_ms": session_timeout_ms,
                     "heartbeat_interval_ms": max(100, session_timeout_ms // 4)}
    consumer = make_consumer(system.kafka_bootstrap, group_id=None if standalone else group,
                             client_id=f"supportlog-projector-{group}-{os.getpid()}",
                             **overrides)
    producer = make_producer(system.kafka_bootstrap)
    try:
        ensure_dead_letter_topic(system.kafka_bootstrap, settings.topic)
        dead_letters = DeadLetters(system.connect(), producer, settings.topic)
        projector = Projector(system.connect(), consumer, settings.topic, group,
                              faults=system.faults, dead_letters=dead_letters)
        log.info("projector starting", extra={
            "group": group, "topic": settings.topic, "pid": os.getpid(),
            "mode": "standalone" if standalone else "group"})
        dead_letters.publish_pending()  # a crash may have left some unsent
        if standalone:
            projector.assign_all()
        else:
            projector.subscribe()
        settle_heap()
        projector.run(stop, timeout_ms=poll_ms)
    finally:
        consumer.close()  # leaves the group now, so the others rebalance at once
        producer.close()
        system.close()
    log.info("projector stopped", extra={"group": group, "pid": os.getpid()})


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""

    @main.command("project")
    @click.option("--session-timeout-ms", type=click.IntRange(min=500), default=None,
                  help="Consumer-group session timeout (default 6000): how soon a dead "
                  "member's partitions move to the others.")
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
        """Show the store head, the relay, each projector group's lag, the quarantine
        and the servers' health; exit 1 if a server is down."""
        from supportlog.status import collect, render

        report = collect(_settings())
        click.echo(json.dumps(report.to_dict(), indent=2) if as_json else render(report))
        if not report.healthy:
            sys.exit(1)

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

        system = _system()
        try:
            rows = list_quarantine(system.connect(), system.settings.topic, include_retried)
        finally:
            system.close()
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

        system = _system()
        try:
            report = retry_quarantined(system.connect(), system.settings.topic)
        finally:
            system.close()
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            click.echo(f"folded {report.folded}, already applied {report.already_applied}, "
                       f"still failing {len(report.still_failing)}")
            for line in report.still_failing:
                click.echo(f"  {line}")
        if report.still_failing:
            sys.exit(1)


def _system() -> Any:
    from supportlog.bootstrap import bootstrap

    return bootstrap(_settings())
