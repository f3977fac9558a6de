"""The work log and the notices (R-AUD-1, R-CRD-5): every work entry with the decision
that priced it, free and unbilled time included, and every notice given before
charging more. `charges` (in `readmodels`) lists only what was billed.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Upsert, folds


@folds("ticket.work_logged")
def fold_work_log(e: Any) -> list[Change]:
    d = e.data
    pricing = d.get("pricing") or {}
    charge = d.get("charge") or {}
    return [Upsert("work_log", {"ticket": e.ref, "entry": d["entry"]}, {
        "customer": e.customer, "tenant": e.tenant, "agent": d["agent"],
        "minutes": d["minutes"], "kind": d["kind"], "classification": d.get("classification"),
        "rule": pricing.get("rule") or charge.get("rule") or "unpriced",
        "billable_minutes": pricing.get("billable_minutes", 0),
        "unbilled_minutes": pricing.get("unbilled_minutes", 0),
        "package_minutes": pricing.get("package_minutes", 0),
        "modification": bool(pricing.get("modification")),
        "free_modification": bool(pricing.get("free_modification")),
        "charge_id": charge.get("charge_id"), "credits": charge.get("credits"),
        "money": charge.get("money"), "at": e.time})]


@folds("ticket.customer_notified")
def fold_ticket_notices(e: Any) -> list[Change]:
    return [Upsert("ticket_notices", {"event_id": e.id}, {
        "ticket": e.ref, "customer": e.customer, "notice": e.data["notice"],
        "agent": e.data["agent"], "at": e.time})]
