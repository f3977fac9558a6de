"""Policy profiles are checked by `profile.schema.json` plus the cross references a schema
cannot express: every mistake at once, each with its path, in one ProfileError. The
schema is published by `schema export` and validates the built-in profiles with plain
jsonschema, offline. Names that profiles vary (the R-CRD-5 notices, the R-TKT-5 close
reason) come from the profile; a profile recorded before they were data still reads."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import NoSuchResource

from domain.calendar import ClockMode
from domain.commands.handlers import TERM_MONTHS
from domain.desk import SupportDesk
from domain.dispute import Dispute
from domain.errors import InvalidArgumentError
from domain.policy.profile import (
    PROFILE_IDS,
    PolicyProfile,
    ProfileError,
    as_recorded_then,
    builtin_profile,
)
from domain.policy.profile_check import SCHEMA_FILE, profile_problems, profile_schema
from domain.ticket import Ticket
from replay.what_if import load_changed_profile
from supportlog.cli import main
from tests.domain.test_rules import T0, balance, open_technical, rejected, run


def data_of(profile_id: str) -> dict[str, Any]:
    """A deep, changeable copy of a built-in profile's data."""
    return copy.deepcopy(dict(builtin_profile(profile_id).data))


def refused(data: dict[str, Any], source: str = "vendor.json") -> ProfileError:
    with pytest.raises(ProfileError) as info:
        PolicyProfile.from_data(data, source)
    return info.value


def desk_with(data: dict[str, Any]) -> SupportDesk:
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(PolicyProfile.from_data(data), T0)
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    return desk


# --- every mistake at once ---------------------------------------------------------------

def test_a_profile_with_several_mistakes_reports_every_one_with_its_path_in_one_error():
    data = data_of("cs-cart")
    data["tickets"]["queue_ordr"] = data["tickets"].pop("queue_order")  # a typo'd key
    data["plans"]["plus"]["rank"] = "2"  # a wrong type deep inside a plan
    del data["pricing"]["warranty_days"]  # R-PAY-2: read without a default
    data["pricing"]["hourly_rate"] = "30USD"  # R-PAY-1: not money
    data["plans"]["ultimate"]["departments"].append("billing")  # R-TKT-8: not a department
    error = refused(data)
    assert isinstance(error, InvalidArgumentError) and error.code == "invalid_argument"
    assert error.source == "vendor.json"
    assert [p.path for p in error.problems] == [
        "plans.plus.rank", "plans.ultimate.departments[3]", "pricing.hourly_rate",
        "pricing.warranty_days", "tickets.queue_order", "tickets.queue_ordr"]
    messages = {p.path: p.message for p in error.problems}
    assert messages["plans.plus.rank"] == 'expected a whole number, got "2"'
    assert messages["pricing.warranty_days"] == "missing (required)"
    assert messages["tickets.queue_ordr"] == "unknown key (did you mean queue_order?)"
    assert "money" in messages["pricing.hourly_rate"]
    assert "billing" in messages["plans.ultimate.departments[3]"]
    assert str(error).startswith("invalid_argument: vendor.json: 6 problems:\n")
    assert all(f"  {p}" in str(error) for p in error.problems)


def test_cross_references_a_schema_cannot_express_are_all_reported():
    data = data_of("insales")
    del data["admin_calendar"]  # R-SLA-1: the complaint target names it
    data["calendar"]["timezone"] = "Mars/Olympus"  # R-SLA-2
    data["plans"]["premium"]["prices"] = {"month": "9 USD", "year": "90 RUB"}  # R-SUB-1
    data["plans"]["premium"]["terms"] = ["month"]
    data["sla"]["targets"][1]["when"]["plan"] = ["platinum"]  # R-SLA-1
    data["credits"]["notices"]["replenish"] = "charge_over_40"  # R-CRD-5
    data["bans"]["readings"] = {"spam_dupes": "a typo'd reading"}
    data["products"] = {"box": {"plan": "boxed", "support_days": 30}}  # R-SUB-2
    assert [str(p) for p in refused(data).problems] == [
        "bans.readings.spam_dupes: explains a key this object does not have",
        'calendar.timezone: expected an IANA timezone name such as "Europe/Moscow", '
        "got 'Mars/Olympus'",
        "credits.notices.replenish: expected a name other than credits.notices.over_credits",
        "plans.premium.prices.month: expected an amount in the profile's currency RUB, "
        'got "9 USD"',
        "plans.premium.prices.year: a price for a term the plan is not sold for (terms: month)",
        'products.box.plan: expected one of the profile\'s plans (free, site, combo, '
        'premium), got "boxed"',
        "sla.targets[0].calendar: names admin_calendar, which this profile does not have",
        "sla.targets[1].when.plan[0]: expected one of the profile's plans (free, site, "
        'combo, premium), got "platinum"',
    ]


def test_r_crd_5_credits_enabled_require_their_numbers_and_both_notice_names():
    data = data_of("cart-power")
    del data["credits"]["unit_minutes"]
    del data["credits"]["notices"]["replenish"]
    data["credits"]["credits_per_unit"] = 10.0  # JSON Schema would call it an integer
    assert [str(p) for p in refused(data).problems] == [
        "credits.credits_per_unit: expected a whole number, got 10.0",
        "credits.notices.replenish: missing (required)",
        "credits.unit_minutes: missing (required)"]
    data = data_of("cs-cart")
    data["pricing"]["mode"] = "credits"
    assert [p.path for p in refused(data).problems] == ["credits.enabled"]


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_built_in_profile_validates_against_the_schema(profile_id):
    assert profile_problems(data_of(profile_id)) == []


def test_whatif_set_of_a_wrong_type_is_refused_with_the_path():
    """R-AUD-4: a what-if profile is checked like an adopted one."""
    with pytest.raises(ProfileError) as info:
        load_changed_profile("cart-power", ["credits.unit_minutes=ten",
                                            "sla.default_clock=whenever"])
    assert [str(p) for p in info.value.problems] == [
        'credits.unit_minutes: expected a whole number, got "ten"',
        "sla.default_clock: expected one of business_hours, "
        'calendar_excluding_non_working_days, continuous, got "whenever"']
    assert "with credits.unit_minutes=ten" in info.value.source


# --- the published schema ------------------------------------------------------------------

def _no_network(uri: str) -> Any:
    raise NoSuchResource(ref=uri)


def test_schema_export_writes_the_profile_schema_which_validates_the_built_in_profiles(
        tmp_path):
    result = CliRunner().invoke(main, ["schema", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    schema = json.loads((tmp_path / SCHEMA_FILE).read_text())
    assert schema == profile_schema() and schema["$id"] == SCHEMA_FILE
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, registry=Registry(retrieve=_no_network))
    for profile_id in PROFILE_IDS:
        assert list(validator.iter_errors(data_of(profile_id))) == [], profile_id
    broken = data_of("cart-power")
    broken["pricing"]["warranty_dayz"] = 30
    assert [e.validator for e in validator.iter_errors(broken)] == ["additionalProperties"]


def _properties(node: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property the schema declares (not those an `if` tests or
    a `then` narrows)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if path.endswith(("/if", "/then")):
        return found
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            found.append((f"{path}.{name}", sub))
        for key, sub in node.items():
            found += _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found += _properties(sub, f"{path}[{i}]")
    return found


def test_every_property_of_the_schema_says_what_it_means():
    schema = profile_schema()
    for path, prop in _properties(schema, "#"):
        target = prop
        if "$ref" in prop:
            target = schema["$defs"][prop["$ref"].removeprefix("#/$defs/")]
        text = prop.get("description") or target.get("description")
        assert text, f"{path} has no description"
        if not path.endswith((".readings", ".name")):  # free text, a display name
            assert "R-" in text or "R-" in target.get("description", ""), \
                f"{path} names no rule"


def test_the_schema_enums_are_the_values_the_code_understands():
    defs = profile_schema()["$defs"]
    assert defs["clock_mode"]["enum"] == [mode.value for mode in ClockMode]
    assert set(defs["hours_clock_mode"]["enum"]) == {m.value for m in ClockMode} - {
        ClockMode.BUSINESS_DAYS.value}
    assert defs["term"]["enum"] == list(TERM_MONTHS)


# --- names that profiles vary come from the profile ----------------------------------------

def test_r_crd_5_notice_names_are_the_profiles():
    """R-CRD-5: a desk calling its notices otherwise gets its own names accepted and
    honoured by pricing, and the built-in names refused."""
    data = data_of("cart-power")
    data["credits"]["notices"] = {"over_credits": "bill_more", "replenish": "top_up"}
    desk = desk_with(data)
    run(desk, "purchase_credits", 1, customer="c1", purchase="p1", package=160)
    open_technical(desk)
    assert rejected(desk, "notify_customer", 9, ticket="t1", agent="a1",
                    notice="charge_over_40") == "invalid_argument"
    run(desk, "notify_customer", 10, ticket="t1", agent="a1", notice="bill_more")
    run(desk, "notify_customer", 11, ticket="t1", agent="a1", notice="top_up")
    run(desk, "log_work", 60, ticket="t1", agent="a1", minutes=90, kind="investigation")
    assert balance(desk, "c1") == 160 - 60  # 90 min, 6 units, all billed


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_r_crd_5_the_scenario_notice_names_work_on_every_built_in_profile(profile_id):
    desk = desk_with(data_of(profile_id))
    run(desk, "open_ticket", 5, customer="c1", ticket="t1", department="sales",
        channel="helpdesk", subject="Prices")
    for notice in ("charge_over_40", "replenish_after_60"):
        run(desk, "notify_customer", 10, ticket="t1", agent="a1", notice=notice)
    assert set(desk.load(Ticket, Ticket.id_for("t1")).notices) == {
        "charge_over_40", "replenish_after_60"}
    assert rejected(desk, "notify_customer", 11, ticket="t1", agent="a1",
                    notice="Charge Over 40") == "invalid_argument"


def test_r_tkt_5_a_silent_ticket_closes_with_the_reason_the_profile_names():
    data = data_of("imagecms")
    data["tickets"]["auto_close_silent_days"] = 14
    data["tickets"]["silent_close_reason"] = "customer_silent_14_days"
    desk = desk_with(data)
    run(desk, "open_ticket", customer="c1", ticket="t1", department="consultation",
        channel="helpdesk", subject="x")
    run(desk, "agent_reply", 10, ticket="t1", agent="a1", waiting_on_customer=True)
    desk.fire_timer("auto_close_silent", "t1", "autoclose:t1", T0 + timedelta(days=14))
    closed = [e for e in desk.events.get(Ticket.id_for("t1")) if isinstance(e, Ticket.Closed)]
    assert closed[0].reason == "customer_silent_14_days"


def test_r_dsp_1_the_review_counts_business_days_on_the_calendar_disputes_names():
    data = data_of("cart-power")
    data["admin_calendar"] = {**data["calendar"], "id": "cart-power-admin"}
    data["disputes"]["calendar"] = "admin_calendar"
    desk = desk_with(data)
    run(desk, "purchase_credits", 1, customer="c1", purchase="p1", package=80)
    open_technical(desk)
    run(desk, "log_work", 30, ticket="t1", agent="a1", minutes=30, kind="investigation")
    run(desk, "open_dispute", 40, customer="c1", dispute="d1", charge="t1/1")
    opened = next(iter(desk.events.get(Dispute.id_for("d1"))))
    assert opened.calendar_id == "cart-power-admin"


# --- profiles recorded before a name was data ---------------------------------------------

def recorded_before_names_were_data(profile_id: str) -> dict[str, Any]:
    data = data_of(profile_id)
    del data["credits"]["notices"], data["credits"]["readings"]["notices"]
    del data["tickets"]["silent_close_reason"]
    return data


def test_a_profile_recorded_before_the_names_were_data_reads_with_the_names_of_then():
    old = recorded_before_names_were_data("cart-power")
    assert [p.path for p in refused(copy.deepcopy(old)).problems] == [
        "credits.notices", "tickets.silent_close_reason"]  # a new adoption must state them
    recorded = PolicyProfile.from_record(old, "cart-power v1 (log)")
    assert recorded.data == old  # kept as recorded: the digest is the recorded one
    assert recorded.digest == hashlib.sha256(
        json.dumps(old, sort_keys=True).encode()).hexdigest()
    assert recorded.notice_names() == ["charge_over_40", "replenish_after_60"]
    assert recorded.section("tickets")["silent_close_reason"] == "customer_silent_30_days"
    assert as_recorded_then(data_of("cart-power")) == data_of("cart-power")


def test_a_desk_that_adopted_such_a_profile_still_takes_the_notices_it_took_then():
    """R-CRD-5 on a log written before the notice names were data."""
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    old = recorded_before_names_were_data("cart-power")
    desk.adopt(PolicyProfile.from_record(old, "log"), T0)
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "purchase_credits", 1, customer="c1", purchase="p1", package=160)
    open_technical(desk)
    run(desk, "notify_customer", 10, ticket="t1", agent="a1", notice="charge_over_40")
    run(desk, "notify_customer", 11, ticket="t1", agent="a1", notice="replenish_after_60")
    run(desk, "log_work", 60, ticket="t1", agent="a1", minutes=90, kind="investigation")
    assert balance(desk, "c1") == 100
