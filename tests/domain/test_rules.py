"""Policy rules proven on the domain alone (in-memory event store, fixed clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.credit_account import CreditAccount
from domain.desk import SupportDesk
from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, PolicyProfile, ProfileError, builtin_profile
from domain.ticket import Ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=4)))  # a Monday


def desk_for(profile_id: str) -> SupportDesk:
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile(profile_id), T0)
    return desk


def run(desk: SupportDesk, command: str, at_min: int = 0, **args):
    return desk.execute(command, args, T0 + timedelta(minutes=at_min))


def rejected(desk: SupportDesk, command: str, at_min: int = 0, **args) -> str:
    head = desk.recorder.max_notification_id()
    with pytest.raises(SupportlogError) as info:
        run(desk, command, at_min, **args)
    assert desk.recorder.max_notification_id() == head, "a rejected command wrote events"
    return info.value.code


def balance(desk: SupportDesk, customer: str) -> int:
    return desk.load(CreditAccount, CreditAccount.id_for(customer)).balance


def open_technical(desk, customer="c1", ticket="t1", at_min=5, **extra):
    run(desk, "open_ticket", at_min, customer=customer, ticket=ticket,
        department="technical", channel="helpdesk", subject="Checkout fails", **extra)


@pytest.fixture
def cart_power():
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "purchase_credits", 1, customer="c1", purchase="p1", package=80)
    return desk


def test_r_crd_1_r_crd_4_work_is_charged_in_15_minute_units_of_10_credits(cart_power):
    """R-CRD-1, R-CRD-4: 20 minutes are 2 units of 10 credits."""
    open_technical(cart_power)
    run(cart_power, "log_work", 60, ticket="t1", agent="a1", minutes=20, kind="investigation")
    assert balance(cart_power, "c1") == 60  # 20 min -> 2 units -> 20 credits


def test_r_crd_1_only_80_160_320_credit_packages_are_sold(cart_power):
    """R-CRD-1: credits come in packages of 80, 160 and 320."""
    assert rejected(cart_power, "purchase_credits", customer="c1", purchase="p9",
                    package=100) == "invalid_argument"


def test_r_crd_5_without_notice_a_ticket_is_billed_at_most_40_credits(cart_power):
    """R-CRD-5: without the notices the excess is unbilled."""
    open_technical(cart_power)
    run(cart_power, "log_work", 60, ticket="t1", agent="a1", minutes=90, kind="investigation")
    assert balance(cart_power, "c1") == 40


def test_r_crd_5_with_both_notices_the_whole_time_is_billed(cart_power):
    """R-CRD-5: with both notices recorded first, all the time is billed."""
    open_technical(cart_power)
    run(cart_power, "notify_customer", 10, ticket="t1", agent="a1", notice="charge_over_40")
    run(cart_power, "notify_customer", 11, ticket="t1", agent="a1",
        notice="replenish_after_60")
    run(cart_power, "log_work", 60, ticket="t1", agent="a1", minutes=90, kind="investigation")
    assert balance(cart_power, "c1") == 20


def test_r_crd_8_own_addon_bug_costs_nothing(cart_power):
    """R-CRD-8: no credits for a bug of the vendor's own add-on."""
    open_technical(cart_power)
    run(cart_power, "log_work", 60, ticket="t1", agent="a1", minutes=45,
        kind="investigation", classification="own_addon_bug")
    assert balance(cart_power, "c1") == 80


def test_r_crd_6_negative_balance_holds_the_next_request_until_paid(cart_power):
    """R-CRD-6: a negative balance holds the next request until replenished."""
    open_technical(cart_power)
    for n in range(3):
        run(cart_power, "notify_customer", 10 + n, ticket="t1", agent="a1",
            notice=("charge_over_40", "replenish_after_60", "charge_over_40")[n])
    run(cart_power, "log_work", 60, ticket="t1", agent="a1", minutes=150, kind="investigation")
    assert balance(cart_power, "c1") == -20
    open_technical(cart_power, ticket="t2", at_min=70)
    assert cart_power.load(CreditAccount, CreditAccount.id_for("c1")).held_tickets == ["t2"]
    run(cart_power, "purchase_credits", 80, customer="c1", purchase="p2", package=80)
    assert cart_power.load(CreditAccount, CreditAccount.id_for("c1")).held_tickets == []


def test_r_crd_7_a_modification_needs_the_credits_on_the_balance_first(cart_power):
    """R-CRD-7: a modification is refused unless its credits are on the balance."""
    open_technical(cart_power)
    run(cart_power, "notify_customer", 10, ticket="t1", agent="a1", notice="charge_over_40")
    run(cart_power, "notify_customer", 11, ticket="t1", agent="a1",
        notice="replenish_after_60")
    assert rejected(cart_power, "log_work", 60, ticket="t1", agent="a1", minutes=150,
                    kind="modification") == "insufficient_credits"
    run(cart_power, "log_work", 61, ticket="t1", agent="a1", minutes=120, kind="modification")
    assert balance(cart_power, "c1") == 0


def test_r_crd_2_add_on_credits_20_paid_10_in_package_0_free(cart_power):
    """R-CRD-2: 20 per paid add-on, 10 inside a package, none for free ones."""
    run(cart_power, "grant_addon_credits", 2, customer="c1", addon="a1", paid=True)
    run(cart_power, "grant_addon_credits", 3, customer="c1", addon="a2", paid=True,
        in_package=True)
    run(cart_power, "grant_addon_credits", 4, customer="c1", addon="a3", paid=False)
    assert balance(cart_power, "c1") == 110


def test_r_crd_9_every_balance_change_names_its_cause(cart_power):
    """R-CRD-9: each balance change names its cause, once."""
    account = cart_power.load(CreditAccount, CreditAccount.id_for("c1"))
    assert account.causes == {"purchase:p1"}
    assert rejected(cart_power, "purchase_credits", customer="c1", purchase="p1",
                    package=80) == "duplicate_id"


def test_r_tkt_3_illegal_transitions_are_rejected_and_write_nothing(cart_power):
    """R-TKT-3: solved tickets take no agent reply; a customer reply reopens."""
    open_technical(cart_power)
    run(cart_power, "solve_ticket", 10, ticket="t1", agent="a1")
    assert rejected(cart_power, "agent_reply", 11, ticket="t1", agent="a1") == \
        "invalid_transition"
    run(cart_power, "customer_reply", 12, ticket="t1")  # reopens within the window
    ticket = cart_power.load(Ticket, Ticket.id_for("t1"))
    assert ticket.status == "open"


def test_r_tkt_7_decline_reasons_come_from_the_profile(cart_power):
    """R-TKT-7: only the listed reason codes stop processing."""
    open_technical(cart_power)
    assert rejected(cart_power, "decline_ticket", 10, ticket="t1", agent="a1",
                    reason="bored") == "invalid_argument"
    run(cart_power, "decline_ticket", 10, ticket="t1", agent="a1", reason="cannot_reproduce")


def test_r_ban_3_a_banned_customer_cannot_open_tickets_and_is_told_until_when(cart_power):
    """R-BAN-3: the rejection says until when the ban runs."""
    until = (T0 + timedelta(days=3)).isoformat()
    run(cart_power, "ban", 1, customer="c1", agent="a1", reason="rudeness", until=until)
    with pytest.raises(SupportlogError) as info:
        open_technical(cart_power)
    assert info.value.code == "banned" and "until" in info.value.message


def test_r_ban_1_ban_reasons_come_from_the_profile(cart_power):
    """R-BAN-1: bans name one of the listed reasons."""
    assert rejected(cart_power, "ban", 1, customer="c1", agent="a1",
                    reason="bad_mood") == "invalid_argument"


def test_r_dsp_2_anonymous_customers_cannot_dispute(cart_power):
    """R-DSP-2: no disputes from anonymous customers."""
    run(cart_power, "register_customer", customer="anon", anonymous=True)
    assert rejected(cart_power, "open_dispute", customer="anon", dispute="d1",
                    charge="t1/1") == "anonymous_not_accepted"


def test_r_tkt_8_prem_site_free_plan_gets_sales_only():
    """R-TKT-8: a department the plan does not include is rejected."""
    desk = desk_for("prem-site")
    run(desk, "register_customer", customer="c1", email="x@example.com")
    run(desk, "start_subscription", customer="c1", subscription="s1", plan="free",
        term="month")
    assert rejected(desk, "open_ticket", 5, customer="c1", ticket="t1",
                    department="technical", channel="helpdesk",
                    subject="x") == "department_not_allowed"
    run(desk, "open_ticket", 5, customer="c1", ticket="t1", department="sales",
        channel="helpdesk", subject="x")


def test_r_tkt_11_phone_is_consultation_only_on_insales():
    """R-TKT-11: account changes by phone need a written request."""
    desk = desk_for("insales")
    run(desk, "register_customer", customer="c1", email="x@example.com")
    run(desk, "start_subscription", customer="c1", subscription="s1", plan="site",
        term="month")
    assert rejected(desk, "open_ticket", 5, customer="c1", ticket="t1",
                    department="technical", channel="phone",
                    subject="delete my shop") == "written_request_required"


def test_r_qta_5_cs_cart_standard_allows_10_requests_a_month():
    """R-QTA-5, R-SUB-1: the 11th request is rejected with the reset date."""
    desk = desk_for("cs-cart")
    run(desk, "register_customer", customer="c1", email="x@example.com")
    run(desk, "buy_license", customer="c1", license="l1", product="cs-cart")
    for n in range(10):
        open_technical(desk, ticket=f"t{n}", at_min=5 + n)
    with pytest.raises(SupportlogError) as info:
        open_technical(desk, ticket="t10", at_min=30)
    assert info.value.code == "request_limit_reached" and "2026-04-01" in info.value.message


def test_r_sub_3_entitlement_is_judged_at_ticket_creation():
    """R-SUB-3, R-SUB-2: a ticket opened in the period keeps its answer."""
    desk = desk_for("cs-cart")
    run(desk, "register_customer", customer="c1", email="x@example.com")
    run(desk, "buy_license", customer="c1", license="l1", product="cs-cart")
    open_technical(desk, ticket="t1", at_min=60 * 24 * 29)
    late = 60 * 24 * 31
    run(desk, "agent_reply", late, ticket="t1", agent="a1")
    assert rejected(desk, "open_ticket", late, customer="c1", ticket="t2",
                    department="technical", channel="helpdesk",
                    subject="x") == "department_not_allowed"


def test_r_sla_1_cs_cart_standard_first_response_due_in_48_counted_hours():
    """R-SLA-1: cs-cart standard reacts within 48 counted hours."""
    desk = desk_for("cs-cart")
    run(desk, "register_customer", customer="c1", email="x@example.com")
    run(desk, "buy_license", customer="c1", license="l1", product="cs-cart")
    open_technical(desk, at_min=0)
    sla = desk.load(Ticket, Ticket.id_for("t1")).sla
    assert sla["target"] == "48 h" and sla["clock_mode"] == "calendar_excluding_non_working_days"
    assert datetime.fromisoformat(sla["due_at"]) == T0 + timedelta(hours=48)


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_profile_file_validates_and_has_the_scenario_names(profile_id):
    profile = builtin_profile(profile_id)
    assert profile.id == profile_id and profile.version == 1


def test_a_malformed_profile_names_the_key_and_what_was_expected():
    data = dict(builtin_profile("cart-power").data)
    data["tickets"] = {**data["tickets"], "queue_order": "random"}
    with pytest.raises(ProfileError) as info:
        PolicyProfile.from_data(data, "broken.json")
    assert "broken.json" in str(info.value) and "tickets.queue_order" in str(info.value)

