"""Profile versions: which policy each desk adopted and when (R-AUD-4).

Adopting a profile is an event that holds the whole profile; this keeps its version,
digest and the calendar timezone, which the analyst views use to cut months the way
the desk's own counters do.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Upsert, folds


@folds("policy.profile_adopted")
def fold_profile_versions(e: Any) -> list[Change]:
    d = e.data
    calendar = (d.get("profile") or {}).get("calendar") or {}
    return [Upsert("profile_versions", {
        "tenant": d["profile_id"], "version": d["version"], "digest": d["digest"]}, {
        "timezone": calendar.get("timezone") or "UTC", "adopted_at": e.time})]
