"""The log key (architecture decision 9): what makes the store's evidence unforgeable.

Whoever can write to the database can rewrite an event and recompute every hash after
it; a MAC under a key the database does not hold cannot be recomputed. One key of 32
random bytes seals every stored event (`domain.sealing`: HMAC-SHA256 of its hash) and
every block of the relay's record of what it read (`eventlog.log_chain`), and signs the
store's key record. Each use MACs its own prefix, so no MAC can stand in for another.

The key is kept outside the database (a file under `SUPPORTLOG_HOME` or
`SUPPORTLOG_LOG_KEY`, loaded by the composition root); this module only computes with
it. The store keeps the key's id (a MAC of a fixed text, so it reveals nothing of the
key), the position after which every event must carry a MAC under it, and the key's
epoch (how many keys the store has had: a lost key is replaced, never recovered), in
the `log_key` table; so a process with another key may not write
(`supportlog.log_key`) and `verify` can tell a removed MAC from an old event.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import psycopg

#: The key's length in bytes: the full strength of HMAC-SHA256.
KEY_BYTES = 32


class LogKey:
    """A log key: computes and checks MACs; never shows its bytes (not in `repr`).

    The MAC is HMAC-SHA256 (RFC 2104). `verify` computes one per stored event, so the
    key's two padded blocks are hashed once, here, and each MAC starts from copies of
    those states: the same value as `hmac.digest` (a test holds them equal), at about
    half its cost, since `hmac.digest` pads and hashes the key again on every call.
    """

    __slots__ = ("_inner", "_outer", "id")

    def __init__(self, secret: bytes):
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a log key is {KEY_BYTES} bytes, not {len(secret)}")
        block = bytes(secret).ljust(hashlib.sha256().block_size, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        #: The key's public name: the first 16 hex digits of a MAC of a fixed text.
        self.id = self._mac(b"supportlog log key id")[:16]

    def __repr__(self) -> str:
        return f"LogKey(id={self.id})"

    def _mac(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def event_mac(self, event_hash: str) -> str:
        """Returns the seal of the event whose hex hash is `event_hash` (the desk's
        `Signer`)."""
        return self._mac(b"event\x00" + event_hash.encode())

    def links_mac(self, after: int, last: int, links: bytes) -> str:
        """Returns the MAC of the relay's record of positions after `after` up to
        `last` (`eventlog.log_chain`)."""
        return self._mac(f"links\x00{after}:{last}\x00".encode() + links)

    def record_mac(self, key_id: str, sealed_after: int, epoch: int) -> str:
        """Returns the MAC of the store's key record."""
        return self._mac(f"key\x00{key_id}:{sealed_after}:{epoch}".encode())

    @staticmethod
    def same(expected: str, found: str | None) -> bool:
        """True when `found` is the MAC `expected` (compared in constant time)."""
        return found is not None and hmac.compare_digest(expected, found)


@dataclass(frozen=True)
class KeyRecord:
    """The store's key record: which key seals it, after which position every event
    must carry a MAC under it (the store's head when the key was recorded), and how
    many keys the store has had (`epoch`: 1 unless a lost key was replaced)."""

    key_id: str
    sealed_after: int
    epoch: int
    mac: str

    def signed_by(self, key: LogKey) -> bool:
        """True when `key` wrote this record as it stands."""
        return LogKey.same(key.record_mac(self.key_id, self.sealed_after, self.epoch),
                           self.mac)


def read_key_record(conn: psycopg.Connection) -> KeyRecord | None:
    """Returns the store's key record (None before a key was first recorded)."""
    row = conn.execute("SELECT key_id, sealed_after, epoch, mac FROM log_key").fetchone()
    conn.commit()
    return KeyRecord(row[0], int(row[1]), int(row[2]), row[3]) if row else None


def record_key(conn: psycopg.Connection, key: LogKey, head: int) -> KeyRecord:
    """Records `key` as the store's first key, sealing every event after `head`, unless
    a key is already recorded; returns the record that stands (the earlier one, if any)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO log_key (singleton, key_id, sealed_after, epoch, mac) "
            "VALUES (true, %s, %s, 1, %s) ON CONFLICT (singleton) DO NOTHING",
            (key.id, head, key.record_mac(key.id, head, 1)))
    record = read_key_record(conn)
    assert record is not None
    return record


def replace_key(conn: psycopg.Connection, key: LogKey, head: int,
                previous: KeyRecord | None) -> KeyRecord | None:
    """Makes `key` the store's key from position `head` on, in place of `previous` (the
    record as read; None: the store has none), as the next epoch; returns the new
    record, or None if the record changed since it was read. With no record but events
    stored (the record was removed), what sealed them is unknown: the epoch is then 2,
    so that `verify` does not take their MACs for forgeries."""
    epoch = previous.epoch + 1 if previous else 2 if head else 1
    values = (key.id, head, epoch, key.record_mac(key.id, head, epoch))
    with conn.transaction():
        if previous is None:
            done = conn.execute(
                "INSERT INTO log_key (singleton, key_id, sealed_after, epoch, mac) VALUES "
                "(true, %s, %s, %s, %s) ON CONFLICT (singleton) DO NOTHING", values)
        else:
            done = conn.execute(
                "UPDATE log_key SET key_id = %s, sealed_after = %s, epoch = %s, mac = %s, "
                "recorded_at = now() WHERE key_id = %s AND epoch = %s",
                (*values, previous.key_id, previous.epoch))
    return read_key_record(conn) if done.rowcount == 1 else None
