"""The holds projection (R-CRD-7): a modification charge is reserved on the balance
first, then captured or released. The domain records both halves on `credit.charged`
(its `hold`); this fold turns them into a row and never computes a price itself.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Upsert, folds


def hold_status(reserved: int, captured: int | None) -> str:
    """Returns `reserved`, `captured`, `partly_captured` or `released`."""
    if captured is None:
        return "reserved"
    if captured >= reserved:
        return "captured"
    return "released" if captured == 0 else "partly_captured"


@folds("credit.charged")
def fold_holds(e: Any) -> list[Change]:
    """A charge that carries a hold becomes a holds row; other charges change nothing."""
    d = e.data
    hold = d.get("hold")
    if not hold:
        return []
    reserved = int(hold["reserved"])
    captured = hold.get("captured")
    released = reserved - int(captured) if captured is not None else 0
    return [Upsert("holds", {"charge_id": d["charge_id"]}, {
        "customer": e.customer, "ticket": d["ticket"], "entry": d["entry"],
        "rule": d["rule"], "reserved": reserved, "captured": captured,
        "released": released, "status": hold_status(reserved, captured),
        "profile_version": d.get("profile_version"), "at": e.time})]
