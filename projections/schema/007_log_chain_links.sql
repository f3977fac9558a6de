-- The relay's keyed record of what it read (R-AUD-3, eventlog/log_chain.py): one row per
-- step of the log-wide chain, holding each event's position, id and hash after position
-- `after` up to `last`, packed (56 bytes an event), with a MAC under the log key. Rows
-- follow each other (`after` of one is `last` of the one before), so `verify` can name
-- the position and id of every event removed from the store after the relay read it.
CREATE TABLE IF NOT EXISTS log_chain_links (
    after        bigint      PRIMARY KEY,
    last         bigint      NOT NULL,
    links        bytea       NOT NULL,
    mac          text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
