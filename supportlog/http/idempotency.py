"""Idempotency keys for API writes, with Stripe's rules.

A write carrying `Idempotency-Key` (at most 255 characters, chosen by the client, one
per intended operation) is answered once: its first response (status and body) is
kept under (principal, key), and a retry with the same key gets that response again,
marked `Idempotent-Replayed: true`, without running anything. The same key with
another request (method, path or body, compared as canonical JSON) is refused with
422 `idempotency_key_reused`; a retry arriving while the first is still being answered
gets 409 `idempotency_key_in_use`. Keys belong to their principal: another principal's
identical key is another operation.

Only final answers are kept: a success or a refusal that would be the same again. A
retriable failure (a server down, a conflict, a rate limit, a read model behind) drops
the claim, so the retry really runs. A claim whose request died with its process is
taken over after `_STALE_S`; a command's effect is still never doubled, because the
command also runs under a command id derived from the key, and the desk's command
receipt (saved with the command's events) answers the repeat (`domain.receipt`).

Keys are kept at least `Settings.idempotency_hours` (24 by default): the server deletes
older ones every hour (`purge`). Their writes do not wait for the disk (the pool is not
`durable`): a database crash may forget the last moment's keys, and a retry of one of
those then runs again, which the command id again makes harmless; in exchange a write
costs one disk flush (the command's) instead of three.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg_pool import ConnectionPool

from domain.errors import IdempotencyKeyReusedError
from supportlog.http.problems import IdempotencyKeyInUseError

#: Seconds after which an unanswered claim is taken to belong to a request that died.
_STALE_S = 60
#: Statuses whose answers are kept (a retry gets them again).
_FINAL = frozenset({200, 201, 400, 403, 404, 409, 413, 422})
_RETRIABLE_CODES = frozenset({"conflict", "idempotency_key_in_use"})


@dataclass(frozen=True)
class Stored:
    """The first answer to a key."""

    status: int
    body: bytes


def fingerprint(method: str, path: str, body: Any) -> str:
    """Returns the hash of a request as the key promises it: method, path and the body
    as canonical JSON (so key order and spacing do not matter)."""
    canonical = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def keeps(status: int, body: bytes) -> bool:
    """True if an answer is final: kept for retries rather than run again."""
    if status not in _FINAL:
        return False
    if status == 409:
        return orjson.loads(body).get("code") not in _RETRIABLE_CODES
    return True


class IdempotencyStore:
    """The `idempotency_keys` table."""

    def __init__(self, pool: ConnectionPool, retention_hours: int):
        self.pool = pool
        self.retention_hours = retention_hours

    def claim(self, principal: str, key: str, print_: str) -> Stored | None:
        """Claims `key` for a request with fingerprint `print_`: returns None if this
        request is to run (and later `finish` or `release`), or the stored first answer.
        Raises IdempotencyKeyReusedError (another request) or IdempotencyKeyInUseError."""
        with self.pool.connection() as conn:
            claimed = conn.execute(
                "INSERT INTO idempotency_keys (principal, key, fingerprint) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (principal, key, print_)).fetchone()
            if claimed:
                return None
            row = conn.execute(
                "SELECT fingerprint, status, body, now() - created_at > make_interval("
                "secs => %s) FROM idempotency_keys WHERE principal = %s AND key = %s",
                (_STALE_S, principal, key)).fetchone()
            if row is None:  # purged or released between the two statements
                return self.claim(principal, key, print_)
            stored_print, status, body, stale = row
            if stored_print != print_:
                raise IdempotencyKeyReusedError(
                    "this Idempotency-Key was used for another request; a retry must "
                    "repeat the request exactly, a new operation needs a new key")
            if status is not None:
                return Stored(status, bytes(body))
            if stale and conn.execute(
                    "UPDATE idempotency_keys SET created_at = now() WHERE principal = %s "
                    "AND key = %s AND status IS NULL RETURNING 1", (principal, key)
            ).fetchone():
                return None
            raise IdempotencyKeyInUseError(
                "a request with this Idempotency-Key is still being answered; retry later")

    def finish(self, principal: str, key: str, status: int, body: bytes) -> None:
        """Keeps the first answer of a claimed key (or drops the claim if the answer is
        not final)."""
        with self.pool.connection() as conn:
            if keeps(status, body):
                conn.execute("UPDATE idempotency_keys SET status = %s, body = %s "
                             "WHERE principal = %s AND key = %s",
                             (status, body, principal, key))
            else:
                conn.execute("DELETE FROM idempotency_keys WHERE principal = %s AND key = %s "
                             "AND status IS NULL", (principal, key))

    def release(self, principal: str, key: str) -> None:
        """Drops a claim whose request failed without an answer worth keeping."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM idempotency_keys WHERE principal = %s AND key = %s "
                         "AND status IS NULL", (principal, key))

    def purge(self) -> int:
        """Deletes keys older than the retention; returns how many."""
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval("
                "hours => %s)", (self.retention_hours,))
            return cursor.rowcount
