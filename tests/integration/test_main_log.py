"""A store written by main before events had versions (`tests/fixtures/main-log.jsonl.gz`,
1332 events of 42 customers with charges, licences, domains, subscriptions and
disputes) still replays, rebuilds, audits, verifies and answers as-of and what-if
exactly as main did, after the upgrade: its events are read through the upcasters, and
their hashes are those of their stored bytes (R-AUD-1, R-AUD-2, R-AUD-3, R-AUD-4)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from eventlog.topic_reader import high_water_marks
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from tests.conftest import cli_env
from tests.fixtures.main_log import MainLog, load_main_log, without_actors


@pytest.fixture
def upgraded(settings):
    """(settings with the fixture's test-only log key, what main answered)."""
    log = load_main_log(settings.database_url, settings.topic)
    return replace(settings, log_key=log.log_key_hex), log


def cli(settings, *args: str):
    env = {**cli_env(settings), "SUPPORTLOG_LOG_KEY": settings.log_key or ""}
    return CliRunner().invoke(main, list(args), env=env)


def as_main_ran(settings, log: MainLog, command: str) -> tuple[object, object]:
    """(this code's JSON answer, main's) to the command line main ran. Since the fixture
    was made, main's answers name who recorded each event (`actor`, a dispute's
    `opened_by` and `resolved_by`: R-ACL-1); the fixture's events were stored before
    anyone was, so each of these is null, and is taken out here (checked to be null:
    nothing is made up). The rest must be exactly main's answer."""
    result = cli(settings, *command.split())
    assert result.exit_code == 0, result.output
    return without_actors(json.loads(result.output)), log.outputs[command]


def test_r_aud_3_a_log_written_by_main_verifies_intact_with_every_mac_checked(upgraded):
    settings, log = upgraded
    result = cli(settings, "verify", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["events"] == report["macs_checked"] == log.events


def test_r_aud_1_every_charge_of_main_audits_as_main_audited_it(upgraded):
    settings, log = upgraded
    for command in [c for c in log.outputs if c.startswith("audit ")]:
        ours, mains = as_main_ran(settings, log, command)
        assert ours == mains, command


def test_r_aud_2_as_of_answers_what_main_answered(upgraded):
    settings, log = upgraded
    for command in [c for c in log.outputs if c.startswith("asof ")]:
        ours, mains = as_main_ran(settings, log, command)
        assert ours == mains, command


def test_r_aud_2_a_rebuild_equals_the_read_models_main_projected(upgraded):
    settings, _ = upgraded
    result = cli(settings, "rebuild", "--compare")
    assert result.exit_code == 0, result.output


def test_r_aud_3_the_refilled_topic_carries_every_stored_hash(upgraded):
    settings, log = upgraded
    system = bootstrap(settings)
    try:
        relay = system.relay()
        assert relay.refill_if_lost(high_water_marks(settings.kafka_bootstrap, settings.topic))
        relay.pump()
    finally:
        system.close()
    result = cli(settings, "verify", "--kafka", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["topic_checked_to"] == log.events


def test_r_aud_4_a_what_if_over_main_s_log_reports_what_main_reported(upgraded):
    settings, log = upgraded
    ours, mains = as_main_ran(settings, log, "whatif --profile cart-power --set "
                                             "credits.unit_minutes=10 --json")
    assert ours == mains
