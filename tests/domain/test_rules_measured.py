"""R-SLA-4: measured, not promised. Each ticket's first-response time, resolution time
and the time it waited on the customer are recorded by the domain on the events that end
each interval, in calendar time and in the desk's business time (its calendar, the
profile's `sla.measured_clock`), with the calendar version; the tickets read model folds
them. Resolution time is measured only: no target, no timer, no breach.

CS-Cart's calendar: 09:00-18:00 UTC+4 (Europe/Samara), Monday to Friday; T0 is Monday
2026-03-02 09:00 (the week before 8 March's observed Monday off)."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

from domain.desk import SupportDesk
from domain.policy.profile import PolicyProfile, builtin_profile
from domain.ticket import Ticket
from replay.streams import envelopes
from tests.domain.test_rules import T0, desk_for, run
from tests.domain.test_rules_lifecycle import DAY
from tests.domain.test_rules_quota_start import folded

H = 60  # minutes in an hour
MON_17, TUE_10, TUE_11 = 8 * H, DAY + H, DAY + 2 * H
WED_10, WED_12 = 2 * DAY + H, 2 * DAY + 3 * H


def opened(desk: SupportDesk, at_min: int = MON_17) -> SupportDesk:
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "buy_license", customer="c1", license="l1", product="cs-cart")
    run(desk, "open_ticket", at_min, customer="c1", ticket="t1", department="technical",
        channel="helpdesk", subject="Checkout fails")
    return desk


def measured(desk: SupportDesk, event_class: type) -> list[dict]:
    return [e.measured for e in desk.events.get(Ticket.id_for("t1"))
            if isinstance(e, event_class)]


def ticket_row(desk: SupportDesk) -> dict:
    """The ticket's read-model row (a column no change set is absent: NULL)."""
    return folded(envelopes(desk))["tickets"][(("ticket", "t1"),)]


def test_r_sla_4_the_first_response_records_calendar_and_business_time():
    """Monday 17:00 to Tuesday 10:00: 17 hours, of which 2 are working hours."""
    desk = opened(desk_for("cs-cart"))
    run(desk, "agent_reply", TUE_10, ticket="t1", agent="a1")
    [times] = measured(desk, Ticket.AgentReplied)
    assert (times["first_response_seconds"], times["first_response_business_seconds"]) \
        == (17 * 3600, 2 * 3600)
    assert (times["calendar_id"], times["calendar_version"], times["clock_mode"]) == (
        "ulyanovsk-office", 1, "business_hours")


def test_r_sla_4_waiting_on_the_customer_and_resolution_are_measured():
    """Waiting Tuesday 11:00 to Wednesday 10:00 (23 h, 8 working); solved Wednesday 12:00,
    43 h after opening, 13 of them working hours."""
    desk = opened(desk_for("cs-cart"))
    run(desk, "agent_reply", TUE_11, ticket="t1", agent="a1", waiting_on_customer=True)
    run(desk, "customer_reply", WED_10, ticket="t1")
    run(desk, "solve_ticket", WED_12, ticket="t1", agent="a1")
    [replied] = measured(desk, Ticket.CustomerReplied)
    assert (replied["waiting_seconds"], replied["waiting_business_seconds"]) == (
        23 * 3600, 8 * 3600)
    [solved] = measured(desk, Ticket.Solved)
    assert (solved["resolution_seconds"], solved["resolution_business_seconds"]) == (
        43 * 3600, 13 * 3600)
    assert solved["waiting_seconds"] == 23 * 3600 and "first_response_seconds" not in solved
    row = ticket_row(desk)
    assert (row["first_response_seconds"], row["first_response_business_seconds"]) == (
        18 * 3600, 3 * 3600)
    assert (row["waiting_seconds"], row["waiting_business_seconds"]) == (23 * 3600, 8 * 3600)
    assert (row["resolution_seconds"], row["resolution_business_seconds"]) == (
        43 * 3600, 13 * 3600)
    assert row["solved_at"] == "2026-03-04T08:00:00Z"  # Wednesday 12:00 at UTC+4


def test_r_sla_4_a_second_reply_while_waiting_does_not_restart_the_wait():
    desk = opened(desk_for("cs-cart"))
    run(desk, "agent_reply", TUE_10, ticket="t1", agent="a1", waiting_on_customer=True)
    run(desk, "agent_reply", TUE_11, ticket="t1", agent="a1", waiting_on_customer=True)
    run(desk, "customer_reply", WED_10, ticket="t1")
    [replied] = measured(desk, Ticket.CustomerReplied)
    assert replied["waiting_seconds"] == 24 * 3600


def test_r_sla_4_a_silent_customer_s_wait_ends_when_the_ticket_closes():
    """R-TKT-5: the 30 silent days are time waited on the customer."""
    desk = opened(desk_for("cs-cart"))
    run(desk, "agent_reply", TUE_10, ticket="t1", agent="a1", waiting_on_customer=True)
    closes = T0 + timedelta(minutes=TUE_10 + 30 * DAY)
    assert desk.fire_timer("auto_close_silent", "t1", "autoclose:t1", closes).events
    [closed] = measured(desk, Ticket.Closed)
    assert closed["waiting_seconds"] == 30 * 24 * 3600
    assert 0 < closed["waiting_business_seconds"] < closed["waiting_seconds"]
    assert ticket_row(desk)["waiting_seconds"] == 30 * 24 * 3600


def test_r_sla_4_a_new_ticket_has_waited_nothing_and_a_reopened_one_is_not_resolved():
    desk = opened(desk_for("cs-cart"))
    row = ticket_row(desk)
    assert (row["waiting_seconds"], row.get("first_response_seconds")) == (0, None)
    run(desk, "solve_ticket", TUE_10, ticket="t1", agent="a1")
    assert ticket_row(desk)["resolution_seconds"] == 17 * 3600
    run(desk, "customer_reply", TUE_11, ticket="t1")
    row = ticket_row(desk)
    assert (row["status"], row["resolution_seconds"], row["solved_at"]) == ("open", None, None)


def test_r_sla_4_business_time_counts_by_the_profile_s_measured_clock():
    """A desk measuring on the continuous clock counts every hour."""
    data = copy.deepcopy(dict(builtin_profile("cs-cart").data))
    data["sla"]["measured_clock"] = "continuous"
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(PolicyProfile.from_data(data), T0)
    opened(desk)
    run(desk, "agent_reply", TUE_10, ticket="t1", agent="a1")
    [times] = measured(desk, Ticket.AgentReplied)
    assert times["first_response_business_seconds"] == times["first_response_seconds"]
    assert times["clock_mode"] == "continuous"


def test_r_sla_4_resolution_is_measured_never_judged():
    """The only target a ticket records is its first response's (R-SLA-1, R-SLA-5)."""
    desk = opened(desk_for("cs-cart"))
    run(desk, "solve_ticket", WED_12, ticket="t1", agent="a1")
    rows = folded(envelopes(desk))
    assert {t["kind"] for t in rows.get("timers", {}).values()} <= {
        "sla_breach", "auto_close_solved", "month_rollover", "support_period_end"}
    ticket = desk.load(Ticket, Ticket.id_for("t1"))
    assert set(ticket.sla) >= {"target", "due_at"} and "resolution" not in str(ticket.sla)


def test_r_sla_4_tickets_recorded_before_the_measures_read_unknown_not_zero():
    """An event recorded before `measured` existed lacks it: the columns stay NULL."""
    desk = opened(desk_for("cs-cart"))
    run(desk, "agent_reply", TUE_11, ticket="t1", agent="a1", waiting_on_customer=True)
    run(desk, "solve_ticket", WED_12, ticket="t1", agent="a1")
    old = [replace(e, data={k: v for k, v in e.data.items() if k != "measured"})
           for e in envelopes(desk)]
    row = folded(old)["tickets"][(("ticket", "t1"),)]
    assert (row.get("waiting_seconds"), row.get("resolution_seconds")) == (None, None)
