"""Commands of the published log: `relay`, `verify` and `schema export` / `schema docs`.

Wiring only: each command builds the system from the settings, calls one component
(`consumers.relay`, `replay.verify`, `eventlog.catalogue`) and turns its answer into
output and an exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from supportlog.cli.shared import (
    EXIT_CHECK_FAILED,
    progress_bar,
    settings,
    stop_on_signals,
    system,
)

#: Broken links printed after the first one; the rest are counted.
_MORE_PROBLEMS_SHOWN = 20


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(relay)
    main.add_command(verify)
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
def verify(check_kafka: bool, timeout_s: float) -> None:
    """Check the log for tampering (R-AUD-3); exit 1 at the first broken link.

    Walks the whole store in order: every event's hash is recomputed, every link to
    the previous event of its aggregate checked, and the log-wide chain compared with
    the relay's checkpoints, which catches a removed or altered last event and a
    deleted tail.
    """
    from rich.console import Console

    from replay.verify import verify_store
    from replay.verify_topic import read_topic

    with system() as built:
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
                built.desk, conn,
                published=topic.published if topic else None,
                published_to=topic.relay_position if topic else 0,
                progress=lambda position: bar.update(task, completed=position))
    click.echo(f"walked {report.events} events of {report.aggregates} aggregates; "
               f"log chain checked against {report.checkpoints} checkpoint(s) up to "
               f"position {report.chained_to}")
    if topic is not None:
        click.echo(f"topic {built.settings.topic}: {topic.records} records, "
                   f"{len(topic.published)} distinct events, relay at position "
                   f"{topic.relay_position}"
                   + (f", {topic.undecodable} undecodable" if topic.undecodable else ""))
    if report.ok:
        click.echo("intact: no broken link")
        return
    click.echo(f"first broken link: {report.first}")
    for problem in report.problems[1:1 + _MORE_PROBLEMS_SHOWN]:
        click.echo(f"  also: {problem}")
    hidden = len(report.problems) - 1 - _MORE_PROBLEMS_SHOWN
    if hidden > 0:
        click.echo(f"  and {hidden} more")
    sys.exit(EXIT_CHECK_FAILED)


# --- schema -----------------------------------------------------------------------------

@click.group()
def schema() -> None:
    """The event catalogue: JSON Schemas and the AsyncAPI document (and the API's
    OpenAPI document)."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write the envelope's and every event type's JSON Schema, asyncapi.json and the
    HTTP API's openapi.json to DIRECTORY (created if missing)."""
    from eventlog.asyncapi import asyncapi_document
    from eventlog.catalogue import schema_files
    from supportlog.http.app import openapi_document

    chosen = settings()
    files = {**schema_files(),
             "asyncapi.json": asyncapi_document(chosen.topic, chosen.partitions),
             "openapi.json": openapi_document()}
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
