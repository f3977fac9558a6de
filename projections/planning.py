"""Planning a batch: what to do with each incoming event before any row is written.

Shared by the projector (`consumers.projector`), the dead-letter retry and the rebuild
(`replay.rebuild`), so a rebuilt table can differ from the live one only because of the
live rows, never because of a second implementation of the rules below. Pure: no I/O;
it reads only each item's envelope (duck-typed: the fields `aggregate_id`,
`aggregate_version` and `type`, which `eventlog.envelope.Envelope` has), never where the
item came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from projections.changes import Change, changes_for, is_known


class Incoming(NamedTuple):
    """An event to plan: its decoded envelope, or the reason it could not be decoded.

    `record` is where it came from, carried through untouched for the caller: the Kafka
    record for the projector (its quarantine keeps the record's bytes and position),
    None for a rebuild, which reads no record. A named tuple, since there is one per
    event on the projector's hot path."""

    record: Any
    envelope: Any | None
    error: str | None = None


@dataclass(frozen=True)
class Apply:
    """Fold this event: write its changes and advance its aggregate's applied version."""

    item: Incoming
    changes: list[Change]


@dataclass(frozen=True)
class Skip:
    """Ignore this event: its aggregate version is applied (or already quarantined)."""

    item: Incoming


@dataclass(frozen=True)
class Quarantine:
    """Keep this event aside with the reason; its aggregate's later events wait."""

    item: Incoming
    reason: str


Step = Apply | Skip | Quarantine


def parked_reason(aggregate_id: str) -> str:
    """Returns why an event waits behind an earlier one of its aggregate."""
    return f"parked: an earlier event of aggregate {aggregate_id} is in quarantine"


def plan_batch(items: Iterable[Incoming], applied: dict[str, int],
               quarantined: dict[str, set[int]]) -> list[Step]:
    """Returns what to do with each item, in order.

    `applied` is the highest applied version per aggregate id; `quarantined` the
    versions per aggregate waiting in the quarantine. An aggregate with any event in
    quarantine is parked: its later events are quarantined too, so that a retry folds
    them in order (folds set values, so folding an older event last would be wrong).
    """
    applied = dict(applied)
    parked = {a for a, versions in quarantined.items() if versions}
    steps: list[Step] = []
    for item in items:
        e = item.envelope
        if e is None:
            steps.append(Quarantine(item, item.error or "undecodable"))
            continue
        agg = e.aggregate_id
        if e.aggregate_version <= applied.get(agg, 0) or \
                e.aggregate_version in quarantined.get(agg, ()):
            steps.append(Skip(item))
            continue
        if agg in parked:
            steps.append(Quarantine(item, parked_reason(agg)))
            continue
        if not is_known(e.type):
            reason = f"unknown event type {e.type!r}"
        else:
            try:
                steps.append(Apply(item, changes_for(e)))
                applied[agg] = e.aggregate_version
                continue
            except Exception as error:  # any fold bug: quarantined with its reason
                reason = f"fold failed: {type(error).__name__}: {error}"
        parked.add(agg)
        steps.append(Quarantine(item, reason))
    return steps
