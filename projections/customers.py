"""The customers projection: who is registered with which desk."""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Upsert, folds


@folds("customer.registered")
def fold_customers(envelope: Any) -> list[Change]:
    """A registration becomes a customers row."""
    data = envelope.data
    return [Upsert("customers", {"customer": envelope.customer}, {
        "tenant": envelope.tenant,
        "email": data.get("email"),
        "name": data.get("name"),
        "anonymous": bool(data.get("anonymous")),
        "registered_at": envelope.time,
    })]
