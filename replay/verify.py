"""Verification of the log (R-AUD-3): is the store still what was written and relayed?

It walks the whole store in notification order and names every event that was altered,
removed or inserted, by position and event id. Its evidence, strongest first:

- Each event's MAC (`domain.sealing`): the stored content is hashed again and the hash's
  MAC under the log key compared with the one stored with it, in the same insert. An
  event changed, replaced by a re-hashed forgery, or swapped with another, is named at
  its position from the moment it was written; so is an event without a MAC after the
  position from which every event is sealed (the store's key record).
- The relay's keyed record of every position it read (`replay.verify_record`): a
  removed event is named at its position with the id it had, however much was removed
  with it (a stream's only event, the log's tail), and an insertion is seen.
- Each aggregate's chain: a missing version is a removed event whose id is known; it
  is placed among the vacant positions between its neighbours (`replay.verify_gaps`).
  For events written before MACs, `prev_hash` still shows an altered predecessor.
- The log-wide chain against the relay's checkpoints (`eventlog.log_chain`), for what
  was relayed before the keyed record existed: a stretch that changed, not explained by
  a finding above, is named with the vacant positions in it.
- Optionally the topic: every event the relay acknowledged is on it with the same hash,
  and nothing is on it that the store lacks.

What stays undetectable (the newest events removed before any relay read them, or
removed together with the relay's newest records) is in docs/tamper-evidence.md. It
only reads; it never repairs.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification

from domain.chain import GENESIS
from domain.desk import SupportDesk
from eventlog.envelope import event_id_text
from eventlog.log_chain import START, ChainState, links_end, read_checkpoints, read_links
from eventlog.log_key import LogKey, read_key_record
from replay.verify_gaps import MissingVersions, Vacancies, placed, stretch_finding
from replay.verify_record import Entry, Recorded, RelayRecord, recorded_as

PAGE_SIZE = 1000


@dataclass(frozen=True)
class BrokenLink:
    """One finding: where (store position and event id, when known), what (`kind`:
    altered, removed, inserted, unsealed, record) and why."""

    position: int
    event_id: str | None
    reason: str
    kind: str = "altered"

    def __str__(self) -> str:
        return (f"position {self.position}, event {self.event_id or '-'}: {self.kind}: "
                f"{self.reason}")


@dataclass(frozen=True)
class Published:
    """What the topic holds for one event id: where the store had it and its hashes."""

    position: int
    hashes: frozenset[str]


@dataclass
class VerifyReport:
    """What a verification walked and what it found, sorted by position."""

    events: int = 0
    aggregates: int = 0
    checkpoints: int = 0
    chained_to: int = 0
    topic_checked_to: int | None = None
    #: Events whose MAC was checked and holds; events stored before MACs (their bytes
    #: predate the key); events with a MAC that could not be checked (no key given).
    macs_checked: int = 0
    written_before_macs: int = 0
    macs_unchecked: int = 0
    #: The stretch of positions the relay's keyed record covers (None: no record).
    recorded: tuple[int, int] | None = None
    #: Positions the store skips (a write that lost a race leaves one; so does a removal).
    vacant: int = 0
    key_id: str | None = None
    problems: list[BrokenLink] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    @property
    def first(self) -> BrokenLink | None:
        """The finding with the lowest position, or None."""
        return self.problems[0] if self.problems else None


@dataclass
class _Head:
    version: int
    hash: str | None  # None: the event could not be decoded, so its hash is unknown
    position: int
    event_id: str
    altered: bool  # already reported altered: its successor's link says nothing new


@dataclass(frozen=True)
class _Stretch:
    """A checkpoint the recomputed chain did not match, judged once all else is known."""

    anchor: ChainState
    checkpoint: ChainState
    chain: ChainState
    at_end: bool


class _Walk:
    """The state of one pass over the store; `visit` each notification in order."""

    def __init__(self, conn: psycopg.Connection, key: LogKey | None,
                 published: dict[str, Published] | None, published_to: int,
                 require_macs: bool):
        checkpoints = read_checkpoints(conn)
        # The relay's record as far as it reached when the walk began, read after the
        # checkpoints (both move in one transaction): rows added while the store is
        # walked describe events the walk may not reach, and are left out.
        recorded_to = links_end(conn)
        self.report = VerifyReport(checkpoints=len(checkpoints),
                                   chained_to=checkpoints[-1].position if checkpoints else 0,
                                   key_id=key.id if key else None)
        self._found: dict[int, list[BrokenLink]] = {}
        self.key = key
        self.require_macs = require_macs
        record = self.key_record = read_key_record(conn)
        self.sealed_after = record.sealed_after if record else None
        #: MACs at or before `sealed_after` may be an earlier key's (a lost key replaced).
        self.earlier_keys = record is not None and record.epoch > 1
        if record is not None and key is not None and not record.signed_by(key):
            self.problem(0, None, "record", "the store's key record does not match its "
                         "MAC (the position after which every event carries a MAC cannot "
                         "be trusted)")
        self.record = RelayRecord(
            read_links(conn, recorded_to), key, self.problem, self.sealed_after,
            self.sealed_after if self.earlier_keys else None) if key is not None else None
        self.removed_ids: dict[str, int] = {}
        self.pending = list(reversed(checkpoints))
        self.anchor = START
        self.chain = START
        self.stretches: list[_Stretch] = []
        self.heads: dict[UUID, _Head] = {}
        self.missing: list[MissingVersions] = []
        self.vacancies = Vacancies()
        self.published = published
        self.published_to = published_to

    def problem(self, position: int, ident: str | None, kind: str, reason: str) -> None:
        """Adds a finding; one of the same kind about the same position and event (the
        relay's record, an aggregate's versions and the topic can all name one removed
        event) joins the first as further evidence."""
        here = self._found.setdefault(position, [])
        for i, found in enumerate(here):
            if found.kind == kind and (ident is None or found.event_id in (None, ident)):
                here[i] = replace(found, event_id=found.event_id or ident,
                                  reason=f"{found.reason}; {reason}")
                return
        here.append(BrokenLink(position, ident, reason, kind))

    def visit(self, n: Notification, desk: SupportDesk) -> None:
        """Checks one stored event against its MAC, the relay's record, its aggregate,
        the log chain and the topic."""
        self.compare_checkpoints(before=n.id)
        self.vacancies.visit(n.id)
        entry: Entry | None = None
        spanned = False
        if self.record is not None:
            gone, entry, spanned = self.record.step(n.id)
            for removed in gone:
                self.removed(removed)
        ident = event_id_text(n.originator_id, n.originator_version)
        event_hash = prev_hash = mac = None
        evidence: list[str] = []
        try:
            event, mac = desk.mapper.decode_sealed(n)
            event_hash, prev_hash = event.hash, event.prev_hash
        except Exception as e:  # any decoding failure of a stored row is a finding here
            evidence.append(f"it cannot be decoded ({type(e).__name__}: {e})")
        if event_hash is not None:
            evidence += self.check_mac(n.id, ident, event_hash, mac)
        recorded = recorded_as(entry, ident, event_hash) if entry is not None else None
        if spanned and entry is None:
            self.problem(n.id, ident, "inserted", "the relay read no event at this "
                         "position, and the store holds one now")
        elif recorded is not None:
            if recorded.event_id != ident:
                evidence.append(f"the relay read event {recorded.event_id} here; the store "
                                f"holds event {ident} in its place")
            elif recorded.hash != event_hash:
                evidence.append("the relay read it here with another hash")
        if evidence:
            self.problem(n.id, ident, "altered", "; ".join(evidence))
        self.check_link(n, ident, event_hash, prev_hash, altered=bool(evidence))
        self.chain = self.chain.extend(n.id, event_hash or hashlib.sha256(n.state).hexdigest())
        self.report.events += 1
        if self.published is not None:
            self.check_published(n.id, ident, event_hash)

    def check_mac(self, position: int, ident: str, event_hash: str,
                  mac: str | None) -> list[str]:
        """Returns why the event's MAC shows it altered (empty: it does not)."""
        if mac is None:
            if self.sealed_after is not None and position > self.sealed_after:
                return [f"it has no MAC, but every event after position "
                        f"{self.sealed_after} got one when it was stored (forged, or its "
                        "MAC removed)"]
            self.report.written_before_macs += 1
            if self.require_macs:
                self.problem(position, ident, "unsealed", "it has no MAC (written before "
                             "MACs): only the hash chains cover it")
            return []
        if self.key is None:
            self.report.macs_unchecked += 1
            return []
        if not LogKey.same(self.key.event_mac(event_hash), mac):
            if self.earlier_keys and position <= (self.sealed_after or 0):
                self.report.macs_unchecked += 1  # sealed with a key since replaced
                return []
            return ["its MAC does not match its content (changed, or forged without "
                    "the log key)"]
        self.report.macs_checked += 1
        return []

    def removed(self, gone: Recorded) -> None:
        self.removed_ids[gone.event_id] = gone.position
        self.problem(gone.position, gone.event_id, "removed", "the relay read this event "
                     "at this position, and the store no longer holds it")

    def check_link(self, n: Notification, ident: str, event_hash: str | None,
                   prev_hash: str | None, altered: bool) -> None:
        aggregate, version = n.originator_id, n.originator_version
        head = self.heads.get(aggregate)
        expected_version = head.version + 1 if head else 1
        if version < expected_version:
            self.problem(n.id, ident, "inserted",
                         f"it is version {version} of aggregate {aggregate}, which already "
                         f"reached version {expected_version - 1} (inserted, or moved)")
        elif version > expected_version:
            self.missing.append(MissingVersions(aggregate, expected_version, version - 1,
                                                head.position if head else 0, n.id))
        elif altered or prev_hash is None:
            pass  # this event is reported already; its link proves nothing more
        elif head is not None and head.hash is not None and not head.altered \
                and prev_hash != head.hash:
            self.problem(head.position, head.event_id, "altered",
                         f"it no longer matches the hash the next version of its aggregate "
                         f"(position {n.id}) links to")
        elif head is None and prev_hash != GENESIS:
            self.problem(n.id, ident, "altered",
                         "it is the first version of its aggregate but links to an "
                         "earlier event")
        self.heads[aggregate] = _Head(version, event_hash, n.id, ident, altered)

    def compare_checkpoints(self, before: int | None) -> None:
        """Compares the chain with every checkpoint at a position before `before` (all
        remaining ones when None). After a mismatch it re-anchors on the checkpoint, so
        each stretch of the log is judged on its own (at the end: `judge_stretches`)."""
        while self.pending and (before is None or self.pending[-1].position < before):
            checkpoint = self.pending.pop()
            if self.chain.log_hash != checkpoint.log_hash:
                self.stretches.append(_Stretch(self.anchor, checkpoint, self.chain,
                                               at_end=before is None))
                self.chain = checkpoint
            self.anchor = checkpoint

    def check_published(self, position: int, ident: str, event_hash: str | None) -> None:
        assert self.published is not None
        entry = self.published.pop(ident, None)
        if entry is None:
            if position <= self.published_to:
                self.problem(position, ident, "removed",
                             "it was relayed but is not on the topic")
        elif event_hash is not None and event_hash not in entry.hashes:
            self.problem(position, ident, "altered",
                         "the topic holds it with another hash")

    def finish(self) -> VerifyReport:
        if self.record is not None:
            for gone in self.record.until(2 ** 63 - 1):
                self.removed(gone)
            if self.record.covered:
                self.report.recorded = (self.record.first + 1, self.record.last)
            if self.record.rows and self.report.chained_to > self.record.last:
                self.problem(self.record.last + 1, None, "record",
                             f"the relay chained the log up to position "
                             f"{self.report.chained_to}, but its record ends at position "
                             f"{self.record.last}: the rest of it was removed")
        self.compare_checkpoints(before=None)
        sealed = self.report.macs_checked + self.report.macs_unchecked
        if self.key_record is None and sealed:
            self.problem(0, None, "record", f"the store's key record is missing, though "
                         f"{sealed} events carry a MAC (without it, a MAC removed from an "
                         "event goes unseen)")
        for missing in self.missing:
            self.place(missing)
        for ident, entry in (self.published or {}).items():
            self.problem(entry.position, ident, "removed",
                         "the topic holds it, the store no longer does")
        self.judge_stretches()
        self.report.aggregates = len(self.heads)
        self.report.vacant = self.vacancies.count
        self.report.problems = [f for p in sorted(self._found) for f in self._found[p]]
        return self.report

    def _recorded(self, position: int) -> bool:
        return self.record is not None and self.record.is_covered(position)

    def place(self, missing: MissingVersions) -> None:
        """Reports versions missing from a stream: at the position the relay's record
        gives, else among the vacant positions between the neighbours."""
        vacant = self.vacancies.between(missing.before, missing.after, self._recorded)
        for position, ident, reason in placed(missing, self.removed_ids, vacant):
            self.problem(position, ident, "removed", reason)

    def judge_stretches(self) -> None:
        """Reports each stretch whose checkpoint the chain missed, unless a finding in
        it explains the difference; with the vacant positions that may be removals."""
        positions = sorted(self._found)
        for stretch in self.stretches:
            low, high = stretch.anchor.position, stretch.checkpoint.position
            if bisect.bisect_right(positions, high) > bisect.bisect_right(positions, low):
                continue
            missing = stretch.checkpoint.events - stretch.chain.events
            vacant = self.vacancies.between(low, high + 1, self._recorded)
            position, reason = stretch_finding(low, high, missing, stretch.chain.position,
                                               stretch.at_end, vacant)
            kind = "removed" if missing > 0 else "inserted" if missing < 0 else "altered"
            self.problem(position, None, kind, reason)


def verify_store(desk: SupportDesk, conn: psycopg.Connection, *, key: LogKey | None = None,
                 published: Mapping[str, Published] | None = None, published_to: int = 0,
                 require_macs: bool = False,
                 progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Walks the whole store and returns what it found (R-AUD-3).

    `key` is the log key: without it no MAC and no record of the relay can be checked
    (only the hash chains). With `published` (the topic's events by id,
    `replay.verify_topic`), it also checks that every event up to position
    `published_to` (the relay's position when the topic was read) is on the topic with
    the same hash, and that the topic holds nothing the store lacks. With
    `require_macs`, an event written before MACs is a finding too. `progress` is called
    with the position reached after each page.
    """
    walk = _Walk(conn, key, dict(published) if published is not None else None,
                 published_to, require_macs)
    position = 0
    while True:
        page = desk.recorder.select_notifications(position, PAGE_SIZE,
                                                  inclusive_of_start=False)
        for notification in page:
            walk.visit(notification, desk)
        if not page:
            break
        position = page[-1].id
        if progress:
            progress(position)
    report = walk.finish()
    if published is not None:
        report.topic_checked_to = published_to
    return report
