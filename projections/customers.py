"""The customers projection: who is registered with which desk, and who was erased.

The e-mail and name are copied sealed, as the event holds them (R-PRV-1): no read
model holds personal data in plain text. An erasure empties them too: values stored in
plain text before encryption existed are gone from the row (the store still holds
them until it is migrated, docs/privacy.md)."""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Update, Upsert, folds


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


@folds("customer.erased")
def fold_customer_erased(envelope: Any) -> list[Change]:
    """R-PRV-1: the row keeps the customer, the desk and when; nothing personal."""
    return [Update("customers", {"customer": envelope.customer},
                   {"email": None, "name": None, "erased_at": envelope.time})]
