"""AggregateCache: the aggregates one desk worker holds between commands, kept current.

Loading an aggregate is a query and a replay of its whole stream; most commands touch
the same few aggregates (the customer, its credit account, its open tickets) again and
again, so the desk keeps them. A cached aggregate is trusted only after the store has
been asked what changed: at the start of every attempt `refresh` reads the store's
notification log after the last notification this cache has seen (one query, usually
returning nothing or the desk's own last events) and evicts every aggregate some other
writer (another process, another thread's cache, a direct `save`) has moved past the
cached version. That is sound because the store's notification ids follow commit order
(eventsourcing's PostgreSQL recorder locks the events table for each insert), so once
the log has been read up to id N, no transaction can later commit an event below N.

Absent aggregates are cached too (as `ABSENT` at version 0): "no ticket t9 yet" stays
true until a notification for its id appears.

The cache hands out the cached objects themselves, not copies; the handlers change them
in place before a decision is final. The desk therefore evicts everything an attempt
touched when the attempt does not end in a successful save (a rejection, a lost race),
and `saved` puts back what was stored. Not thread-safe: the desk keeps one per thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

#: Marks an aggregate id known to have no events (yet).
ABSENT: Any = object()

#: Notifications read per query while catching up; more than `_MAX_PAGES` pages behind,
#: the cache is dropped instead (cheaper than reading a long backlog).
_PAGE = 500
_MAX_PAGES = 4


class AggregateCache:
    """A bounded LRU of aggregates (or `ABSENT`) by id, refreshed from the notification log."""

    def __init__(self, recorder: Any, maxsize: int):
        self.recorder = recorder
        self.maxsize = maxsize
        self.entries: OrderedDict[UUID, Any] = OrderedDict()
        #: The last notification id whose effect the entries reflect (None: not started).
        self.seen: int | None = None
        #: Ids handed out or stored since `begin`: evicted if the attempt fails.
        self.touched: set[UUID] = set()

    def begin(self) -> set[str] | None:
        """Starts an attempt: evicts what other writers changed since the last look.

        Returns the topics of the notifications read (the desk drops state derived from
        some of them), or None if the cache was dropped because it was too far behind.
        """
        self.touched = set()
        if self.seen is None:
            self._restart()
            return None
        topics: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = self.recorder.select_notifications(self.seen, _PAGE,
                                                      inclusive_of_start=False)
            for notification in page:
                topics.add(notification.topic)
                cached = self.entries.get(notification.originator_id)
                if cached is not None and self._version(cached) < notification.originator_version:
                    del self.entries[notification.originator_id]
            if page:
                self.seen = page[-1].id
            if len(page) < _PAGE:
                return topics
        self._restart()
        return None

    def get(self, aggregate_id: UUID) -> Any | None:
        """Returns the cached aggregate, `ABSENT`, or None if not cached."""
        cached = self.entries.get(aggregate_id)
        if cached is not None:
            self.entries.move_to_end(aggregate_id)
            self.touched.add(aggregate_id)
        return cached

    def put(self, aggregate_id: UUID, aggregate: Any) -> None:
        """Caches what the store holds for `aggregate_id` (an aggregate or `ABSENT`)."""
        self.entries[aggregate_id] = aggregate
        self.entries.move_to_end(aggregate_id)
        self.touched.add(aggregate_id)
        while len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)

    def saved(self, aggregates: Iterable[Any], notification_ids: list[int]) -> None:
        """Records a successful save: the saved aggregates are current (anything else the
        attempt changed but did not save is evicted); if the save's
        notifications directly follow `seen`, nobody else wrote in between, so the next
        `begin` need not read them back."""
        for aggregate in aggregates:
            self.put(aggregate.id, aggregate)
        for aggregate_id in self.touched:
            cached = self.entries.get(aggregate_id)
            if cached is not None and cached is not ABSENT and cached.pending_events:
                del self.entries[aggregate_id]  # changed but not saved: not the store's
        self.touched = set()
        if notification_ids and self.seen is not None \
                and min(notification_ids) == self.seen + 1 \
                and max(notification_ids) - self.seen == len(notification_ids):
            self.seen = max(notification_ids)

    def abandon(self) -> None:
        """Ends a failed attempt: evicts everything it touched (it may be half-changed)."""
        for aggregate_id in self.touched:
            self.entries.pop(aggregate_id, None)
        self.touched = set()

    def _restart(self) -> None:
        """Forgets every entry and starts from the log's current end: whatever is loaded
        from now on holds at least every event up to that notification."""
        self.entries.clear()
        self.seen = self.recorder.max_notification_id() or 0

    @staticmethod
    def _version(cached: Any) -> int:
        return 0 if cached is ABSENT else cached.version
