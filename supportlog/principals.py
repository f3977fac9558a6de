"""The token service: issues, lists and revokes the principals of a desk, and turns a
bearer token into the principal it names (R-ACL-1).

A token is `sl.<principal>.<secret>`: the principal id (public: it is how a principal is
listed and revoked, and what events record) and 32 random bytes, URL-safe. It is shown
once, when issued; only its SHA-256 is stored (`principals` table), and a presented
token's hash is compared with `hmac.compare_digest`, in constant time. SHA-256 and not
bcrypt or scrypt: those slow down guessing a low-entropy password, and a 256-bit random
secret cannot be guessed however fast the hash; a fast hash keeps authentication to one
indexed read and a microsecond of hashing per request.

Issuing and revoking are also events (`domain.principal`), recorded with the actor who
did it and never with the token or its hash. A revocation is written to the table
first, so it takes effect before the call returns even if recording the event then
fails; repeating the revocation records the event.

A server remembers a token it verified for `TRUST_S` seconds, so a busy client costs
one lookup every two seconds instead of one a request (a profile of the API put the
lookup at a seventh of a command's CPU). The same service forgets a principal the moment
it revokes it; a revocation made elsewhere (the command line, another server) takes
effect there within `TRUST_S`. Unknown tokens are never remembered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from domain.access import authorize_read
from domain.actor import Actor
from domain.desk import SupportDesk
from domain.principal import UnknownPrincipalError, issue, revoke

TOKEN_PREFIX = "sl"
_DUMMY_HASH = hashlib.sha256(b"no such principal").digest()
#: Seconds a verified token is trusted without asking the table again.
TRUST_S = 2.0
#: Verified tokens remembered at most (all forgotten at once past it: a cheap bound).
_REMEMBERED = 10_000


@dataclass(frozen=True)
class PrincipalRecord:
    """A principal as listed: never its token."""

    principal: str
    desk: str
    role: str
    customer: str | None
    name: str | None
    issued_at: datetime
    issued_by: dict[str, str]
    revoked_at: datetime | None
    revoked_by: dict[str, str] | None

    def to_dict(self) -> dict[str, Any]:
        return {"principal": self.principal, "desk": self.desk, "role": self.role,
                "customer": self.customer, "name": self.name,
                "issued_at": self.issued_at.isoformat(), "issued_by": self.issued_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "revoked_by": self.revoked_by}

    def actor(self) -> Actor:
        return Actor(self.role, self.principal, desk=self.desk, customer=self.customer)


def token_hash(token: str) -> bytes:
    """Returns the SHA-256 of a token, the only form in which it is stored."""
    return hashlib.sha256(token.encode()).digest()


def principal_of(token: str) -> str | None:
    """Returns the principal id a token names, or None if it is not shaped as ours."""
    prefix, _, rest = token.partition(".")
    principal, _, secret = rest.partition(".")
    if prefix != TOKEN_PREFIX or not principal or len(secret) < 32 or len(token) > 200:
        return None
    return principal


_COLUMNS = ("principal, desk, role, customer, name, issued_at, issued_by, revoked_at, "
            "revoked_by")


class Principals:
    """Principals of every desk of one store: `pool` reaches its database, `clock`
    gives the instant each issue or revocation is recorded at."""

    def __init__(self, desk: SupportDesk, pool: ConnectionPool,
                 clock: Callable[[], datetime],
                 monotonic: Callable[[], float] = time.monotonic):
        self.desk = desk
        self.pool = pool
        self.clock = clock
        self.monotonic = monotonic
        self._verified: dict[bytes, tuple[Actor, float]] = {}  # token hash -> (who, when)

    def create(self, *, desk: str, role: str, customer: str | None, name: str | None,
               by: Actor) -> tuple[PrincipalRecord, str]:
        """Issues a principal of `desk` and returns it with its token (shown once).

        Raises ForbiddenError unless `by` may manage the desk's principals, and the
        domain's errors for a role, desk or customer that does not fit."""
        principal = f"{role}-{secrets.token_hex(6)}"
        token = f"{TOKEN_PREFIX}.{principal}.{secrets.token_urlsafe(32)}"
        now = self.clock()
        issue(self.desk, principal=principal, role=role, tenant=desk, customer=customer,
              name=name, now=now, actor=by)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO principals (principal, desk, role, customer, name, "
                "token_sha256, issued_at, issued_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (principal, desk, role, customer, name, token_hash(token), now,
                 Jsonb(by.record())))
        return PrincipalRecord(principal, desk, role, customer, name, now, by.record(),
                               None, None), token

    def list(self, desk: str, by: Actor) -> list[PrincipalRecord]:
        """Returns the principals of `desk`, oldest first."""
        authorize_read(by, "list_tokens")
        if not by.sees(desk):
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM principals WHERE desk = %s "
                                "ORDER BY issued_at, principal", (desk,)).fetchall()
        return [PrincipalRecord(*row) for row in rows]

    def revoke(self, principal: str, by: Actor) -> PrincipalRecord:
        """Revokes `principal` at once and records it; returns it as it now stands.
        Raises UnknownPrincipalError if `by` cannot see it, ForbiddenError unless `by`
        may manage principals, InvalidTransitionError if the log says it is revoked."""
        authorize_read(by, "revoke_token")
        found = self._record(principal)
        if found is None or not by.sees(found.desk):
            raise UnknownPrincipalError(f"no principal {principal!r}")
        now = self.clock()
        with self.pool.connection() as conn:
            conn.execute("UPDATE principals SET revoked_at = coalesce(revoked_at, %s), "
                         "revoked_by = coalesce(revoked_by, %s) WHERE principal = %s",
                         (now, Jsonb(by.record()), principal))
        for digest, (actor, _) in list(self._verified.items()):
            if actor.id == principal:
                self._verified.pop(digest, None)
        revoke(self.desk, principal, now=now, actor=by)
        record = self._record(principal)
        assert record is not None
        return record

    def _record(self, principal: str) -> PrincipalRecord | None:
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM principals WHERE principal = %s",
                               (principal,)).fetchone()
        return PrincipalRecord(*row) if row else None

    def authenticate(self, token: str) -> Actor | None:
        """Returns the principal `token` names if the token is its own and not revoked;
        None otherwise (the caller answers 401 and says no more)."""
        digest = token_hash(token)
        remembered = self._verified.get(digest)
        if remembered is not None and self.monotonic() - remembered[1] < TRUST_S:
            return remembered[0]
        principal = principal_of(token)
        row = None
        if principal is not None:
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT desk, role, customer, token_sha256, revoked_at FROM principals "
                    "WHERE principal = %s", (principal,)).fetchone()
        stored = bytes(row[3]) if row else _DUMMY_HASH
        matches = hmac.compare_digest(stored, digest)
        if row is None or not matches or row[4] is not None:
            return None
        desk, role, customer = row[0], row[1], row[2]
        actor = Actor(role, principal, desk=desk, customer=customer)
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()
        self._verified[digest] = (actor, self.monotonic())
        return actor
