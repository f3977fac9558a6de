"""Commands of the published log: `relay`, `verify`, `log-key show` / `log-key new` and
`schema export` / `schema docs` / `schema publish` (`schema export` also writes the
policy profile schema, for vendors writing profiles).

Wiring only: each command builds the system from the settings, calls one component
(`consumers.relay`, `replay.verify`, `supportlog.log_key`, `eventlog.catalogue`) and
turns its answer into output and an exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from supportlog.cli.shared import (
    EXIT_CHECK_FAILED,
    progress_bar,
    settings,
    stop_on_signals,
    system,
)

if TYPE_CHECKING:  # imported where used: the command line starts without them
    from replay.verify import VerifyReport
    from replay.verify_topic import TopicContents


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(relay)
    main.add_command(verify)
    main.add_command(log_key)
    main.add_command(schema)


# --- relay ------------------------------------------------------------------------------

@click.command()
@click.option("--from", "from_position", type=click.IntRange(min=0), default=None,
              metavar="POSITION",
              help="Republish every stored event from this position on (0: the whole "
                   "store), then go on relaying. Only moves back, never skips.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000,
              show_default=True, help="Events per produced and acknowledged batch.")
def relay(from_position: int | None, batch_size: int) -> None:
    """Publish every stored event to the topic, in store order, until SIGTERM.

    At start, if the topic lost what the relay had published (an empty topic, or a
    partition behind the offsets the relay recorded: a restarted embedded broker, a
    new cluster), it republishes from the start of the store (after --from too). On
    SIGTERM it finishes the batch in hand and exits 0. Logs are JSON lines on stderr.
    """
    from supportlog.logs import use_json_logs
    from supportlog.runtime import settle_heap

    use_json_logs()
    stop = stop_on_signals()  # before connecting: a SIGTERM during start is graceful too
    with system() as built:
        relay_ = built.relay(batch_size=batch_size)
        if from_position is not None:
            relay_.rewind_to(max(from_position - 1, 0))
        settle_heap()
        relay_.run(stop)


# --- verify -----------------------------------------------------------------------------

@click.command()
@click.option("--kafka", "check_kafka", is_flag=True,
              help="Also check that the topic holds every relayed event, with the same "
                   "hash, and nothing the store lacks.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=120.0,
              show_default=True, help="Seconds allowed for reading the whole topic.")
@click.option("--require-macs", is_flag=True,
              help="Report every event written before MACs existed too (by default they "
                   "are counted: only the hash chains cover them).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def verify(check_kafka: bool, timeout_s: float, require_macs: bool, as_json: bool) -> None:
    """Check the log for tampering (R-AUD-3); exit 1 if anything was altered, removed
    or inserted, each named by position and event id.

    Walks the whole store in order: every event's hash is recomputed and its MAC under
    the log key checked, every link to the previous event of its aggregate checked,
    every position compared with the relay's keyed record of what it read, and the
    log-wide chain with the relay's checkpoints. Needs the log key the store was
    written with (SUPPORTLOG_LOG_KEY or SUPPORTLOG_HOME/log.key).
    """
    from rich.console import Console

    from replay.verify import verify_store
    from replay.verify_topic import read_topic
    from supportlog.log_key import LogKeyError

    with system() as built:
        if built.log_key is None:
            raise LogKeyError(built.seal.problem or "no log key")
        conn = built.connect()
        with progress_bar(Console(stderr=True)) as bar:
            topic = None
            if check_kafka:
                task = bar.add_task("reading the topic", total=None)
                topic = read_topic(conn, built.kafka_bootstrap, built.settings.topic,
                                   timeout_s, progress=lambda n: bar.update(task, completed=n))
                bar.update(task, completed=topic.records, total=topic.records)
            head = built.desk.recorder.max_notification_id() or 0
            task = bar.add_task("walking the store", total=head)
            report = verify_store(
                built.desk, conn, key=built.log_key, require_macs=require_macs,
                published=topic.published if topic else None,
                published_to=topic.relay_position if topic else 0,
                progress=lambda position: bar.update(task, completed=position))
    if as_json:
        click.echo(orjson.dumps({**_summary(report), "topic": None if topic is None else {
            "name": built.settings.topic, "records": topic.records,
            "events": len(topic.published), "relay_position": topic.relay_position,
            "undecodable": topic.undecodable}, "problems": [
            {"position": p.position, "event_id": p.event_id, "kind": p.kind,
             "reason": p.reason} for p in report.problems]}).decode())
    else:
        _print_report(report, topic, built.settings.topic)
    if not report.ok:
        sys.exit(EXIT_CHECK_FAILED)


def _summary(report: VerifyReport) -> dict[str, Any]:
    return {"ok": report.ok, "events": report.events, "aggregates": report.aggregates,
            "key_id": report.key_id, "macs_checked": report.macs_checked,
            "written_before_macs": report.written_before_macs,
            "macs_unchecked": report.macs_unchecked,
            "recorded": list(report.recorded) if report.recorded else None,
            "checkpoints": report.checkpoints, "chained_to": report.chained_to,
            "vacant_positions": report.vacant, "topic_checked_to": report.topic_checked_to}


def _print_report(report: VerifyReport, topic: TopicContents | None,
                  topic_name: str) -> None:
    click.echo(f"walked {report.events} events of {report.aggregates} aggregates; "
               f"{report.macs_checked} MACs checked with log key {report.key_id}"
               + (f", {report.written_before_macs} events written before MACs"
                  if report.written_before_macs else ""))
    recorded = (f"the relay's record covers positions {report.recorded[0]} to "
                f"{report.recorded[1]}" if report.recorded else "no record of the relay")
    click.echo(f"{recorded}; log chain checked against {report.checkpoints} checkpoint(s) "
               f"up to position {report.chained_to}; {report.vacant} vacant position(s)")
    if topic is not None:
        click.echo(f"topic {topic_name}: {topic.records} records, "
                   f"{len(topic.published)} distinct events, relay at position "
                   f"{topic.relay_position}"
                   + (f", {topic.undecodable} undecodable" if topic.undecodable else ""))
    if report.ok:
        click.echo("intact: nothing altered, removed or inserted")
        return
    click.echo(f"{len(report.problems)} finding(s):")
    for problem in report.problems:
        click.echo(f"  {problem}")


# --- log key ----------------------------------------------------------------------------

@click.group("log-key")
def log_key() -> None:
    """The log key that seals every stored event (docs/tamper-evidence.md)."""


@log_key.command("show")
def log_key_show() -> None:
    """Show which key this process has and which key the store records (ids only, never
    a key); exit 1 if they differ or this process may not write."""
    from eventlog.log_key import read_key_record

    with system() as built:
        record = read_key_record(built.connect())
        key, problem = built.log_key, built.seal.problem
    click.echo(f"this process: {f'log key {key.id}' if key else 'no usable log key'}")
    if record is not None:
        click.echo(f"the store:    log key {record.key_id}, epoch {record.epoch}, every "
                   f"event after position {record.sealed_after} carries a MAC under it")
    if problem is not None:
        click.echo(f"refused to write: {problem}")
        sys.exit(EXIT_CHECK_FAILED)


@log_key.command("new")
@click.option("--yes", "confirmed", is_flag=True,
              help="Confirm: the MACs written under the store's current key can no "
                   "longer be checked.")
def log_key_new(confirmed: bool) -> None:
    """Make a new key the store's key, from its current head on: for a lost key.

    Uses SUPPORTLOG_LOG_KEY or an existing key file that is not the store's key, else
    creates SUPPORTLOG_HOME/log.key. Events written until now keep their MACs, which
    `verify` then counts as unchecked. Stop every other process of the deployment first.
    """
    from eventlog.log_key import read_key_record, replace_key
    from supportlog.log_key import (
        LogKeyError,
        configured_key,
        create_key_file,
        key_path,
    )

    if not confirmed:
        raise click.UsageError("a new key cannot check the MACs written before it: "
                               "add --yes to go ahead")
    with system() as built:
        conn = built.connect()
        record = read_key_record(conn)
        key = configured_key(built.settings)
        if key is not None and record is not None and key.id == record.key_id:
            raise LogKeyError(f"log key {key.id} is already the store's key: nothing to "
                              "replace")
        key = key or create_key_file(key_path(built.settings))
        head = built.desk.recorder.max_notification_id() or 0
        new = replace_key(conn, key, head, record)
        if new is None:
            raise LogKeyError("the store's key record changed meanwhile: look again "
                              "(`supportlog log-key show`)")
    before = (f"; MACs up to there were written under key {record.key_id} (epoch "
              f"{record.epoch}) and are no longer checked" if record else "")
    click.echo(f"log key {new.key_id} (epoch {new.epoch}) seals every event after "
               f"position {new.sealed_after}{before}")


# --- schema -----------------------------------------------------------------------------

@click.group()
def schema() -> None:
    """The event catalogue, the policy profile format and the API: JSON Schemas, the
    AsyncAPI document and the OpenAPI document."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write the envelope's and every event type's JSON Schema, asyncapi.json and the
    policy profile schema (profile.schema.json) and the HTTP API's openapi.json to
    DIRECTORY (created if missing)."""
    from domain.policy.profile_check import SCHEMA_FILE, profile_schema
    from eventlog.asyncapi import asyncapi_document
    from eventlog.catalogue import schema_files
    from supportlog.http.app import openapi_document

    chosen = settings()
    files = {**schema_files(),
             "asyncapi.json": asyncapi_document(chosen.topic, chosen.partitions),
             SCHEMA_FILE: profile_schema(), "openapi.json": openapi_document()}
    for relative, document in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    click.echo(f"wrote {len(files)} files to {directory}")


@schema.command("docs")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path),
                default=Path("docs/events.md"))
@click.option("--check", is_flag=True, help="Only check; exit 1 if the file is stale.")
def schema_docs(path: Path, check: bool) -> None:
    """Regenerate the event reference section of PATH (default docs/events.md)."""
    from eventlog.catalogue_docs import StaleMarkersError, with_reference

    current = path.read_text()
    try:
        updated = with_reference(current)
    except StaleMarkersError as e:
        raise click.UsageError(f"{path}: {e}") from e
    if check:
        if updated != current:
            click.echo(f"{path} is stale: run `supportlog schema docs {path}`")
            sys.exit(EXIT_CHECK_FAILED)
        click.echo(f"{path} is up to date")
        return
    path.write_text(updated)
    click.echo(f"{path}: " + ("updated" if updated != current else "already up to date"))


@schema.command("publish")
def schema_publish() -> None:
    """Record the current version of every event type as published (eventlog's
    published.json, for developers): refused, exit 1, if a published version lost,
    renamed or retyped a field; that is a new version with an upcaster."""
    from eventlog.catalogue import PUBLISHED_FILE, publication_problems, published_now

    refused = [p for p in publication_problems() if "publish it" not in p]
    for problem in refused:
        click.echo(f"refused: {problem}", err=True)
    if refused:
        sys.exit(EXIT_CHECK_FAILED)
    text = orjson.dumps(published_now(), option=orjson.OPT_INDENT_2).decode() + "\n"
    changed = text != PUBLISHED_FILE.read_text(encoding="utf-8")
    if changed:
        PUBLISHED_FILE.write_text(text, encoding="utf-8")
    click.echo(f"{PUBLISHED_FILE}: " + ("updated" if changed else "already up to date"))
