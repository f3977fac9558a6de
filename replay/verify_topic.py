"""What the topic holds, by event id, for `supportlog verify --kafka`.

The topic is the published copy of the log and each envelope carries the event's hash,
so it is an independent witness: an event removed from the store, or altered there
after it was published, no longer agrees with it. This module reads the whole topic
(up to the high-water marks seen when it began, `eventlog.topic_reader`) and the
relay's position, taken before the read, so that every event up to that position must
be on the topic. It judges nothing; `replay.verify` compares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from eventlog.envelope import Envelope, EnvelopeError
from eventlog.topic_reader import read_to_end
from replay.verify import Published


@dataclass(frozen=True)
class TopicContents:
    """The topic's events by id, the relay position they must cover, and what did not
    decode."""

    published: dict[str, Published]
    relay_position: int
    records: int
    undecodable: int


def relay_position(conn: psycopg.Connection, topic: str) -> int:
    """Returns the relay's stored position for `topic` (0 when it never published)."""
    row = conn.execute("SELECT notification_id FROM relay_position WHERE topic = %s",
                       (topic,)).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def read_topic(conn: psycopg.Connection, bootstrap: str, topic: str,
               timeout_s: float = 120.0,
               progress: Callable[[int], None] | None = None) -> TopicContents:
    """Reads every record of `topic`; `progress` is called with the records read so far."""
    position = relay_position(conn, topic)
    hashes: dict[str, set[str]] = {}
    positions: dict[str, int] = {}
    records = undecodable = 0
    for record in read_to_end(bootstrap, topic, timeout_s):
        records += 1
        try:
            envelope = Envelope.decode(record.value)
        except EnvelopeError:
            undecodable += 1
            continue
        hashes.setdefault(envelope.id, set()).add(envelope.hash)
        positions[envelope.id] = envelope.position
        if progress and records % 1000 == 0:
            progress(records)
    published = {ident: Published(positions[ident], frozenset(found))
                 for ident, found in hashes.items()}
    return TopicContents(published, position, records, undecodable)
