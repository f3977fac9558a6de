-- The relay's log-wide hash chain (R-AUD-3): a running SHA-256 over every stored event,
-- in store order (eventlog/log_chain.py). The relay extends it in the same transaction
-- as its position, so it always covers exactly what was acknowledged by the broker.
-- `supportlog verify` recomputes the chain from the store and compares: an altered or
-- deleted event, even the last of its aggregate, no longer matches.

-- The chain's head: one row, moved forward with every relayed batch.
CREATE TABLE IF NOT EXISTS log_chain_head (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    position     bigint      NOT NULL,
    log_hash     text        NOT NULL,
    events       bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Permanent checkpoints, one each time the chain passes another block of events (1000
-- by default): rows are only inserted, so `verify` can say in which stretch of the log
-- an event was altered or removed.
CREATE TABLE IF NOT EXISTS log_chain_checkpoints (
    position     bigint      PRIMARY KEY,
    log_hash     text        NOT NULL,
    events       bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
