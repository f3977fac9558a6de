"""R-PRV-1 for events written before personal data was sealed: they cannot be edited, so
erasing a customer of such a store leaves their plain text in it (and `erase` says so);
`supportlog privacy migrate` copies the store, once, into a new one where every
personal field is sealed, verifies the copy event by event, keeps the mapping and
records it. The new store then answers every audit, as-of and what-if as main did
(R-AUD-1, R-AUD-2, R-AUD-3, R-AUD-4), verifies, and a customer erased in either store is
unreadable there."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import make_conninfo

from domain.personal import ERASED
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.pipeline import Pipeline
from supportlog.privacy.migrate import mapping_digest
from tests.byte_search import database_hits, topic_hits
from tests.conftest import cli_env
from tests.fixtures.main_log import load_main_log, without_actors

IVAN = ["Иван Легасиев", "ivan.legacy@example.ru", "Оплата legacy не проходит"]
OLGA = ["Ольга Легасиева", "olga.legacy@example.org", "olga-legacy-shop.ru",
        "olga-legacy-second.ru", "Ольга legacy: корзина пуста"]


@pytest.fixture
def stores(settings, servers):
    """(the old store's settings, the new store's), the old one loaded with main's log."""
    log = load_main_log(settings.database_url, settings.topic)
    old = replace(settings, log_key=log.log_key_hex)
    name = f"t_{uuid.uuid4().hex[:12]}_new"
    with psycopg.connect(servers[0], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    new = replace(old, database_url=make_conninfo(settings.database_url, dbname=name),
                  topic=f"{settings.topic}-new", group_id=f"{settings.group_id}-new")
    yield old, new, log
    with psycopg.connect(servers[0], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli(settings, *args: str):
    return cli_input(settings, None, *args)


def cli_input(settings, text: str | None, *args: str):
    env = {**cli_env(settings), "SUPPORTLOG_LOG_KEY": settings.log_key or ""}
    return CliRunner().invoke(main, list(args), env=env, input=text)


def test_r_prv_1_an_old_store_is_re_encrypted_into_a_new_one_that_answers_as_main(stores):
    old, new, log = stores
    # Erased through the command stream at the log's last instant, so the what-if below
    # replays the period main's did (with one more command: this erasure).
    erased = cli_input(old, json.dumps({
        "do": "erase_customer", "at": "2026-04-01T11:00:00Z", "args": {
            "customer": "legacy-olga", "by": "dpo", "reason": "request 3"}}), "command")
    assert json.loads(erased.output)["accepted"], erased.output
    left = json.loads(cli(old, "privacy", "report", "--customer", "legacy-olga",
                          "--json").output)
    assert left["events"] == 7  # erasure cannot reach what main wrote in plain text
    assert database_hits(old.database_url, OLGA)
    report = cli(old, "privacy", "report", "--json")
    assert report.exit_code == 1 and json.loads(report.output)["events"] > 40

    migrated = cli(old, "privacy", "migrate", "--into", new.database_url, "--topic",
                   new.topic, "--by", "dpo", "--reason", "seal main's log", "--yes",
                   "--json")
    assert migrated.exit_code == 0, migrated.output
    outcome = json.loads(migrated.output)
    copied = log.events + 1  # main's, and the erasure of legacy-olga
    assert outcome["events"] == copied and outcome["problems"] == []
    assert outcome["sealed"] > 40 and outcome["erased_customers"] == 1

    system = bootstrap(new)
    try:
        Pipeline(system).sync()
        conn = system.connect()
        rows = conn.execute("SELECT position, old_event_id::text, old_hash, "
                            "new_event_id::text, new_hash FROM privacy_migration_map "
                            "ORDER BY position").fetchall()
        record = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb FROM supportdesk_events "
            "WHERE topic = 'privacy.store_migrated'").fetchone()[0]
    finally:
        system.close()
    assert len(rows) == copied and mapping_digest(rows) == record["mapping_sha256"]
    assert (record["by"], record["reason"]) == ("dpo", "seal main's log")
    assert cli(new, "privacy", "report").exit_code == 0  # nothing in plain text
    assert database_hits(new.database_url, [*IVAN, *OLGA]) == {}
    assert topic_hits(new.kafka_bootstrap, [new.topic], [*IVAN, *OLGA]) == {}

    for command, answer in log.outputs.items():
        result = cli(new, *command.split())
        assert result.exit_code == 0, (command, result.output)
        if command.startswith("whatif"):
            answer = {**answer, "commands": answer["commands"] + 1}  # the erasure
        assert without_actors(json.loads(result.output)) == answer, command
    assert cli(new, "verify", "--kafka").exit_code == 0
    assert cli(new, "rebuild", "--compare").exit_code == 0
    shown = json.loads(cli(new, "privacy", "show", "legacy-olga", "--json").output)
    assert {v["text"] for v in shown} == {ERASED}
    shown = json.loads(cli(new, "privacy", "show", "legacy-ivan", "--json").output)
    assert {v["stored"] for v in shown} == {"sealed"} and IVAN[0] in {v["text"] for v in shown}

    assert cli(new, "erase", "legacy-ivan", "--reason", "request 4", "--by", "dpo",
               "--yes").exit_code == 0
    shown = json.loads(cli(new, "privacy", "show", "legacy-ivan", "--json").output)
    assert {v["text"] for v in shown} == {ERASED}


def test_r_prv_1_a_store_that_does_not_verify_is_not_migrated(stores):
    old, new, _ = stores
    with psycopg.connect(old.database_url, autocommit=True) as conn:
        conn.execute("UPDATE supportdesk_events SET state = convert_to(replace(convert_from("
                     "state, 'UTF8'), '\"credits\":40', '\"credits\":4'), 'UTF8') "
                     "WHERE topic = 'credit.charged'")
    refused = cli(old, "privacy", "migrate", "--into", new.database_url, "--topic",
                  new.topic, "--by", "dpo", "--reason", "x", "--yes")
    assert refused.exit_code == 2 and "does not verify intact" in refused.output
    with psycopg.connect(new.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM supportdesk_events").fetchone()[0] == 0
