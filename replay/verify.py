"""Verification of the log (R-AUD-3): is the store still what was written and relayed?

It walks the whole store in notification order, recomputes each event's hash from what
is stored, and checks three things. Each aggregate's chain: every event's `prev_hash` is
the hash of the version before it, and no version is missing, which shows an altered
or removed event inside a stream. The log-wide chain: it recomputes the relay's running
hash (`eventlog.log_chain`) and compares it with every checkpoint the relay stored,
which shows what the first check cannot: an altered or removed last event of a stream,
or a deleted tail of the log. Optionally the topic: every event the relay acknowledged
is on it with the same hash, and nothing is on it that the store lacks. It only reads;
it never repairs, and it reports every broken link it finds, the first one first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification

from domain.chain import GENESIS
from domain.desk import SupportDesk
from eventlog.envelope import event_id
from eventlog.log_chain import START, ChainState, read_checkpoints

PAGE_SIZE = 1000


@dataclass(frozen=True)
class BrokenLink:
    """One finding: where (store position and event id, when known) and why."""

    position: int
    event_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"position {self.position}, event {self.event_id or '-'}: {self.reason}"


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
    problems: list[BrokenLink] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no link is broken."""
        return not self.problems

    @property
    def first(self) -> BrokenLink | None:
        """The broken link with the lowest position, or None."""
        return self.problems[0] if self.problems else None


@dataclass
class _Head:
    version: int
    hash: str | None  # None: the event could not be decoded, so its hash is unknown
    position: int
    event_id: str


class _Walk:
    """The state of one pass over the store; `visit` each notification in order."""

    def __init__(self, checkpoints: list[ChainState],
                 published: dict[str, Published] | None, published_to: int):
        self.report = VerifyReport(checkpoints=len(checkpoints),
                                   chained_to=checkpoints[-1].position if checkpoints else 0)
        self.pending = list(reversed(checkpoints))
        self.anchor = START
        self.chain = START
        self.last_event_id: str | None = None
        self.heads: dict[UUID, _Head] = {}
        self.published = published
        self.published_to = published_to

    def problem(self, position: int, ident: str | None, reason: str) -> None:
        self.report.problems.append(BrokenLink(position, ident, reason))

    def visit(self, notification: Notification, desk: SupportDesk) -> None:
        """Checks one stored event against its aggregate, the log chain and the topic."""
        self.compare_checkpoints(before=notification.id)
        ident = str(event_id(notification.originator_id, notification.originator_version))
        event_hash: str | None = None
        prev_hash: str | None = None
        try:
            event = desk.mapper.to_domain_event(notification)
            event_hash, prev_hash = event.hash, event.prev_hash
        except Exception as e:  # any decoding failure of a stored row is a finding here
            self.problem(notification.id, ident,
                         f"cannot be decoded ({type(e).__name__}: {e}): altered")
        self.check_link(notification, ident, event_hash, prev_hash)
        self.chain = self.chain.extend(
            notification.id, event_hash or hashlib.sha256(notification.state).hexdigest())
        self.last_event_id = ident
        self.report.events += 1
        if self.published is not None:
            self.check_published(notification.id, ident, event_hash)

    def check_link(self, notification: Notification, ident: str, event_hash: str | None,
                   prev_hash: str | None) -> None:
        aggregate, version = notification.originator_id, notification.originator_version
        head = self.heads.get(aggregate)
        expected_version = head.version + 1 if head else 1
        if version < expected_version:
            self.problem(notification.id, ident,
                         f"is version {version} of aggregate {aggregate}, which already "
                         f"reached version {expected_version - 1}: inserted or moved")
        elif version > expected_version:
            missing = (f"version {expected_version}" if version == expected_version + 1
                       else f"versions {expected_version} to {version - 1}")
            self.problem(notification.id, ident,
                         f"is version {version} of aggregate {aggregate}, but {missing} "
                         "before it is missing from the store: removed")
        elif prev_hash is not None and head is not None and head.hash is not None \
                and prev_hash != head.hash:
            self.problem(head.position, head.event_id,
                         f"no longer matches the hash that the next version of its "
                         f"aggregate (position {notification.id}) recorded: altered")
        elif prev_hash is not None and head is None and prev_hash != GENESIS:
            self.problem(notification.id, ident,
                         "is the first version of its aggregate but links to an earlier "
                         "event: altered")
        self.heads[aggregate] = _Head(version, event_hash, notification.id, ident)

    def compare_checkpoints(self, before: int | None) -> None:
        """Compares the chain with every checkpoint at a position before `before` (all
        remaining ones when None). After a mismatch it re-anchors on the checkpoint, so
        each stretch of the log is judged on its own."""
        while self.pending and (before is None or self.pending[-1].position < before):
            checkpoint = self.pending.pop()
            chain = self.chain
            if chain.log_hash != checkpoint.log_hash:
                self.problem(checkpoint.position, self._id_at(checkpoint.position),
                             self._mismatch(chain, checkpoint, at_end=before is None))
                self.chain = checkpoint
            self.anchor = checkpoint

    def _id_at(self, position: int) -> str | None:
        return self.last_event_id if self.chain.position == position else None

    def _mismatch(self, chain: ChainState, checkpoint: ChainState, at_end: bool) -> str:
        stretch = f"positions {self.anchor.position + 1} to {checkpoint.position}"
        missing = checkpoint.events - chain.events
        if at_end and chain.position < checkpoint.position and missing > 0:
            return (f"the relay chained events up to position {checkpoint.position} but "
                    f"the store ends at position {chain.position}: {missing} event(s) "
                    "of its tail were removed")
        if missing > 0:
            return (f"the log-wide chain does not match the relay's checkpoint: {missing} "
                    f"event(s) in {stretch} were removed")
        if missing < 0:
            return (f"the log-wide chain does not match the relay's checkpoint: {-missing} "
                    f"event(s) in {stretch} were added afterwards")
        return (f"the log-wide chain does not match the relay's checkpoint: an event in "
                f"{stretch} was altered")

    def check_published(self, position: int, ident: str, event_hash: str | None) -> None:
        assert self.published is not None
        entry = self.published.pop(ident, None)
        if entry is None:
            if position <= self.published_to:
                self.problem(position, ident, "was relayed but is not on the topic")
        elif event_hash is not None and event_hash not in entry.hashes:
            self.problem(position, ident,
                         "is on the topic with a different hash: altered in the store")

    def finish(self) -> VerifyReport:
        self.compare_checkpoints(before=None)
        for ident, entry in (self.published or {}).items():
            self.problem(entry.position, ident,
                         "is on the topic but not in the store: removed from the store")
        self.report.aggregates = len(self.heads)
        self.report.problems.sort(key=lambda p: p.position)
        return self.report


def verify_store(desk: SupportDesk, conn: psycopg.Connection, *,
                 published: Mapping[str, Published] | None = None, published_to: int = 0,
                 progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Walks the whole store and returns what it found (R-AUD-3).

    With `published` (the topic's events by id, `replay.verify_topic`), it also checks
    that every event up to position `published_to` (the relay's position when the topic
    was read) is on the topic with the same hash, and that the topic holds nothing the
    store lacks. `progress` is called with the position reached after each page.
    """
    walk = _Walk(read_checkpoints(conn), dict(published) if published is not None else None,
                 published_to)
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
