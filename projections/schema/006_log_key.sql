-- The log key's record (R-AUD-3, eventlog/log_key.py). Every stored event carries a MAC
-- of its hash under a key kept outside the database; the store keeps only which key
-- that is (its id, a MAC of a fixed text: never the key) and after which position every
-- event must carry a MAC under it (the store's head when the key was recorded). `epoch`
-- counts the keys the store has had (a lost key is replaced by `supportlog log-key new`:
-- the MACs of earlier epochs can then no longer be checked). A process with another key
-- refuses to write; `mac` is the record's own MAC under the key.
CREATE TABLE IF NOT EXISTS log_key (
    singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    key_id        text        NOT NULL,
    sealed_after  bigint      NOT NULL,
    epoch         integer     NOT NULL,
    mac           text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
