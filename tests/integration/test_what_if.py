"""R-AUD-4: the recorded commands replayed under a changed profile, in an isolated store,
report the difference per customer and in total, and leave the live store and read
models exactly as they were. Under the unchanged profile the replay reproduces every
scenario's figures, which is what makes a difference the policy's doing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from psycopg import sql

from domain.policy.profile import builtin_profile
from replay.what_if import load_changed_profile, what_if
from supportlog.bootstrap import bootstrap, isolated_system
from supportlog.cli import main
from supportlog.scenario import ScenarioRunner, load_scenario

SCENARIOS = Path(__file__).parents[1] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))


def play(settings, scenario: dict):
    system = bootstrap(settings)
    runner = ScenarioRunner(system)
    report = runner.run(scenario, base_dir=SCENARIOS)
    assert report.failures == []
    runner.pipeline.sync()
    return system


def run_what_if(settings, system, profile, **period):
    """The what-if against a baseline replay, each in an isolated store of its own."""
    with isolated_system(settings, "whatif") as isolated, \
            isolated_system(settings, "baseline") as baseline:
        return what_if(system.desk, isolated, profile, baseline=baseline, **period)


def checksums(conn) -> dict[str, str]:
    """A digest of every row of every live table, and the number of stored events."""
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
    sums = {t: conn.execute(sql.SQL(
        "SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) "
        "FROM {} t").format(sql.Identifier(t))).fetchone()[0] for t in tables}
    sums["events"] = str(conn.execute("SELECT count(*) FROM supportdesk_events").fetchone())
    return sums


@pytest.mark.parametrize("name", [p.name for p in FILES], ids=[p.stem for p in FILES])
def test_r_aud_4_the_unchanged_profile_reproduces_every_scenario(settings, name):
    scenario = load_scenario(SCENARIOS / name)
    system = play(settings, scenario)
    try:
        report = run_what_if(settings, system, builtin_profile(scenario["profile"]))
    finally:
        system.close()
    fidelity = report.fidelity()
    assert report.rejected == [] and report.rows() == []
    assert fidelity is not None and fidelity["customers"] == [] and fidelity["rejected"] == []
    assert report.to_dict()["recorded"] == report.totals()["what_if"]
    assert report.commands > 0 and report.desk_found


def test_r_aud_4_charging_per_10_minutes_and_the_live_state_is_untouched(settings):
    system = play(settings, load_scenario(SCENARIOS / "cart-power-credits.json"))
    try:
        conn = system.connect()
        before = checksums(conn)
        changed = load_changed_profile("cart-power", ["credits.unit_minutes=10"])
        report = run_what_if(settings, system, changed)
        after = checksums(conn)
    finally:
        system.close()
    assert after == before
    totals = report.totals()
    assert totals["before"]["charges"] == 3 and totals["before"]["credits"] == 70
    # t1: 20 credits, then 20 (capped by R-CRD-5); t2's 45-minute modification would now
    # need 50 credits with 40 on the balance, so it is refused (R-CRD-7)
    assert totals["what_if"]["charges"] == 2 and totals["what_if"]["credits"] == 40
    assert totals["difference"] == {"charges": -1, "credits": -30, "money": {},
                                    "sla_breaches": 0, "paid_modifications": -1,
                                    "free_modifications": 0}
    assert [row["customer"] for row in report.rows()] == ["c1"]
    assert [(r.command, r.code) for r in report.rejected] == [("log_work",
                                                               "insufficient_credits")]


def test_r_aud_4_six_free_modifications_a_month(settings):
    system = play(settings, load_scenario(SCENARIOS / "insales-modifications.json"))
    try:
        changed = load_changed_profile("insales", ["plans.site.free_modifications=6"])
        report = run_what_if(settings, system, changed)
    finally:
        system.close()
    assert report.rejected == []
    assert report.totals()["difference"] == {
        "charges": -1, "credits": 0, "money": {"RUB": "-500 RUB"}, "sla_breaches": 0,
        "paid_modifications": -1, "free_modifications": 1}


def test_r_aud_4_a_period_counts_only_its_own_events_under_the_changed_profile(settings):
    system = play(settings, load_scenario(SCENARIOS / "insales-modifications.json"))
    try:
        changed = load_changed_profile("insales", ["plans.site.free_modifications=6"])
        report = run_what_if(settings, system, changed,
                             start=datetime.fromisoformat("2026-04-10T11:45:00+03:00"),
                             end=datetime.fromisoformat("2026-04-30T00:00:00+03:00"))
    finally:
        system.close()
    totals = report.totals()
    assert totals["before"]["charges"] == 1  # t1/2, the modification past the quota
    assert totals["what_if"]["charges"] == 0 and totals["what_if"]["free_modifications"] == 1
    assert report.commands == 9  # the May entry is past the period: not replayed


PREMIUM = {"profile": "insales", "steps": [
    {"at": "2026-04-06T09:00:00+03:00", "do": "register_customer", "args": {"customer": "c1"}},
    {"at": "2026-04-06T09:01:00+03:00", "do": "start_subscription",
     "args": {"customer": "c1", "subscription": "s1", "plan": "premium", "term": "month"}},
    {"at": "2026-04-06T10:00:00+03:00", "do": "open_ticket",
     "args": {"customer": "c1", "ticket": "t1", "department": "technical",
              "channel": "helpdesk", "subject": "Checkout down", "category": "technical"}},
    {"at": "2026-04-06T12:30:00+03:00", "do": "agent_reply",
     "args": {"ticket": "t1", "agent": "a1"}},
    {"at": "2026-04-06T12:30:01+03:00", "expect": {"ticket": {"t1": {"sla_breached": False}}}},
]}


def test_r_aud_4_a_premium_target_of_2_hours_would_have_been_breached(settings):
    system = play(settings, PREMIUM)
    try:
        target = next(i for i, t in enumerate(builtin_profile("insales").section("sla")[
            "targets"]) if t["when"].get("plan") == ["premium"])
        changed = load_changed_profile("insales", [f"sla.targets[{target}].hours=2"])
        report = run_what_if(settings, system, changed)
    finally:
        system.close()
    assert report.totals()["difference"]["sla_breaches"] == 1
    assert report.timers_fired == 1
    [row] = report.rows()
    assert row["customer"] == "c1" and row["what_if"]["sla_breaches"] == 1


def test_r_aud_4_without_a_baseline_the_replay_is_compared_with_the_recorded_history(
        settings):
    system = play(settings, load_scenario(SCENARIOS / "cart-power-credits.json"))
    try:
        with isolated_system(settings, "whatif") as isolated:
            report = what_if(system.desk, isolated, builtin_profile("cart-power"))
    finally:
        system.close()
    assert report.baseline is None and report.fidelity() is None
    assert report.to_dict()["compared_with"] == "recorded" and report.rows() == []


def test_whatif_on_the_command_line(settings):
    system = play(settings, load_scenario(SCENARIOS / "cart-power-credits.json"))
    try:
        env = {"DATABASE_URL": settings.database_url,
               "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
               "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_GROUP": settings.group_id,
               "SUPPORTLOG_HOME": str(settings.home)}
        args = ["whatif", "--profile", "cart-power", "--set", "credits.unit_minutes=10"]
        text = CliRunner().invoke(main, args, env=env)
        as_json = CliRunner().invoke(main, [*args, "--json"], env=env)
        typo = CliRunner().invoke(main, ["whatif", "--profile", "cart-power", "--set",
                                         "credits.unit_minute=10"], env=env)
    finally:
        system.close()
    assert text.exit_code == 0, text.output
    assert "TOTAL" in text.output and "70 -> 40 (-30)" in text.output
    assert "rejected 2026-03-02T06:31:00Z log_work" in text.output
    assert json.loads(as_json.output)["totals"]["difference"]["credits"] == -30
    assert typo.exit_code == 2 and "unit_minute" in typo.output


TWO_CUSTOMERS = {"profile": "cart-power", "steps": [
    *[{"at": f"2026-03-02T09:0{n}:00+04:00", "do": do, "args": args} for n, (do, args) in
      enumerate([("register_customer", {"customer": "c1"}),
                 ("register_customer", {"customer": "c2"}),
                 ("purchase_credits", {"customer": "c1", "purchase": "p1", "package": 80}),
                 ("purchase_credits", {"customer": "c2", "purchase": "p2", "package": 80})])],
    *[{"at": f"2026-03-02T10:0{n}:00+04:00", "do": "open_ticket",
       "args": {"customer": c, "ticket": f"t{c}", "department": "technical",
                "channel": "helpdesk", "subject": "Checkout fails"}}
      for n, c in enumerate(("c1", "c2"))],
    *[{"at": f"2026-03-02T11:0{n}:00+04:00", "do": "log_work",
       "args": {"ticket": f"t{c}", "agent": "a1", "minutes": minutes,
                "kind": "investigation", "classification": "third_party_addon"}}
      for n, (c, minutes) in enumerate((("c1", 30), ("c2", 20)))],
]}


def test_whatif_says_its_total_counts_customers_the_table_does_not_show(settings):
    """R-AUD-4: 30 minutes cost 3 units of 10 instead of 2 of 15; 20 minutes cost 2
    units either way, so c2 is not shown but is in the total, and the label says so."""
    system = play(settings, TWO_CUSTOMERS)
    try:
        env = {"DATABASE_URL": settings.database_url,
               "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
               "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_GROUP": settings.group_id}
        args = ["whatif", "--profile", "cart-power", "--set", "credits.unit_minutes=10"]
        text = CliRunner().invoke(main, args, env=env)
        as_json = CliRunner().invoke(main, [*args, "--json"], env=env)
    finally:
        system.close()
    assert text.exit_code == 0, text.output
    [total_line] = [line for line in text.output.splitlines() if "TOTAL" in line]
    assert "TOTAL (all 2 customers; 1 shown)" in total_line
    assert "40 -> 50 (+10)" in total_line
    data = json.loads(as_json.output)
    assert [row["customer"] for row in data["customers"]] == ["c1"]
    assert data["totals"]["customers"] == 2
