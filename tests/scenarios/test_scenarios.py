"""Every scenario file in this folder, played through the real pipeline (acceptance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportlog.bootstrap import bootstrap
from supportlog.scenario import ScenarioRunner, load_scenario

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.json"))


def test_there_are_scenarios_for_every_profile():
    profiles = {load_scenario(path)["profile"] for path in FILES}
    assert "cart-power" in profiles


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_passes_through_the_whole_pipeline(settings, path):
    system = bootstrap(settings)
    try:
        report = ScenarioRunner(system).run(load_scenario(path), base_dir=HERE)
    finally:
        system.close()
    assert report.failures == []
    assert report.passed > 0


def test_a_failing_check_is_reported_with_its_step_number(settings):
    scenario = {"profile": "cart-power", "steps": [
        {"at": "2026-03-02T09:00:00+04:00", "do": "register_customer",
         "args": {"customer": "c1"}},
        {"at": "2026-03-02T09:01:00+04:00", "expect": {"balance": {"c1": 5}}},
        {"at": "2026-03-02T09:02:00+04:00", "do": "no_such_command", "args": {}},
        {"at": "2026-03-02T09:01:00+04:00", "expect": {"balance": {"c1": 0}}},
    ]}
    system = bootstrap(settings)
    try:
        report = ScenarioRunner(system).run(scenario)
    finally:
        system.close()
    assert report.passed == 1 and report.failed == 3
    assert report.failures[0].startswith("step 2: balance of c1 is 0, expected 5")
    assert report.failures[1].startswith("step 3: unknown command")
    assert "goes backwards" in report.failures[2]


def test_r_qta_1_a_quota_missing_from_the_projection_is_reported_not_read_as_zero(settings):
    """R-QTA-1: right after a CS-Cart Plus subscription starts its quota reads 4 free
    modifications; a customer with no quota row fails the check instead of reading 0."""
    scenario = {"profile": "cs-cart", "steps": [
        {"at": "2026-04-06T09:00:00+04:00", "do": "register_customer",
         "args": {"customer": "c1"}},
        {"at": "2026-04-06T09:01:00+04:00", "do": "start_subscription",
         "args": {"customer": "c1", "subscription": "s1", "plan": "plus", "term": "month"}},
        {"at": "2026-04-06T09:02:00+04:00",
         "expect": {"quota": {"c1": {"modifications_free_left": 4, "requests_used": 0}},
                    "balance": {"c1": 0}, "banned": {"c1": False}}},
        {"at": "2026-04-06T09:03:00+04:00",
         "expect": {"quota": {"ghost": {"modifications_free_left": 0}}}},
    ]}
    system = bootstrap(settings)
    try:
        report = ScenarioRunner(system).run(scenario)
    finally:
        system.close()
    assert report.failures == ["step 4: the quota of ghost is not in the projection"]
