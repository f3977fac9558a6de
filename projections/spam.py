"""Spam review (R-BAN-2): duplicates not caused by a technical fault, and the flags
raised when enough of them fall in the window. The ban itself is an agent's decision
(the `bans` projection); these rows are what the agent reviews.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Upsert, folds


@folds("ban.duplicate_noted")
def fold_spam_duplicates(e: Any) -> list[Change]:
    return [Upsert("spam_duplicates", {"event_id": e.id}, {
        "customer": e.customer, "tenant": e.tenant, "ticket": e.data["ticket"],
        "opened_at": e.data["opened_at"], "noted_at": e.time})]


@folds("ban.spam_suspected")
def fold_spam_flags(e: Any) -> list[Change]:
    return [Upsert("spam_flags", {"event_id": e.id}, {
        "customer": e.customer, "tenant": e.tenant, "duplicates": e.data["duplicates"],
        "window_hours": e.data["window_hours"], "flagged_at": e.time})]
