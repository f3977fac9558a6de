-- The HTTP front door's own tables. Neither is a read model: no fold names them, so a
-- rebuild never touches them, and neither can be folded from the log.

-- Principals (R-ACL-1): who may call the API, with the SHA-256 of each bearer token.
-- The token service (supportlog/principals.py) writes a row in the same call that
-- records `principal.issued` or `principal.revoked`; the log never holds the hash, so
-- a lost table means issuing tokens again, never a leaked secret. A revocation is
-- written here first, so it takes effect before the call returns.
CREATE TABLE IF NOT EXISTS principals (
    principal     text PRIMARY KEY,
    desk          text NOT NULL,
    role          text NOT NULL,
    customer      text,
    name          text,
    token_sha256  bytea NOT NULL,
    issued_at     timestamptz NOT NULL,
    issued_by     jsonb NOT NULL,
    revoked_at    timestamptz,
    revoked_by    jsonb
);
CREATE INDEX IF NOT EXISTS principals_desk ON principals (desk, issued_at);

-- Idempotency keys of API writes, as Stripe keeps them: the first request's
-- fingerprint (method, path, body) and its response, per principal and key. `status`
-- is NULL while the first request is still being answered. Rows older than the
-- retention (SUPPORTLOG_IDEMPOTENCY_HOURS, at least 24) are deleted by the server.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal    text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    status       integer,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
