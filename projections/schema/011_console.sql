-- The web console's sessions (`/console`, supportlog/console/sessions.py). Not a read
-- model: no fold names it. The cookie holds a random session id; only its SHA-256 is
-- kept here, with the principal it signed in as and the session's CSRF token. A
-- session lives only while its principal's token is not revoked (the lookup joins
-- `principals`), so revoking the token ends every console session made with it.
CREATE TABLE IF NOT EXISTS console_sessions (
    session_sha256  bytea PRIMARY KEY,
    principal       text NOT NULL,
    csrf            text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at);
