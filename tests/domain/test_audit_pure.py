"""Receipts, as-of states, recorded commands and tallies on the domain alone (in-memory
event store, fixed clock): R-AUD-1, R-AUD-2, R-AUD-3, R-DSP-3."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from domain.base import EVENT_TYPES
from domain.credit_account import CreditAccount
from domain.desk import SupportDesk
from domain.errors import InvalidArgumentError
from domain.policy.profile import PolicyProfile, builtin_profile
from domain.ticket import Ticket
from replay.as_of import customer_as_of
from replay.charge_audit import ChargeAuditor, UnknownChargeError, sweep
from replay.profiles import Adoption
from replay.rebuild import ShadowFolder
from replay.receipt import build_receipt
from replay.recorded import recorded_command, unclassified
from replay.render import as_of_text, receipt_text
from replay.streams import as_envelopes, envelopes, stream
from replay.tally import difference, tally, total
from replay.what_if import load_changed_profile, set_path

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=4)))  # a Monday


def at(offset_min: int) -> datetime:
    return T0 + timedelta(minutes=offset_min)


def run(desk: SupportDesk, command: str, offset_min: int, **args) -> None:
    desk.execute(command, args, at(offset_min))


@pytest.fixture
def desk() -> SupportDesk:
    """The cart-power history of the credits scenario, with a dispute upheld."""
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile("cart-power"), T0)
    run(desk, "register_customer", 0, customer="c1", email="c1@example.com")
    run(desk, "purchase_credits", 1, customer="c1", purchase="p1", package=80)
    run(desk, "open_ticket", 5, customer="c1", ticket="t1", department="technical",
        channel="helpdesk", subject="Checkout fails")
    run(desk, "log_work", 60, ticket="t1", agent="a1", minutes=20, kind="investigation",
        classification="third_party_addon")
    run(desk, "log_work", 70, ticket="t1", agent="a1", minutes=50, kind="investigation")
    run(desk, "open_ticket", 85, customer="c1", ticket="t2", department="technical",
        channel="helpdesk", subject="Add a field")
    run(desk, "notify_customer", 86, ticket="t2", agent="a1", notice="charge_over_40")
    run(desk, "notify_customer", 87, ticket="t2", agent="a1", notice="replenish_after_60")
    run(desk, "log_work", 91, ticket="t2", agent="a1", minutes=45, kind="modification")
    run(desk, "notify_customer", 95, ticket="t2", agent="a2", notice="charge_over_40")
    run(desk, "open_dispute", 120, customer="c1", dispute="d1", charge="t1/1")
    run(desk, "resolve_dispute", 150, dispute="d1", agent="m1", outcome="upheld",
        reason="wrong classification")
    return desk


def streams_of(desk: SupportDesk, ticket: str) -> tuple[list, list]:
    return (as_envelopes(stream(desk, Ticket.id_for(ticket))),
            as_envelopes(stream(desk, CreditAccount.id_for("c1"))))


def adoption(profile: PolicyProfile, digest: str | None = None) -> Adoption:
    return Adoption(T0, profile.version, digest or profile.digest, profile)


def failed(receipt) -> list[str]:
    return [c.name for c in receipt.checks if not c.ok]


def test_r_aud_1_every_charge_of_the_history_agrees_with_re_pricing(desk):
    result = sweep(desk)
    assert (result.audited, result.agreeing, result.mismatches) == (3, 3, [])


def test_r_aud_1_the_receipt_shows_the_work_rule_profile_notices_hold_and_balance(desk):
    receipt = ChargeAuditor(desk).receipt("t2/1")
    assert receipt.agrees, failed(receipt)
    assert receipt.entry["minutes"] == 45 and receipt.entry["kind"] == "modification"
    assert receipt.pricing["rule"] == "R-CRD-4" and receipt.pricing["units"] == 3
    assert receipt.charge["credits"] == 30
    assert receipt.profile is not None and receipt.profile["version"] == 1
    assert receipt.profile["digest"] == builtin_profile("cart-power").digest
    assert [(n["notice"], n["before_charge"]) for n in receipt.notices] == [
        ("charge_over_40", True), ("replenish_after_60", True), ("charge_over_40", False)]
    assert receipt.account == {"balance_before": 40, "balance_after": 10,
                               "hold": {"reserved": 30, "captured": 30}, "rule": "R-CRD-4"}
    text = receipt_text(receipt)
    assert "agrees with re-pricing" in text and "40 -> 10 credits" in text
    assert "charge_over_40 at 2026-03-02T06:26:00Z by a1 (before the charge)" in text


def test_r_crd_5_a_receipt_explains_the_unbilled_minutes_of_a_capped_charge(desk):
    receipt = ChargeAuditor(desk).receipt("t1/2")
    assert receipt.agrees, failed(receipt)
    assert receipt.pricing["rule"] == "R-CRD-5"
    assert (receipt.pricing["billable_minutes"], receipt.pricing["unbilled_minutes"]) == (30, 20)
    assert receipt.inputs["ticket_billed_credits"] == 20
    assert [e["entry"] for e in receipt.entries if e["audited"]] == [2]


def test_r_dsp_3_the_receipt_shows_the_dispute_and_its_compensation_and_the_charge_stands(desk):
    receipt = ChargeAuditor(desk).receipt("t1/1")
    assert receipt.agrees, failed(receipt)
    [dispute] = receipt.disputes
    assert dispute["status"] == "upheld" and dispute["reviewer"] == "m1"
    assert dispute["reason"] == "wrong classification"
    assert dispute["compensation_credits"] == 20 and dispute["review_business_days"] == 2
    assert receipt.compensations == [{"dispute": "d1", "at": "2026-03-02T07:30:00Z",
                                      "actor": None, "credits": 20, "balance_before": 10,
                                      "balance_after": 30}]  # (played with no principal)
    assert receipt.account is not None and receipt.account["balance_after"] == 60
    assert "the charge itself stands (R-DSP-3)" in receipt_text(receipt)


def test_r_aud_1_an_altered_recorded_amount_is_a_mismatch(desk):
    ticket, account = streams_of(desk, "t1")
    altered = [replace(e, data={**e.data, "charge": {**e.data["charge"], "credits": 30}})
               if e.type == "ticket.work_logged" and e.data["entry"] == 1 else e
               for e in ticket]
    receipt = build_receipt("t1/1", altered, account, adoption(builtin_profile("cart-power")),
                            [])
    assert receipt is not None and not receipt.agrees
    assert {"charge.amount", "account.credits"} <= set(failed(receipt))
    assert "*** MISMATCH ***" in receipt_text(receipt)


def test_r_aud_1_a_profile_that_prices_differently_than_recorded_is_a_mismatch(desk):
    ticket, account = streams_of(desk, "t1")
    recorded = builtin_profile("cart-power")
    data = {**recorded.data, "credits": {**recorded.data["credits"], "credits_per_unit": 12}}
    tampered = adoption(PolicyProfile.from_data(data), digest=recorded.digest)
    receipt = build_receipt("t1/1", ticket, account, tampered, [])
    assert receipt is not None
    assert failed(receipt) == ["repriced", "profile.digest"]
    [repriced] = [c for c in receipt.checks if c.name == "repriced"]
    assert "24 credits" in repriced.detail and "recorded 20 credits" in repriced.detail


def test_r_crd_5_inputs_claiming_a_notice_the_log_does_not_hold_are_a_mismatch(desk):
    ticket, account = streams_of(desk, "t1")
    altered = [replace(e, data={**e.data, "inputs": {**e.data["inputs"],
                                                     "notices": ["charge_over_40"]}})
               if e.type == "ticket.work_logged" and e.data["entry"] == 2 else e
               for e in ticket]
    receipt = build_receipt("t1/2", altered, account, adoption(builtin_profile("cart-power")),
                            [])
    assert receipt is not None and "inputs.notices" in failed(receipt)


def test_r_aud_1_a_charge_whose_profile_version_was_never_adopted_is_a_mismatch(desk):
    ticket, account = streams_of(desk, "t1")
    receipt = build_receipt("t1/1", ticket, account, None, [])
    assert receipt is not None and "profile" in failed(receipt)
    assert "NOT IN THE LOG" in receipt_text(receipt)


def test_r_aud_3_a_broken_link_in_a_stream_fails_the_chain_check(desk):
    ticket, account = streams_of(desk, "t1")
    broken = [*ticket[:2], replace(ticket[2], prev_hash="f" * 64), *ticket[3:]]
    receipt = build_receipt("t1/1", broken, account, adoption(builtin_profile("cart-power")),
                            [])
    assert receipt is not None and failed(receipt) == ["chain"]


def test_an_unknown_or_malformed_charge_id_is_refused(desk):
    auditor = ChargeAuditor(desk)
    with pytest.raises(UnknownChargeError):
        auditor.receipt("t1/9")
    with pytest.raises(UnknownChargeError):
        auditor.receipt("nope/1")
    with pytest.raises(InvalidArgumentError):
        auditor.receipt("t1")


# --- as of an instant ---------------------------------------------------------------

def test_r_aud_2_the_balance_and_dispute_as_of_past_instants(desk):
    before = customer_as_of(desk, "c1", at(100))
    disputed = customer_as_of(desk, "c1", at(130))
    after = customer_as_of(desk, "c1", at(200))
    assert customer_as_of(desk, "c1", at(-1)) is None
    assert before is not None and disputed is not None and after is not None
    assert (before.balance, after.balance) == (10, 30)
    assert [t.ticket for t in before.tickets] == ["t1", "t2"]
    assert before.quota["requests_used"] == 2 and before.quota["modifications_used"] == 1
    assert before.holds == [{"charge_id": "t2/1", "reserved": 30, "captured": 30,
                             "outstanding": 0}]
    assert before.disputes == []  # found through the compensation; it did not exist yet
    assert [(d["dispute"], d["status"]) for d in after.disputes] == [("d1", "upheld")]
    assert "balance      30" in as_of_text(after)


def test_r_sla_5_as_of_shows_a_target_running_then_overdue_then_breached():
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile("insales"), T0)
    run(desk, "register_customer", 0, customer="c1")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="site",
        term="month")
    run(desk, "open_ticket", 5, customer="c1", ticket="t1", department="technical",
        channel="helpdesk", subject="x", category="technical")
    run(desk, "ban", 6, customer="c1", agent="a1", reason="rudeness",
        until=at(60).isoformat())
    due = datetime.fromisoformat(desk.load(Ticket, Ticket.id_for("t1")).sla["due_at"])
    states = [customer_as_of(desk, "c1", instant) for instant in
              (at(30), due + timedelta(minutes=1))]
    desk.fire_timer("sla_breach", "t1", "sla:t1", due)
    breached = customer_as_of(desk, "c1", due + timedelta(minutes=2))
    assert [s.tickets[0].sla for s in states if s] == ["running", "overdue"]
    assert breached is not None and breached.tickets[0].sla == "breached"
    assert states[0] is not None and states[0].ban is not None
    assert states[0].ban["reason"] == "rudeness" and breached.ban is None
    assert [s["plan"] for s in breached.subscriptions] == ["site"]


# --- what-if's parts ----------------------------------------------------------------

def test_r_aud_4_every_event_type_of_the_domain_is_placed_for_replay():
    assert unclassified(set(EVENT_TYPES)) == set()


def test_r_aud_4_recorded_commands_are_read_back_with_their_arguments(desk):
    commands = [c for c in map(recorded_command, envelopes(desk)) if c]
    assert [c.command for c in commands][:3] == ["register_customer", "purchase_credits",
                                                  "open_ticket"]
    assert commands[1].args == {"customer": "c1", "purchase": "p1", "package": 80}
    log_work = next(c for c in commands if c.command == "log_work")
    assert log_work.args == {"ticket": "t1", "agent": "a1", "minutes": 20,
                             "kind": "investigation", "classification": "third_party_addon"}
    assert sum(c.command == "log_work" for c in commands) == 3


def test_r_aud_4_the_tally_counts_charges_credits_and_paid_modifications(desk):
    figures = tally(envelopes(desk))
    assert figures["c1"].to_dict() == {"charges": 3, "credits": 70, "money": {},
                                       "sla_breaches": 0, "paid_modifications": 1,
                                       "free_modifications": 0}
    assert tally(envelopes(desk), end=at(65))["c1"].charges == 1
    assert difference(total(figures), total({}))["credits"] == -70


def test_a_changed_profile_is_a_built_in_one_with_values_set_by_path():
    changed = load_changed_profile("insales", ["sla.targets[1].hours=2",
                                               "plans.site.free_modifications=6"])
    assert changed.section("sla")["targets"][1]["hours"] == 2
    assert changed.plan("site")["free_modifications"] == 6
    assert changed.digest != builtin_profile("insales").digest
    with pytest.raises(InvalidArgumentError):
        load_changed_profile("insales", ["plans.site.free_modifcations=6"])
    data: dict = {"a": [{"b": 1}]}
    set_path(data, "a[0].b", "x")
    assert data == {"a": [{"b": "x"}]}


def test_r_aud_2_a_rebuild_quarantines_and_parks_events_as_the_projector_does(desk):
    t1 = [e for e in envelopes(desk) if e.ref == "t1" and e.type.startswith("ticket.")]
    unknown = replace(t1[1], type="ticket.unheard_of")
    folder = ShadowFolder(None, "shadow")  # type: ignore[arg-type]  (changes() needs no I/O)
    changes = folder.changes([t1[0], unknown, t1[2], t1[0]])
    assert (folder.events, folder.skipped) == (1, 1)
    assert "unknown event type 'ticket.unheard_of'" in folder.failures[0]
    assert "parked" in folder.failures[1]  # the later event of that ticket waits
    assert {c.table for c in changes} >= {"tickets"}
