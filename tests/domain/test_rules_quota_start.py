"""R-QTA-1: the quota counters exist from the start. Registering, buying a licence,
starting, changing, cancelling or ending a plan records the month's quota with the
plan's allowance (`customer.allowance_set`), so the read models answer right before the
customer's first ticket: the plan's free modifications, a zero balance, no ban. The
projections are folded here in memory with the projector's own folds."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from domain.customer import Customer
from domain.desk import SupportDesk
from domain.policy.profile import PolicyProfile, builtin_profile
from eventlog.envelope import Envelope
from projections.changes import Delete, Update, Upsert, changes_for
from replay.as_of import customer_as_of
from replay.streams import envelopes
from tests.domain.test_rules import T0, desk_for, open_technical, run
from tests.domain.test_rules_lifecycle import DAY

Rows = dict[str, dict[tuple, dict[str, Any]]]


def folded(items: Iterable[Envelope]) -> Rows:
    """The read-model rows the projector's folds make of `items`, as the database would
    hold them (an upsert inserts or sets, an update sets an existing row)."""
    tables: Rows = {}
    for envelope in items:
        for change in changes_for(envelope):
            rows = tables.setdefault(change.table, {})
            key = tuple(sorted(change.key.items()))
            if isinstance(change, Delete):
                rows.pop(key, None)
            elif isinstance(change, Upsert):
                rows[key] = {**rows.get(key, dict(change.key)), **change.values}
            elif isinstance(change, Update) and key in rows:
                rows[key].update(change.values)
    return tables


def row(desk: SupportDesk, table: str, **key: Any) -> dict[str, Any] | None:
    return folded(envelopes(desk)).get(table, {}).get(tuple(sorted(key.items())))


def quota(desk: SupportDesk, customer: str = "c1") -> tuple | None:
    """(month, requests_used, requests_limit, modifications_used, free_left) as the
    scenario check and `analytics.quota_months` read them."""
    found = row(desk, "quotas", customer=customer)
    if found is None:
        return None
    return (found["month"], found["requests_used"], found["requests_limit"],
            found["modifications_used"], found["free_limit"] - found["free_used"])


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def registered(profile_id: str) -> SupportDesk:
    desk = desk_for(profile_id)
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    return desk


def test_r_qta_1_cs_cart_plus_reads_4_free_modifications_right_after_it_starts():
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    assert quota(desk) == ("2026-03", 0, None, 0, 4)
    month = row(desk, "quota_months", customer="c1", month="2026-03")
    assert month is not None and (month["free_limit"], month["free_used"]) == (4, 0)


def test_r_qta_1_insales_site_reads_4_and_premium_10_before_the_first_ticket():
    desk = registered("insales")
    run(desk, "register_customer", customer="c2", email="c2@example.com")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="site",
        term="month")
    run(desk, "start_subscription", 1, customer="c2", subscription="s2", plan="premium",
        term="month")
    assert quota(desk, "c1")[4] == 4 and quota(desk, "c2")[4] == 10


def test_r_qta_1_a_registered_customer_has_a_quota_a_zero_balance_and_no_ban():
    """Before any plan, ticket, purchase or ban: the no-plan allowance, 0 credits, and
    not banned, as rows rather than as the absence of rows."""
    desk = registered("cart-power")
    assert quota(desk) == ("2026-03", 0, None, 0, 0)
    assert row(desk, "balances", customer="c1")["credits"] == 0
    assert row(desk, "bans", customer="c1")["banned"] is False


def test_r_qta_5_a_cs_cart_licence_reads_its_10_requests_then_unlimited_after_it():
    """R-QTA-5, R-SUB-2: the licence's Standard allows 10 requests a month; when its
    period ends the allowance is the no-plan one."""
    desk = registered("cs-cart")
    run(desk, "buy_license", 1, customer="c1", license="l1", product="cs-cart")
    assert row(desk, "quotas", customer="c1")["requests_limit"] == 10
    desk.fire_timer("support_period_end", "c1/l1", "period:c1/l1", at(31 * DAY))
    assert row(desk, "quotas", customer="c1")["requests_limit"] is None


def test_r_qta_1_a_plan_change_before_the_first_ticket_reads_the_new_allowance():
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    run(desk, "change_plan", 2, subscription="s1", plan="ultimate")
    assert quota(desk)[4] == 7


def test_r_qta_1_the_month_s_counters_stay_when_the_allowance_changes():
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    open_technical(desk, at_min=2)
    run(desk, "log_work", 3, ticket="t1", agent="a1", minutes=10, kind="modification")
    run(desk, "change_plan", 4, subscription="s1", plan="ultimate")
    assert quota(desk) == ("2026-03", 1, None, 1, 6)


def test_r_qta_1_an_ended_plan_reads_the_no_plan_allowance():
    """R-SUB-5: an expired subscription, or one cancelled with immediate effect, no
    longer gives its free modifications."""
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    desk.fire_timer("subscription_expiry", "s1", "subscription:s1", at(32 * DAY))
    assert quota(desk)[4] == 0
    data = copy.deepcopy(dict(builtin_profile("cs-cart").data))
    data["subscriptions"]["cancel_effective"] = "immediately"
    now = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now.adopt(PolicyProfile.from_data(data), T0)
    run(now, "register_customer", customer="c1", email="c1@example.com")
    run(now, "start_subscription", 1, customer="c1", subscription="s1", plan="ultimate",
        term="year")
    assert quota(now)[4] == 7
    run(now, "cancel_subscription", 2, subscription="s1")
    assert quota(now)[4] == 0


def test_r_qta_3_the_quota_set_at_the_start_rolls_over_with_the_month():
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="year")
    timer = row(desk, "timers", timer_id="rollover:c1")
    assert timer is not None and timer["kind"] == "month_rollover"
    desk.fire_timer("month_rollover", "c1", "rollover:c1", at(30 * DAY))
    assert quota(desk) == ("2026-04", 0, None, 0, 4)


def test_r_qta_1_a_log_recorded_before_the_allowance_was_an_event_keeps_the_lazy_row():
    """Old logs have no `customer.allowance_set`: the row appears at the first counted
    request, as it did when those logs were written."""
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    open_technical(desk, at_min=2)
    old = [e for e in envelopes(desk) if e.type != "customer.allowance_set"]
    counted = next(n for n, e in enumerate(old) if e.type == "customer.request_counted")
    assert "quotas" not in folded(old[:counted])
    assert folded(old)["quotas"][(("customer", "c1"),)]["free_limit"] == 4


def test_r_qta_1_as_of_shows_the_allowance_before_the_first_ticket():
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    state = customer_as_of(desk, "c1", at(10))
    assert state is not None and state.quota["counted"]
    assert (state.quota["free_limit"], state.quota["free_used"]) == (4, 0)


def test_r_qta_1_the_allowance_event_names_its_cause_and_the_plan():
    desk = registered("cs-cart")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    events = [e for e in desk.events.get(Customer.id_for("c1"))
              if isinstance(e, Customer.AllowanceSet)]
    assert [(e.cause, e.plan, e.free_limit) for e in events] == [
        ("registration", None, 0), ("subscription:s1", "plus", 4)]

