"""SLA targets (R-SLA-1, R-SLA-2, R-SLA-3, R-SLA-5): which first-response target a new
ticket gets under a profile, and when it falls due; and the measures of R-SLA-4 (first
response, resolution, waiting on the customer) in calendar and business time.

Pure: the profile and the opening instant are arguments, and the answer records the
rule, calendar version and clock mode that produced it, so a breach can be explained and
is never recomputed under a later calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.base import utc
from domain.calendar import ClockMode
from domain.policy.profile import PolicyProfile


def sla_target(profile: PolicyProfile, *, plan: str | None, channel: str,
               category: str | None, department: str, opened_at: datetime) -> dict | None:
    """Returns the first-response target that matches, with its due time (R-SLA-1, R-SLA-2,
    R-SLA-3). Targets may depend on the category: inSales answers a refund application
    within 24 h and a complaint within 7 business days (R-PAY-3)."""
    sla = profile.section("sla")
    facts = {"plan": plan, "channel": channel, "category": category,
             "department": department}
    for target in sla["targets"]:
        when = target["when"]
        if any(key in when and facts[key] not in when[key]
               for key in ("plan", "channel", "category", "department")):
            continue
        if "category_not" in when and category in when["category_not"]:
            continue
        calendar_key = target.get("calendar", "calendar")
        calendar = profile.named_calendar(calendar_key)
        if "business_days" in target:
            mode = ClockMode.BUSINESS_DAYS
            duration = timedelta(days=target["business_days"])
            label = f"{target['business_days']} business days"
        else:
            mode = ClockMode(target.get("clock", sla["default_clock"]))
            duration = timedelta(hours=target["hours"])
            label = f"{target['hours']} h"
        due = calendar.due(opened_at, duration, mode)
        return {"target": label, "rule": target.get("rule", "R-SLA-1"),
                "due_at": utc(due).isoformat(), "clock_mode": str(mode),
                "calendar_id": calendar.calendar_id, "calendar_version": calendar.version,
                "profile_version": profile.version}
    return None


def measure(profile: PolicyProfile, ticket: Any, now: datetime, *,
            first_response: bool = False, solved: bool = False,
            ends_wait: bool = True) -> dict[str, Any]:
    """Returns the R-SLA-4 figures an event at `now` ends, in whole seconds: calendar time
    and the desk's business time (its calendar, counted by `sla.measured_clock`).

    Always: `waiting_seconds` and `waiting_business_seconds`, the time the ticket has
    waited on the customer in all, counting the wait `now` ends (`ends_wait`, if it is
    waiting); with `first_response`, the time from opening to this first reaction; with
    `solved`, the time from opening to this solution (resolution is measured, never a
    target). The calendar id and version and the clock are recorded with them, so a
    later calendar never changes what was measured (R-SLA-5)."""
    calendar = profile.calendar
    mode = ClockMode(profile.section("sla").get("measured_clock",
                                                ClockMode.BUSINESS_HOURS.value))
    at = utc(now)
    spans = list(ticket.waiting_spans)
    if ends_wait and ticket.waiting_since is not None:
        spans.append((ticket.waiting_since, at))
    out: dict[str, Any] = {
        "calendar_id": calendar.calendar_id, "calendar_version": calendar.version,
        "clock_mode": str(mode),
        "waiting_seconds": sum(_seconds(hi - lo) for lo, hi in spans),
        "waiting_business_seconds": sum(_seconds(calendar.elapsed(lo, hi, mode))
                                        for lo, hi in spans)}
    for name, wanted in (("first_response", first_response), ("resolution", solved)):
        if wanted:
            out[f"{name}_seconds"] = _seconds(at - ticket.opened_at)
            out[f"{name}_business_seconds"] = _seconds(
                calendar.elapsed(ticket.opened_at, at, mode))
    return out


def measure_opened(profile: PolicyProfile) -> dict[str, Any]:
    """The figures of a ticket just opened: the clock it is measured by, nothing waited
    (R-SLA-4)."""
    calendar = profile.calendar
    mode = profile.section("sla").get("measured_clock", ClockMode.BUSINESS_HOURS.value)
    return {"calendar_id": calendar.calendar_id, "calendar_version": calendar.version,
            "clock_mode": str(ClockMode(mode)), "waiting_seconds": 0,
            "waiting_business_seconds": 0}


def _seconds(duration: timedelta) -> int:
    return max(0, int(duration.total_seconds()))
