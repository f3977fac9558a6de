"""Console sessions: a token signs in once, and a random session id in an HttpOnly,
SameSite=Strict cookie stands for it afterwards.

The token itself is never stored or put in a cookie, a URL or a log: it is checked by
the token service (`Principals.authenticate`) at sign-in and forgotten. The cookie holds
32 random bytes; the table (`console_sessions`) keeps only their SHA-256, the principal,
the session's CSRF token and its expiry. Resolving a session joins `principals`, so a
revoked token ends its sessions at once, and an expired or signed-out session is gone.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from domain.actor import Actor
from supportlog.principals import Principals

#: How long a console session lasts after sign-in.
SESSION_HOURS = 12


@dataclass(frozen=True)
class Session:
    """A signed-in console session: who, and the token its forms must carry."""

    actor: Actor
    csrf: str


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


class ConsoleSessions:
    """Sessions of one store's principals."""

    def __init__(self, pool: ConnectionPool, principals: Principals,
                 clock: Callable[[], datetime]):
        self.pool = pool
        self.principals = principals
        self.clock = clock

    def sign_in(self, token: str) -> tuple[str, Session] | None:
        """Returns a new session id and its session if `token` names an active
        principal; None otherwise (the caller says no more than "not accepted")."""
        actor = self.principals.authenticate(token.strip())
        if actor is None:
            return None
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM console_sessions WHERE expires_at < %s", (now,))
            conn.execute(
                "INSERT INTO console_sessions (session_sha256, principal, csrf, created_at, "
                "expires_at) VALUES (%s, %s, %s, %s, %s)",
                (_digest(session_id), actor.id, csrf, now,
                 now + timedelta(hours=SESSION_HOURS)))
        return session_id, Session(actor, csrf)

    def resolve(self, session_id: str | None) -> Session | None:
        """Returns the live session of `session_id`, or None if there is none: unknown,
        expired, signed out, or its principal's token revoked."""
        if not session_id or len(session_id) > 100:
            return None
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT p.principal, p.desk, p.role, p.customer, s.csrf "
                "FROM console_sessions s JOIN principals p USING (principal) "
                "WHERE s.session_sha256 = %s AND s.expires_at > %s AND p.revoked_at IS NULL",
                (_digest(session_id), self.clock())).fetchone()
        if row is None:
            return None
        principal, desk, role, customer, csrf = row
        return Session(Actor(role, principal, desk=desk, customer=customer), csrf)

    def sign_out(self, session_id: str) -> None:
        """Ends the session at once."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM console_sessions WHERE session_sha256 = %s",
                         (_digest(session_id),))
