"""Reading the event store for replay: the notification log in order and in batches, one
aggregate's stream up to an instant, and its hash chain.

Replay reads the store (the system of record) and never writes it. Everything here
turns stored events into the same `Envelope` the relay publishes, so replay folds and
tallies exactly what subscribers of the topic see; nothing here decides anything. A
reader that only folds (the rebuild) can ask for envelopes without the event hash
(`with_hash=False`), decoded straight from the stored JSON (`replay.decode`): the same
envelopes with `hash` empty, at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate

from domain.chain import GENESIS
from domain.desk import SupportDesk
from eventlog.envelope import Envelope
from replay.decode import EnvelopeDecoder

BATCH_SIZE = 1000


def head(desk: SupportDesk) -> int:
    """Returns the store's highest notification id (0 for an empty store)."""
    return desk.recorder.max_notification_id() or 0


def notification_pages(desk: SupportDesk, after: int = 0, *, stop: int | None = None,
                       topics: Sequence[str] = (), batch_size: int = BATCH_SIZE,
                       ) -> Iterator[list[Any]]:
    """Yields the stored notifications after position `after` (up to `stop`), undecoded,
    in store order, `batch_size` at a time. With `topics`, only those event types."""
    position = after
    while True:
        notifications = desk.recorder.select_notifications(
            position, batch_size, stop=stop, topics=list(topics), inclusive_of_start=False)
        if not notifications:
            return
        yield notifications
        position = notifications[-1].id
        if len(notifications) < batch_size:
            return


def notification_batches(desk: SupportDesk, after: int = 0, *, stop: int | None = None,
                         topics: Sequence[str] = (), batch_size: int = BATCH_SIZE,
                         with_hash: bool = True) -> Iterator[list[Envelope]]:
    """Yields the stored events after position `after` (up to `stop`), as envelopes, in
    store order, `batch_size` at a time. With `topics`, only those event types. Without
    `with_hash`, each envelope's `hash` is empty (for folding, which never reads it)."""
    pages = notification_pages(desk, after, stop=stop, topics=topics, batch_size=batch_size)
    if not with_hash:
        decoder = EnvelopeDecoder(desk.mapper)
        yield from map(decoder.envelopes, pages)
        return
    for notifications in pages:
        yield [Envelope.from_event(desk.mapper.to_domain_event(n), n.id)
               for n in notifications]


def envelopes(desk: SupportDesk, after: int = 0, *, stop: int | None = None,
              topics: Sequence[str] = ()) -> Iterator[Envelope]:
    """Yields the stored events after `after`, one by one, in store order."""
    for batch in notification_batches(desk, after, stop=stop, topics=topics):
        yield from batch


def stream(desk: SupportDesk, aggregate_id: UUID, until: datetime | None = None) -> list[Any]:
    """Returns the stored events of one aggregate, oldest first; with `until`, only those
    whose timestamp is at or before it (what had happened by that instant)."""
    events = list(desk.events.get(aggregate_id))
    if until is None:
        return events
    return [e for e in events if e.timestamp <= until]


def aggregate_of(events: Sequence[Any]) -> Any | None:
    """Returns the aggregate the events build (its own `evolve`s, in order), or None."""
    return project_aggregate(None, events) if events else None


def state_at(desk: SupportDesk, aggregate_id: UUID, until: datetime) -> Any | None:
    """Returns the aggregate as it stood at `until`, or None if it did not exist yet."""
    return aggregate_of(stream(desk, aggregate_id, until))


def chain_breaks(stream_envelopes: Sequence[Envelope]) -> list[str]:
    """Returns a line for each event whose `prev_hash` does not match the hash of the event
    before it in its stream (R-AUD-3); empty when the stream is intact."""
    problems: list[str] = []
    previous = GENESIS
    for envelope in stream_envelopes:
        if envelope.prev_hash != previous:
            problems.append(f"{envelope.type} v{envelope.aggregate_version} of "
                            f"{envelope.ref}: its link to the previous event does not match")
        previous = envelope.hash
    return problems


def as_envelopes(events: Sequence[Any]) -> list[Envelope]:
    """Returns stream events as envelopes (position 0: a stream read has no position)."""
    return [Envelope.from_event(e, 0) for e in events]
