"""Where a removed event stood, when the relay's record cannot say: vacant positions.

An event removed from the middle of its stream leaves a gap in the versions: its id is
`event_id(aggregate, version)` and it stood between the positions of the versions
around it. Notification ids come from a sequence, so it left a vacant position there
too; but so does every write that lost a race (the insert that fails on the stream's
unique version still draws its id: `tests/integration/test_verify_tamper.py` shows
it), so a vacancy alone proves nothing. Here the vacancies seen while walking the store
are kept as ranges, and a removed event is placed exactly when the vacancies between
its neighbours (outside what the relay recorded) are as many as the events missing
there; otherwise the candidates are named.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventlog.envelope import event_id_text

#: Vacant positions listed in a finding before the rest are counted.
_LISTED = 12


@dataclass(frozen=True)
class MissingVersions:
    """Versions `first` to `last` of `aggregate` are missing: they stood after
    position `before` (0: the stream's start) and before position `after`."""

    aggregate: UUID
    first: int
    last: int
    before: int
    after: int


class Vacancies:
    """The positions the store skips, gathered in one pass in position order."""

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []  # (first, last) of each vacant run
        self.last = 0  # the highest position visited

    def visit(self, position: int) -> None:
        """Notes a stored position (called in increasing order)."""
        if position > self.last + 1:
            self._ranges.append((self.last + 1, position - 1))
        self.last = max(self.last, position)

    @property
    def count(self) -> int:
        """How many positions up to the last visited one are vacant."""
        return sum(last - first + 1 for first, last in self._ranges)

    def between(self, low: int, high: int, skip: Callable[[int], bool],
                limit: int = 10_000) -> list[int]:
        """Returns the vacant positions strictly between `low` and `high` for which
        `skip` is false (positions past the last visited one count as vacant), at most
        `limit` of them."""
        found: list[int] = []
        runs = self._ranges[max(0, bisect.bisect_left(self._ranges, (low,)) - 1):]
        if self.last < high - 1:
            runs = [*runs, (self.last + 1, high - 1)]
        for first, last in runs:
            if first >= high:
                break
            for position in range(max(first, low + 1), min(last, high - 1) + 1):
                if not skip(position):
                    found.append(position)
                    if len(found) >= limit:
                        return found
        return found


def listed(positions: list[int]) -> str:
    """Returns positions as text, the first few named and the rest counted."""
    text = ", ".join(map(str, positions[:_LISTED]))
    more = len(positions) - _LISTED
    return text + (f" and {more} more" if more > 0 else "")


def placed(missing: MissingVersions, removed_ids: dict[str, int], vacant: list[int]
           ) -> list[tuple[int, str, str]]:
    """Returns (position, event id, reason) of each missing version: at the position
    where the relay's record saw it (`removed_ids`), else at the vacant positions
    between its neighbours when they are exactly as many as the versions left, else at
    the first candidate, naming them all."""
    found: list[tuple[int, str, str]] = []
    unplaced: list[tuple[int, str]] = []
    for version in range(missing.first, missing.last + 1):
        ident = event_id_text(missing.aggregate, version)
        if ident in removed_ids:
            found.append((removed_ids[ident], ident,
                          f"version {version} of aggregate {missing.aggregate} is missing "
                          f"(its next event, at position {missing.after}, follows it)"))
        else:
            unplaced.append((version, ident))
    between = f"between positions {missing.before} and {missing.after}"
    for i, (version, ident) in enumerate(unplaced):
        what = f"version {version} of aggregate {missing.aggregate} is missing"
        if len(vacant) == len(unplaced):
            found.append((vacant[i], ident, f"{what}; it stood here, at the only vacant "
                          f"position(s) {between}, where its neighbours stand"))
        else:
            where = (f"at one of the vacant positions {listed(vacant)}" if vacant
                     else "where no position is vacant any more")
            found.append((vacant[0] if vacant else missing.before + 1, ident,
                          f"{what}; it stood {between}, {where} (a write that lost a "
                          "race leaves a vacant position too)"))
    return found


def stretch_finding(low: int, high: int, missing: int, store_end: int, at_end: bool,
                    vacant: list[int]) -> tuple[int, str]:
    """Returns (position, reason) for a stretch of positions `low`+1 to `high` whose
    checkpoint the log-wide chain missed with `missing` events fewer than the relay
    chained (negative: more), nothing else explaining it; `vacant` are its vacant
    positions outside the relay's keyed record."""
    where = f"positions {low + 1} to {high}"
    head = "the log-wide chain does not match the relay's checkpoint"
    if missing > 0 and len(vacant) == missing:
        return vacant[0], (f"{head}: {missing} event(s) in {where} were removed, at "
                           f"position(s) {listed(vacant)} (the only vacant ones)")
    if at_end and store_end < high and missing > 0:
        return high, (f"the relay chained events up to position {high} but the store "
                      f"ends at position {store_end}: {missing} event(s) of its tail were "
                      "removed")
    if missing > 0:
        return high, (f"{head}: {missing} event(s) in {where} were removed"
                      + (f", among the vacant positions {listed(vacant)}" if vacant
                         else ""))
    if missing < 0:
        return high, f"{head}: {-missing} event(s) in {where} were added afterwards"
    return high, (f"{head}: an event in {where} was altered (written before MACs, and "
                  "relayed before the relay kept its keyed record)")
