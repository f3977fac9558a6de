"""The relay's record of what it read (`eventlog.log_chain`), as `replay.verify` meets it.

Every position the relay chained with the log key is in the record with the event id
and hash it read there, in rows the key signed, one row following the other. Walking
the store in position order beside it, each stored event is either the one recorded at
its position (the same id and hash: intact), recorded differently (altered or replaced),
unrecorded inside a recorded stretch (inserted afterwards: the store's insert order is
its commit order, so a position the relay saw vacant stays vacant), or outside every
recorded stretch (not yet relayed, or chained before the record existed); and every
recorded position the store no longer holds was removed, with the id it had.

A row whose MAC fails, or that overlaps the row before, is set aside (its stretch then
counts as unrecorded) and reported; so is a stretch between two rows that no row covers.
Without the key nothing can be trusted and the record is not read.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID

from eventlog.log_chain import LinksRecord, unpack_links
from eventlog.log_key import LogKey

#: A finding's sink: (position, event id or None, kind, reason).
Report = Callable[[int, str | None, str, str], None]

#: One recorded event as stored: (position, event id bytes, hash bytes).
Entry = tuple[int, bytes, bytes]

_NOTHING: list[Recorded] = []  # shared, never changed: nothing removed before a position


@dataclass(frozen=True)
class Recorded:
    """What the relay read at one position."""

    position: int
    event_id: str
    hash: str


class RelayRecord:
    """The trusted rows of the relay's record, consumed in position order."""

    def __init__(self, rows: Iterator[LinksRecord], key: LogKey, report: Report,
                 sealed_after: int | None, earlier_key_until: int | None):
        """`earlier_key_until`: rows up to this position may be signed by a key since
        replaced (`supportlog log-key new`); they are set aside without a finding."""
        self._rows = rows
        self._key = key
        self._report = report
        self._row: LinksRecord | None = None
        self._entries: deque[Entry] = deque()
        self._last: int | None = None  # the end of the last row read, trusted or not
        #: (after, last) of every trusted row read so far, in order.
        self.covered: list[tuple[int, int]] = []
        self._sealed_after = sealed_after
        self._earlier_key_until = earlier_key_until
        self.rows = 0

    @property
    def first(self) -> int | None:
        """The position after which the record begins (None: no trusted row)."""
        return self.covered[0][0] if self.covered else None

    @property
    def last(self) -> int:
        """The last position the trusted record reaches (0: none)."""
        return self.covered[-1][1] if self.covered else 0

    def is_covered(self, position: int) -> bool:
        """True when `position` lies in a trusted row read so far."""
        i = bisect.bisect_left(self.covered, (position,)) - 1  # the last row before it
        return i >= 0 and position <= self.covered[i][1]

    def _next_row(self) -> bool:
        """Moves to the next trusted row; False when there is none."""
        for row in self._rows:
            self.rows += 1
            previous, self._last = self._last, row.last
            if previous is None and self._sealed_after is not None \
                    and row.after > self._sealed_after:
                self._report(self._sealed_after + 1, None, "record",
                             f"the relay's record of positions {self._sealed_after + 1} "
                             f"to {row.after} is missing (it records every event after "
                             f"position {self._sealed_after}, when the key was "
                             "recorded)")
            elif previous is not None and row.after > previous:
                self._report(previous + 1, None, "record",
                             f"the relay's record of positions {previous + 1} to "
                             f"{row.after} is missing")
            if not row.signed_by(self._key):
                if self._earlier_key_until is not None \
                        and row.last <= self._earlier_key_until:
                    continue  # an earlier key's row: it cannot be checked, nor trusted
                self._report(row.after + 1, None, "record",
                             f"the relay's record of positions {row.after + 1} to "
                             f"{row.last} does not match its MAC")
                continue
            if previous is not None and row.after < previous:
                self._report(row.after + 1, None, "record",
                             f"the relay's record of positions {row.after + 1} to "
                             f"{row.last} overlaps the one before")
                continue
            self._row = row
            self._entries = deque(unpack_links(row.links))
            self.covered.append((row.after, row.last))
            return True
        self._row = None
        return False

    def step(self, position: int) -> tuple[list[Recorded], Entry | None, bool]:
        """Moves to the stored `position` (called in increasing order); returns what was
        recorded before it and not yet met (the store has nothing there any more), what
        was recorded at it (None: nothing), and whether a trusted row spans it."""
        row, entries = self._row, self._entries
        if entries and entries[0][0] == position and row is not None \
                and row.after < position <= row.last:
            return _NOTHING, entries.popleft(), True  # the common case: as recorded
        removed = list(self.until(position))
        row, entries = self._row, self._entries
        spans = row is not None and row.after < position <= row.last
        if spans and entries and entries[0][0] == position:
            return removed, entries.popleft(), True
        return removed, None, spans

    def until(self, position: int) -> Iterator[Recorded]:
        """Yields every recorded event before `position` not yet met."""
        while True:
            while self._entries and self._entries[0][0] < position:
                yield _recorded(self._entries.popleft())
            row = self._row
            if row is not None and row.last >= position:
                return
            if not self._next_row():
                return


def _recorded(entry: Entry) -> Recorded:
    position, ident, event_hash = entry
    return Recorded(position, str(UUID(bytes=ident)), event_hash.hex())


def recorded_as(entry: Entry, event_id: str, event_hash: str | None) -> Recorded | None:
    """Returns what the relay recorded in `entry` if it is not the event `event_id` with
    `event_hash` (None: it is), compared without building either's text form."""
    if entry[1].hex() == event_id.replace("-", "") and event_hash is not None \
            and entry[2] == bytes.fromhex(event_hash):
        return None
    return _recorded(entry)
