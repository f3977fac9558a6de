"""R-AUD-2: every read model rebuilt from the log equals the live one, through the real
pipeline (PostgreSQL store, relay, broker, projector); a corrupted live row is reported
row by row, and a swap puts the log's version back in one transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from replay.rebuild import rebuild
from replay.shadow import SHADOW_SCHEMA
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.scenario import ScenarioRunner, load_scenario
from tests.conftest import cli_env

SCENARIOS = Path(__file__).parents[1] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))
BOOKKEEPING = ("projector_offsets", "projector_applied", "relay_position",
               "relay_partition_offsets", "quarantine")


def played(settings, name: str = "cart-power-credits.json"):
    """Returns (system, connection) after playing a scenario and syncing the pipeline."""
    system = bootstrap(settings)
    runner = ScenarioRunner(system)
    report = runner.run(load_scenario(SCENARIOS / name), base_dir=SCENARIOS)
    assert report.failures == []
    runner.pipeline.sync()
    return system, system.connect()




@pytest.mark.parametrize("name", [p.name for p in FILES], ids=[p.stem for p in FILES])
def test_r_aud_2_every_read_model_rebuilt_from_the_store_equals_live(settings, name):
    system, _ = played(settings, name)
    try:
        result = rebuild(system, compare=True)
    finally:
        system.close()
    assert result.failures == []
    assert not result.differs, [d.to_dict() for d in result.differences or [] if not d.equal]
    assert {"balances", "ledger", "quotas", "tickets", "bans", "disputes", "charges",
            "timers", "customers"} <= set(result.tables)
    assert result.not_yet_live == 0


def test_r_aud_2_bookkeeping_tables_are_never_read_models(settings):
    system, conn = played(settings)
    try:
        result = rebuild(system, compare=True, keep=True)
        shadow = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (SHADOW_SCHEMA,)).fetchall()}
    finally:
        system.close()
    assert shadow == set(result.tables)
    assert not set(BOOKKEEPING) & set(result.tables)
    assert not [t for t in result.tables if t.startswith(("log_chain", "supportdesk"))]


def test_r_aud_2_a_rebuild_and_swap_leave_every_view_and_other_schema_alone(settings):
    """The shadow is made of the live tables' shapes, never by running migrations again:
    the analysts' views (in their own schema) must survive a rebuild, a swap and the
    shadow's drop, still reading the live tables."""
    system, conn = played(settings)
    views = ("SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname NOT "
             "IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
    try:
        before = conn.execute(views).fetchall()
        rebuild(system, compare=True, swap=True)
        after = conn.execute(views).fetchall()
        schemas = {r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s", (SHADOW_SCHEMA,))}
    finally:
        system.close()
    assert after == before and len(before) >= 1
    assert schemas == set()  # the shadow is dropped unless kept


def test_r_aud_2_a_rebuild_from_the_kafka_topic_equals_live(settings):
    system, _ = played(settings)
    try:
        result = rebuild(system, source="kafka", compare=True)
    finally:
        system.close()
    assert result.source == "kafka" and result.events > 0
    assert not result.differs


def test_r_aud_2_corrupted_live_rows_are_reported_row_by_row(settings):
    system, conn = played(settings)
    try:
        conn.execute("UPDATE balances SET credits = 999 WHERE customer = 'c1'")
        conn.execute("DELETE FROM charges WHERE charge_id = 't1/2'")
        conn.execute("INSERT INTO bans (customer, banned) VALUES ('nobody', true)")
        result = rebuild(system, compare=True)
    finally:
        system.close()
    assert result.differs
    by_table = {d.table: d for d in result.differences or []}
    [balance] = by_table["balances"].rows
    assert balance.kind == "changed" and balance.key == {"customer": "c1"}
    assert balance.changed_columns == ["credits"]
    assert (balance.live or {})["credits"] == 999 and (balance.rebuilt or {})["credits"] == 30
    [charge] = by_table["charges"].rows
    assert charge.kind == "missing" and charge.key == {"charge_id": "t1/2"}
    [ban] = by_table["bans"].rows
    assert ban.kind == "extra" and ban.key == {"customer": "nobody"}
    assert by_table["ledger"].equal and by_table["tickets"].equal


def test_r_aud_2_rebuild_compare_exits_1_and_prints_the_difference(settings):
    system, conn = played(settings)
    try:
        env = cli_env(settings)
        clean = CliRunner().invoke(main, ["rebuild", "--compare"], env=env)
        conn.execute("UPDATE tickets SET status = 'closed' WHERE ticket = 't2'")
        dirty = CliRunner().invoke(main, ["rebuild", "--compare"], env=env)
    finally:
        system.close()
    assert clean.exit_code == 0, clean.output
    assert "balances" in clean.output and "DIFFERS" not in clean.output
    assert dirty.exit_code == 1
    assert "tickets" in dirty.output and "DIFFERS: 1 row(s)" in dirty.output
    assert "changed  ticket=t2: status: live 'closed', rebuilt 'new'" in dirty.output


def test_r_aud_2_swap_replaces_the_live_tables_and_leaves_bookkeeping_alone(settings):
    system, conn = played(settings)
    try:
        offsets_before = conn.execute(
            "SELECT * FROM projector_offsets ORDER BY partition").fetchall()
        applied_before = conn.execute(
            "SELECT * FROM projector_applied ORDER BY aggregate_id").fetchall()
        conn.execute("UPDATE balances SET credits = 999 WHERE customer = 'c1'")
        conn.execute("DELETE FROM ledger")
        swapped = rebuild(system, swap=True)
        after = rebuild(system, compare=True)
        balance = conn.execute("SELECT credits FROM balances WHERE customer = 'c1'").fetchone()
        ledger = conn.execute("SELECT count(*) FROM ledger").fetchone()
        offsets_after = conn.execute(
            "SELECT * FROM projector_offsets ORDER BY partition").fetchall()
        applied_after = conn.execute(
            "SELECT * FROM projector_applied ORDER BY aggregate_id").fetchall()
    finally:
        system.close()
    assert swapped.swapped is not None and swapped.swapped["ledger"] == 5
    assert not after.differs
    assert balance == (30,) and ledger == (5,)
    assert offsets_after == offsets_before and applied_after == applied_before


def test_r_aud_2_swap_folds_events_stored_after_the_read_began(settings):
    """Events written between the rebuild's read and its swap are folded under the lock."""
    system, conn = played(settings)
    try:
        reader_batches = []

        def write_during_read(done: int, total: int) -> None:
            if done and not reader_batches:
                reader_batches.append(done)
                system.desk.execute("purchase_credits",
                                    {"customer": "c1", "purchase": "late", "package": 80},
                                    _last_time(conn))

        result = rebuild(system, swap=True, progress=write_during_read)
        balance = conn.execute("SELECT credits FROM balances WHERE customer = 'c1'").fetchone()
    finally:
        system.close()
    assert result.swapped is not None
    assert balance == (110,)  # 30 + 80: the late purchase is in the swapped rows


def _last_time(conn):
    return conn.execute("SELECT max(at) FROM ledger").fetchone()[0]


def test_a_rebuild_of_one_projection_touches_only_that_table(settings):
    system, conn = played(settings)
    try:
        conn.execute("UPDATE balances SET credits = 999 WHERE customer = 'c1'")
        conn.execute("UPDATE charges SET credits = 1 WHERE charge_id = 't1/1'")
        result = rebuild(system, projection="balances", compare=True, swap=True)
        balance = conn.execute("SELECT credits FROM balances WHERE customer = 'c1'").fetchone()
        charge = conn.execute("SELECT credits FROM charges WHERE charge_id = 't1/1'").fetchone()
    finally:
        system.close()
    assert result.tables == ["balances"]
    assert [d.table for d in result.differences or []] == ["balances"]
    assert balance == (30,) and charge == (1,)


def test_an_unknown_projection_is_refused_with_the_table_names(settings):
    system, _ = played(settings)
    try:
        outcome = CliRunner().invoke(main, ["rebuild", "--projection", "projector_offsets"],
                                     env=cli_env(settings))
    finally:
        system.close()
    assert outcome.exit_code == 2
    assert "no read-model table 'projector_offsets'" in outcome.output
    assert "balances" in outcome.output
