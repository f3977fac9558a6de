"""The log-wide hash chain (R-AUD-3): one running hash over every stored event, in order.

Each event already links to the previous event of its aggregate (`prev_hash`), which
shows an altered or removed event in the middle of a stream but not a removed or altered
last event of a stream. The relay reads the whole log in store order anyway, so it folds
every event's hash into this chain and stores the result in the transaction that moves
its position: `log_chain_head` (one row, every batch) and `log_chain_checkpoints` (a
permanent row each time another block of events is covered). `replay.verify` recomputes
the chain from the store and compares. This module holds the link function and the SQL
of those two tables; it decides nothing about publishing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

GENESIS = "0" * 64

#: A permanent checkpoint each time the chain covers another this many events.
CHECKPOINT_EVERY = 1000


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
                every: int = CHECKPOINT_EVERY) -> None:
    """Moves the head from `before` to `after`, inside the caller's transaction.

    It adds a permanent checkpoint when the step crosses a multiple of `every` events.
    The head only moves forward: a relay of another topic that chained further first
    wins, and both computed the same values from the same store.
    """
    if after.position <= before.position:
        return
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


def chain_over(state: ChainState, links: Iterable[tuple[int, str]]) -> ChainState:
    """Returns `state` extended by every (position, event hash) after its position."""
    for position, event_hash in links:
        if position > state.position:
            state = state.extend(position, event_hash)
    return state
