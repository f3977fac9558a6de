"""Runs clean up after themselves: every isolated store (a scenario run, a what-if and
its baseline, the bench's) removes its database, its topic and the topic's dead-letter
topic when it is done, however it ends, so a session leaves only the live topic."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from kafka import KafkaAdminClient
from psycopg.conninfo import conninfo_to_dict

from supportlog.bootstrap import bootstrap, isolated_system
from supportlog.cli import main
from supportlog.scenario import ScenarioRunner, load_scenario
from supportlog.settings import Settings
from tests.integration.test_projector import cli_env

SCENARIOS = Path(__file__).parents[1] / "scenarios"
CREDITS = SCENARIOS / "cart-power-credits.json"


def topics(settings: Settings) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def databases(settings: Settings) -> set[str]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}


def test_an_isolated_system_removes_its_database_topic_and_dead_letter_topic(settings):
    with isolated_system(settings, "cleanup") as system:
        system.dead_letters()  # creates <topic>.dlq, as a production projector does
        own = {system.settings.topic, f"{system.settings.topic}.dlq"}
        assert own <= topics(settings)
        name = conninfo_to_dict(system.database_url)["dbname"]
        assert name in databases(settings)
    assert own.isdisjoint(topics(settings))
    assert name not in databases(settings)


def test_an_isolated_system_cleans_up_when_its_work_fails(settings):
    with pytest.raises(RuntimeError, match="the work failed"), \
            isolated_system(settings, "cleanup") as system:
        topic = system.settings.topic
        raise RuntimeError("the work failed")
    assert topic not in topics(settings)


def test_scenario_runs_and_what_ifs_leave_no_topic_or_database_behind(settings):
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        assert runner.run(load_scenario(CREDITS), base_dir=SCENARIOS).failures == []
        runner.pipeline.sync()
    finally:
        system.close()
    before = (topics(settings), databases(settings))
    env = cli_env(settings)
    played = CliRunner().invoke(main, ["scenario", "run", str(CREDITS)], env=env)
    assert played.exit_code == 0, played.output
    changed = CliRunner().invoke(main, ["whatif", "--profile", "cart-power", "--set",
                                        "credits.unit_minutes=10"], env=env)
    assert changed.exit_code == 0, changed.output
    assert (topics(settings), databases(settings)) == before
