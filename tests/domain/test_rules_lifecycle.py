"""Policy rules proven on the domain alone: packages, quotas, paid work, timers,
duplicates and disputes (in-memory event store, fixed clock)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.ban import Ban
from domain.credit_account import CreditAccount
from domain.customer import Customer
from domain.dispute import Dispute
from domain.subscription import Subscription
from domain.ticket import Ticket
from tests.domain.test_rules import T0, balance, desk_for, open_technical, rejected, run

DAY = 24 * 60


def ticket(desk, name="t1") -> Ticket:
    return desk.load(Ticket, Ticket.id_for(name))


def charges(desk, name="t1") -> list[dict]:
    return [e.charge for e in desk.events.get(Ticket.id_for(name))
            if isinstance(e, Ticket.WorkLogged) and e.charge]


@pytest.fixture
def insales_site():
    desk = desk_for("insales")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="site",
        term="month")
    open_technical(desk)
    return desk


def modification(desk, at_min, minutes):
    run(desk, "log_work", at_min, ticket="t1", agent="a1", minutes=minutes,
        kind="modification")


def test_r_qta_1_site_plan_gives_4_free_modifications_then_r_qta_4_500_rub(insales_site):
    """R-QTA-1, R-QTA-4: four free small modifications a month, then 500 RUB each."""
    for n in range(4):
        modification(insales_site, 10 + n, 15)
    assert charges(insales_site) == []
    modification(insales_site, 20, 10)
    assert [c["money"] for c in charges(insales_site)] == ["500 RUB"]
    usage = insales_site.load(Customer, Customer.id_for("c1")).usage["2026-03"]
    assert usage["free_used"] == 4 and usage["modifications_used"] == 5


def test_r_qta_2_a_modification_over_15_minutes_is_paid_and_keeps_the_free_slot(
        insales_site):
    """R-QTA-2: longer than 15 minutes is paid on every plan; the quota is untouched."""
    modification(insales_site, 10, 20)
    assert [(c["money"], c["rule"]) for c in charges(insales_site)] == [("500 RUB", "R-QTA-2")]
    assert insales_site.load(Customer, Customer.id_for("c1")).usage["2026-03"][
        "free_used"] == 0


def test_r_qta_3_a_new_month_starts_counters_at_zero(insales_site):
    """R-QTA-3: the month-end timer resets the counters in the desk's timezone."""
    modification(insales_site, 10, 15)
    first_of_april = datetime.fromisoformat("2026-04-01T00:00:00+03:00")
    insales_site.fire_timer("month_rollover", "c1", "rollover:c1", first_of_april)
    customer = insales_site.load(Customer, Customer.id_for("c1"))
    assert customer.usage["2026-04"] == {"requests_used": 0, "modifications_used": 0,
                                         "free_used": 0}
    modification(insales_site, 31 * DAY, 15)
    assert charges(insales_site) == []


def test_r_sub_1_standard_is_never_bought_alone_and_terms_come_from_the_plan():
    """R-SUB-1: cs-cart standard comes with a licence; plus is sold monthly or yearly."""
    desk = desk_for("cs-cart")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    assert rejected(desk, "start_subscription", customer="c1", subscription="s1",
                    plan="standard", term="month") == "invalid_argument"
    assert rejected(desk, "start_subscription", customer="c1", subscription="s1",
                    plan="plus", term="3m") == "invalid_argument"
    run(desk, "start_subscription", customer="c1", subscription="s1", plan="plus",
        term="year")


def test_r_sub_4_an_incident_package_covers_one_request_up_to_2_hours():
    """R-SUB-4: the package covers 120 minutes of one ticket; the rest is credits."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "purchase_credits", customer="c1", purchase="p1", package=80)
    run(desk, "buy_package", customer="c1", purchase="inc1", package="incident")
    open_technical(desk, ticket="t1")
    run(desk, "log_work", 60, ticket="t1", agent="a1", minutes=120, kind="investigation")
    assert balance(desk, "c1") == 80
    run(desk, "log_work", 70, ticket="t1", agent="a1", minutes=15, kind="investigation")
    assert balance(desk, "c1") == 70
    open_technical(desk, ticket="t2", at_min=80)
    assert ticket(desk, "t2").package is None


def test_r_sub_5_subscription_started_changed_cancelled_and_expired_by_timer():
    """R-SUB-5: the subscription's events, ending with the expiry timer."""
    desk = desk_for("prem-site")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "start_subscription", customer="c1", subscription="s1", plan="standard",
        term="month")
    run(desk, "change_plan", 1, subscription="s1", plan="premium")
    run(desk, "cancel_subscription", 2, subscription="s1")
    sub = desk.load(Subscription, Subscription.id_for("s1"))
    assert (sub.plan, sub.status) == ("premium", "cancelled")
    assert desk.fire_timer("subscription_expiry", "s1", "x", sub.ends_at).events
    assert desk.fire_timer("subscription_expiry", "s1", "x", sub.ends_at).events == []
    assert desk.load(Subscription, Subscription.id_for("s1")).status == "expired"


def test_r_tkt_1_department_channel_and_category_must_be_the_profiles():
    """R-TKT-1: one customer, one department, a known channel and category."""
    desk = desk_for("insales")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    for field, value in (("department", "billing"), ("channel", "fax"),
                         ("category", "gossip")):
        args = {"customer": "c1", "ticket": "t1", "department": "consultation",
                "channel": "helpdesk", "subject": "x", field: value}
        assert rejected(desk, "open_ticket", **args) == "invalid_argument"


def test_r_tkt_2_a_ticket_with_several_problems_may_be_stopped():
    """R-TKT-2: one problem a ticket; reason multiple_problems stops processing."""
    desk = desk_for("imagecms")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "open_ticket", customer="c1", ticket="t1", department="consultation",
        channel="helpdesk", subject="three questions")
    run(desk, "decline_ticket", 5, ticket="t1", agent="a1", reason="multiple_problems")
    assert ticket(desk).status == "declined"


def test_r_tkt_4_a_solved_ticket_closes_after_7_quiet_days():
    """R-TKT-4: the solved ticket's auto-close time is recorded and its timer closes it."""
    desk = desk_for("imagecms")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "open_ticket", customer="c1", ticket="t1", department="consultation",
        channel="helpdesk", subject="x")
    run(desk, "solve_ticket", 10, ticket="t1", agent="a1")
    solved = [e for e in desk.events.get(Ticket.id_for("t1")) if isinstance(e, Ticket.Solved)]
    assert solved[0].auto_close_at == (T0 + timedelta(minutes=10, days=7))
    desk.fire_timer("auto_close_solved", "t1", "autoclose:t1", solved[0].auto_close_at)
    assert ticket(desk).status == "closed"


def test_r_tkt_5_a_ticket_silent_for_30_days_closes():
    """R-TKT-5: waiting on the customer for 30 days ends it (reason customer_silent_30_days)."""
    desk = desk_for("imagecms")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "open_ticket", customer="c1", ticket="t1", department="consultation",
        channel="helpdesk", subject="x")
    run(desk, "agent_reply", 10, ticket="t1", agent="a1", waiting_on_customer=True)
    desk.fire_timer("auto_close_silent", "t1", "autoclose:t1", T0 + timedelta(days=30))
    closed = [e for e in desk.events.get(Ticket.id_for("t1")) if isinstance(e, Ticket.Closed)]
    assert closed[0].reason == "customer_silent_30_days" and ticket(desk).status == "closed"


def test_r_tkt_6_the_ticket_records_the_plan_rank_and_queue_order_it_is_served_by():
    """R-TKT-6: premium licences rank above pro; ImageCMS orders by last comment."""
    desk = desk_for("imagecms")
    for name, product in (("c1", "shop-pro"), ("c2", "shop-premium")):
        run(desk, "register_customer", customer=name, email=f"{name}@example.com")
        run(desk, "buy_license", customer=name, license=f"l-{name}", product=product)
        open_technical(desk, customer=name, ticket=f"t-{name}")
    assert ticket(desk, "t-c2").rank > ticket(desk, "t-c1").rank
    assert ticket(desk, "t-c1").queue_order == "last_customer_comment"


def test_r_tkt_9_beyond_scope_work_is_forwarded_with_an_estimate():
    """R-TKT-9: forwarded to custom development; investigation time stays charged."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "purchase_credits", customer="c1", purchase="p1", package=80)
    open_technical(desk)
    run(desk, "log_work", 30, ticket="t1", agent="a1", minutes=15, kind="investigation",
        classification="customization")
    run(desk, "forward_ticket", 40, ticket="t1", agent="a1", to="custom_development",
        estimate_hours=6)
    assert ticket(desk).status == "forwarded" and balance(desk, "c1") == 70


def test_r_tkt_10_r_ban_2_duplicates_flag_spam_unless_a_technical_fault():
    """R-TKT-10, R-BAN-2: three deliberate duplicates in 24 h flag the customer;
    duplicates caused by a technical fault never count."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    open_technical(desk, ticket="t0", at_min=1)
    for n in range(1, 4):
        open_technical(desk, ticket=f"f{n}", at_min=1 + n)
        run(desk, "mark_duplicate", 10 + n, ticket=f"f{n}", of="t0", technical_fault=True)
    assert desk.load(Ban, Ban.id_for("c1")) is None
    for n in range(1, 4):
        open_technical(desk, ticket=f"d{n}", at_min=20 + n)
        run(desk, "mark_duplicate", 30 + n, ticket=f"d{n}", of="t0")
    events = desk.events.get(Ban.id_for("c1"))
    assert [type(e).__name__ for e in events][-1] == "SpamSuspected"
    assert ticket(desk, "d1").status == "merged"
    assert desk.load(Ban, Ban.id_for("c1")).active is None  # the ban stays an agent's call


def test_r_ban_3_ban_expiry_is_a_timer_event():
    """R-BAN-3: the term ends by timer; then tickets are accepted again."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    until = T0 + timedelta(days=2)
    run(desk, "ban", customer="c1", agent="a1", reason="spam", until=until.isoformat())
    desk.fire_timer("ban_expiry", "c1", "ban:c1", until)
    assert desk.load(Ban, Ban.id_for("c1")).active is None
    open_technical(desk, at_min=3 * DAY)


def test_r_dsp_1_r_dsp_3_upheld_dispute_compensates_r_crd_3_in_credits_not_money():
    """R-DSP-1: review due in 2 business days. R-DSP-3: upheld means a compensating
    event; the charge stays. R-CRD-3: paid credits come back as credits, never money."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "purchase_credits", customer="c1", purchase="p1", package=80)
    open_technical(desk)
    run(desk, "log_work", 30, ticket="t1", agent="a1", minutes=30, kind="investigation")
    run(desk, "open_dispute", 40, customer="c1", dispute="d1", charge="t1/1")
    dispute = desk.load(Dispute, Dispute.id_for("d1"))
    assert dispute.due_at == datetime.fromisoformat("2026-03-04T18:00:00+04:00")
    run(desk, "resolve_dispute", 50, dispute="d1", agent="m1", outcome="upheld",
        reason="wrong classification")
    account_events = list(desk.events.get(CreditAccount.id_for("c1")))
    kinds = [type(e).__name__ for e in account_events]
    assert kinds[-2:] == ["Charged", "Compensated"] and balance(desk, "c1") == 80
    assert desk.load(Dispute, Dispute.id_for("d1")).status == "upheld"
    assert rejected(desk, "resolve_dispute", 60, dispute="d1", agent="m1",
                    outcome="rejected", reason="again") == "invalid_transition"


def test_r_pay_3_insales_refunds_answer_in_24h_and_complaints_in_7_business_days():
    """R-PAY-3, R-SLA-1: refund requests get a 24 h target (weekends not counted),
    complaints 7 business days on the administrative calendar."""
    desk = desk_for("insales")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    friday = 4 * DAY  # 2026-03-06 09:00 +04:00 is a Friday
    for name, category in (("r1", "refund"), ("k1", "complaint")):
        run(desk, "open_ticket", friday, customer="c1", ticket=name,
            department="consultation", channel="helpdesk", subject="x", category=category)
    refund = ticket(desk, "r1").sla
    complaint = ticket(desk, "k1").sla
    # Friday 08:00 Moscow + 24 counted hours skips Saturday, Sunday and Monday 9 March
    # (Women's Day, moved off Sunday 8 March): Tuesday 08:00.
    assert datetime.fromisoformat(refund["due_at"]) == datetime.fromisoformat(
        "2026-03-10T08:00:00+03:00")
    assert complaint["target"] == "7 business days"
    assert complaint["calendar_id"] == "insales-admin"


def test_r_tkt_4_a_profile_may_change_the_auto_close_days():
    """R-TKT-4 decision: the 7 days are the default; a profile version may say 3."""
    from domain.desk import SupportDesk
    from domain.policy.profile import PolicyProfile, builtin_profile

    data = dict(builtin_profile("imagecms").data)
    data["version"] = 2
    data["tickets"] = {**data["tickets"], "auto_close_solved_days": 3}
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(PolicyProfile.from_data(data), T0)
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "open_ticket", customer="c1", ticket="t1", department="consultation",
        channel="helpdesk", subject="x")
    run(desk, "solve_ticket", 10, ticket="t1", agent="a1")
    solved = [e for e in desk.events.get(Ticket.id_for("t1")) if isinstance(e, Ticket.Solved)]
    assert solved[0].auto_close_at == T0 + timedelta(minutes=10, days=3)


def test_r_sla_5_a_late_first_reaction_records_the_breach_even_if_no_timer_fired():
    """R-SLA-5: the breach is a fact of the log, not of when a scheduler looked."""
    desk = desk_for("prem-site")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "start_subscription", customer="c1", subscription="s1", plan="premium",
        term="month")
    open_technical(desk, at_min=0)
    run(desk, "agent_reply", 5 * 60, ticket="t1", agent="a1")  # due after 3 h
    events = list(desk.events.get(Ticket.id_for("t1")))
    assert [type(e).__name__ for e in events[-2:]] == ["SlaBreached", "AgentReplied"]
    assert events[-2].due_at == T0 + timedelta(hours=3)
    assert desk.fire_timer("sla_breach", "t1", "sla:t1", T0 + timedelta(hours=6)).events == []
