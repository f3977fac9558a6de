"""SLA targets (R-SLA-1..3, R-SLA-5): which first-response target a new ticket gets under
a profile, and when it falls due.

Pure: the profile and the opening instant are arguments, and the answer records the
rule, calendar version and clock mode that produced it, so a breach can be explained and
is never recomputed under a later calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.base import utc
from domain.calendar import ClockMode
from domain.policy.profile import PolicyProfile


def sla_target(profile: PolicyProfile, *, plan: str | None, channel: str,
               category: str | None, department: str, opened_at: datetime) -> dict | None:
    """Returns the first-response target that matches, with its due time (R-SLA-1..3)."""
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
