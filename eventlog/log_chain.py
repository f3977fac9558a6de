"""The log-wide hash chain (R-AUD-3): one running hash over every stored event, in order.

Each event already links to the previous event of its aggregate (`prev_hash`), which
shows an altered or removed event in the middle of a stream but not a removed or altered
last event of a stream. The relay reads the whole log in store order anyway, so it folds
every event's hash into this chain and stores the result in the transaction that moves
its position: `log_chain_head` (one row, every batch) and `log_chain_checkpoints` (a
permanent row each time another block of events is covered). `replay.verify` recomputes
the chain from the store and compares.

The chain says that a stretch changed, not where, and anyone who can write to the
database can recompute it. So, with the log key (`eventlog.log_key`), the relay also
keeps a record of what it read, in the same transaction: `log_chain_links`, one row per
step of the chain, holding each event's position, id and hash, with a MAC under the key.
Against it `verify` names the exact position and id of an event removed or altered
after the relay read it, whatever else was removed with it. This module holds the link
function and the SQL of those tables; it decides nothing about publishing.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import psycopg

from eventlog.log_key import LogKey

GENESIS = "0" * 64

#: A permanent checkpoint each time the chain covers another this many events.
CHECKPOINT_EVERY = 1000

#: One event in the relay's record: position, event id (UUID bytes), hash (SHA-256 bytes).
_LINK = struct.Struct(">q16s32s")

#: Serialises the relays that extend the chain of one store (advisory lock key), so their
#: records never overlap.
_LINKS_LOCK = 0x5E1F_10C

#: A link of the chain as the relay reads it: (position, event hash, event id), the
#: hash and id as the envelope spells them.
Link = tuple[int, str, str]


def log_link(prev_log_hash: str, position: int, event_hash: str) -> str:
    """Returns the chain's value after the event stored at `position` with `event_hash`.

    The position is part of the link, so moving an event to another position shows too.
    """
    return hashlib.sha256(f"{prev_log_hash}:{position}:{event_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainState:
    """The chain over every stored event up to and including `position`."""

    position: int
    log_hash: str
    events: int

    def extend(self, position: int, event_hash: str) -> ChainState:
        """Returns the state after one more event, stored at `position`."""
        return ChainState(position, log_link(self.log_hash, position, event_hash),
                          self.events + 1)


START = ChainState(0, GENESIS, 0)


def read_head(conn: psycopg.Connection) -> ChainState:
    """Returns the chain's head as stored (START when nothing was chained yet)."""
    row = conn.execute("SELECT position, log_hash, events FROM log_chain_head").fetchone()
    conn.commit()
    return ChainState(int(row[0]), row[1], int(row[2])) if row else START


def read_checkpoints(conn: psycopg.Connection) -> list[ChainState]:
    """Returns every stored chain state (checkpoints and head), in position order."""
    rows = conn.execute(
        "SELECT position, log_hash, events FROM log_chain_checkpoints "
        "UNION SELECT position, log_hash, events FROM log_chain_head ORDER BY 1"
    ).fetchall()
    conn.commit()
    return [ChainState(int(p), h, int(n)) for p, h, n in rows]


def write_chain(cur: psycopg.Cursor, before: ChainState, after: ChainState,
                every: int = CHECKPOINT_EVERY, links: Sequence[Link] = (),
                key: LogKey | None = None) -> None:
    """Moves the head from `before` to `after`, inside the caller's transaction.

    It adds a permanent checkpoint when the step crosses a multiple of `every` events.
    The head only moves forward: a relay of another topic that chained further first
    wins, and both computed the same values from the same store. With `key`, it also
    records `links` (the step's events) past the stored head, so that consecutive
    records join without overlap whichever relay wrote them.
    """
    if after.position <= before.position:
        return
    if key is not None:
        _write_links(cur, before, after, links, key)
    cur.execute(
        "INSERT INTO log_chain_head (singleton, position, log_hash, events) "
        "VALUES (true, %s, %s, %s) ON CONFLICT (singleton) DO UPDATE SET "
        "position = EXCLUDED.position, log_hash = EXCLUDED.log_hash, "
        "events = EXCLUDED.events, recorded_at = now() "
        "WHERE log_chain_head.position < EXCLUDED.position",
        (after.position, after.log_hash, after.events),
    )
    if after.events // every != before.events // every:
        cur.execute(
            "INSERT INTO log_chain_checkpoints (position, log_hash, events) "
            "VALUES (%s, %s, %s) ON CONFLICT (position) DO NOTHING",
            (after.position, after.log_hash, after.events),
        )


def _write_links(cur: psycopg.Cursor, before: ChainState, after: ChainState,
                 links: Sequence[Link], key: LogKey) -> None:
    """Records the links past the stored head, up to `after`, with their MAC.

    The record starts where the stored head is (another relay may have moved it past
    `before`), never before `before`: a record claims every position it spans."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LINKS_LOCK,))
    row = cur.execute("SELECT position FROM log_chain_head").fetchone()
    start = max(int(row[0]) if row else 0, before.position)
    if start >= after.position:
        return  # another relay chained this far first and recorded these links
    packed = pack_links(link for link in links if start < link[0] <= after.position)
    cur.execute("INSERT INTO log_chain_links (after, last, links, mac) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (after) DO NOTHING",
                (start, after.position, packed,
                 key.links_mac(start, after.position, packed)))


def pack_links(links: Iterable[Link]) -> bytes:
    """Returns the relay's record of `links`: 56 bytes an event."""
    pack = _LINK.pack
    return b"".join(pack(position, bytes.fromhex(ident.replace("-", "")),
                         bytes.fromhex(event_hash))
                    for position, event_hash, ident in links)


def unpack_links(packed: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """Yields (position, event id bytes, hash bytes) of each event of a record."""
    return _LINK.iter_unpack(packed)


@dataclass(frozen=True)
class LinksRecord:
    """One row of the relay's record: the events it chained after `after` up to `last`."""

    after: int
    last: int
    links: bytes
    mac: str

    def signed_by(self, key: LogKey) -> bool:
        """True when `key` wrote this row as it stands."""
        return LogKey.same(key.links_mac(self.after, self.last, self.links), self.mac)


def links_end(conn: psycopg.Connection) -> int:
    """Returns the last position the relay's record reaches (0: it has no row)."""
    row = conn.execute("SELECT coalesce(max(last), 0) FROM log_chain_links").fetchone()
    conn.commit()
    return int(row[0])


def read_links(conn: psycopg.Connection, upto: int, batch: int = 200
               ) -> Iterator[LinksRecord]:
    """Yields every row of the relay's record that ends at or before position `upto`, in
    position order, `batch` rows a query (a row is up to 2,000 events, 112 KB)."""
    after = -1
    while True:
        rows = conn.execute(
            "SELECT after, last, links, mac FROM log_chain_links WHERE after > %s "
            "AND last <= %s ORDER BY after LIMIT %s", (after, upto, batch)).fetchall()
        conn.commit()
        if not rows:
            return
        for row in rows:
            yield LinksRecord(int(row[0]), int(row[1]), bytes(row[2]), row[3])
        after = int(rows[-1][0])


def chain_over(state: ChainState, links: Iterable[Link | tuple[int, str]]) -> ChainState:
    """Returns `state` extended by every link (position and event hash first) after its
    position."""
    for link in links:
        if link[0] > state.position:
            state = state.extend(link[0], link[1])
    return state
