"""SLA state (R-SLA-1, R-SLA-2, R-SLA-3, R-SLA-4, R-SLA-5): each ticket's first-response
clock, and the breaches.

The target, due time, calendar version and clock mode were decided when the ticket
was opened and are recorded on its events; these folds copy them. A breach row keeps
what it was judged by, so a later calendar change never rewrites it (R-SLA-5). The
clock's state is derived in the view (breached, met, stopped, running) rather than
stored, so a late first response never overwrites the fact of a breach.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Update, Upsert, folds


@folds("ticket.opened")
def fold_sla_clock_started(e: Any) -> list[Change]:
    """A ticket with a target starts its clock; one without has no row."""
    sla = e.data.get("sla")
    if not sla:
        return []
    return [Upsert("sla_clocks", {"ticket": e.data["ticket"]}, {
        "customer": e.customer, "tenant": e.tenant, "target": sla["target"],
        "rule": sla.get("rule"), "due_at": sla["due_at"], "clock_mode": sla["clock_mode"],
        "calendar_id": sla.get("calendar_id"), "calendar_version": sla.get("calendar_version"),
        "profile_version": sla.get("profile_version"), "opened_at": e.time})]


@folds("ticket.agent_replied", "ticket.solved", "ticket.declined", "ticket.forwarded")
def fold_sla_first_response(e: Any) -> list[Change]:
    """The first agent reaction stops the clock (R-SLA-4)."""
    if not e.data.get("first_response"):
        return []
    return [Update("sla_clocks", {"ticket": e.ref}, {"first_response_at": e.time})]


@folds("ticket.merged")
def fold_sla_stopped(e: Any) -> list[Change]:
    """A merged ticket is answered through the one it duplicates: its clock stops."""
    return [Update("sla_clocks", {"ticket": e.ref}, {"stopped_at": e.time})]


@folds("ticket.sla_breached")
def fold_sla_breaches(e: Any) -> list[Change]:
    """Records the breach with the target, due time, calendar version and clock mode."""
    d = e.data
    return [
        Update("sla_clocks", {"ticket": e.ref}, {"breached_at": d["due_at"]}),
        Upsert("sla_breaches", {"ticket": e.ref}, {
            "customer": e.customer, "tenant": e.tenant, "target": d["target"],
            "due_at": d["due_at"], "calendar_id": d["calendar_id"],
            "calendar_version": d["calendar_version"], "clock_mode": d["clock_mode"],
            "timer_id": d.get("timer_id"), "event_id": e.id, "recorded_at": e.time}),
    ]
