-- The log key's record (R-AUD-3, eventlog/log_key.py). Every stored event carries a MAC
-- of its hash under a key kept outside the database; the store keeps only which key
-- that is (its id, a MAC of a fixed text: never the key) and after which position every
-- event must carry a MAC (the store's head when the key was first recorded). A process
-- with another key refuses to write; `mac` is the record's own MAC under the key.
CREATE TABLE IF NOT EXISTS log_key (
    singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    key_id        text        NOT NULL,
    sealed_after  bigint      NOT NULL,
    mac           text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
