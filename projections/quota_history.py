"""Monthly quota history (R-QTA-1, R-QTA-2, R-QTA-3, R-QTA-4, R-QTA-5): every month's
counters per customer, and a line per counted request or modification naming its ticket.

`quotas` (in `readmodels`) keeps only the current month, which the scenario checks
read; analysts need the months before it and the plan each request came under. The
counted events carry every counter of their month, so a row is set whole.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Upsert, folds

_KIND = {"customer.request_counted": "request", "customer.modification_counted": "modification"}


@folds(*_KIND)
def fold_quota_months(e: Any) -> list[Change]:
    """Sets the month's counters and records which ticket was counted."""
    d = e.data
    return [
        Upsert("quota_months", {"customer": e.customer, "month": d["month"]}, {
            "tenant": e.tenant, "requests_used": d["requests_used"],
            "requests_limit": d["requests_limit"],
            "modifications_used": d["modifications_used"], "free_used": d["free_used"],
            "free_limit": d["free_limit"], "updated_at": e.time}),
        Upsert("quota_usage", {"event_id": e.id}, {
            "customer": e.customer, "tenant": e.tenant, "month": d["month"],
            "ticket": d["ticket"], "kind": _KIND[e.type], "free": bool(d.get("free")),
            "at": e.time}),
    ]


@folds("customer.month_rolled_over")
def fold_quota_month_started(e: Any) -> list[Change]:
    """A new month starts at zero; only its free limit is known yet (R-QTA-3)."""
    return [Upsert("quota_months", {"customer": e.customer, "month": e.data["month"]}, {
        "tenant": e.tenant, "free_limit": e.data["free_limit"], "updated_at": e.time})]


@folds("customer.allowance_set")
def fold_quota_month_allowance(e: Any) -> list[Change]:
    """The month's counters with the plan's allowance, set when an entitlement starts,
    changes or ends: the month has its row before the first ticket (R-QTA-1)."""
    d = e.data
    return [Upsert("quota_months", {"customer": e.customer, "month": d["month"]}, {
        "tenant": e.tenant, "requests_used": d["requests_used"],
        "requests_limit": d["requests_limit"],
        "modifications_used": d["modifications_used"], "free_used": d["free_used"],
        "free_limit": d["free_limit"], "updated_at": e.time})]
