-- Positions of the pipeline: where the relay is in the store's notification log,
-- which Kafka offsets it produced to, and where the projector is in each partition.
CREATE TABLE IF NOT EXISTS relay_position (
    topic            text PRIMARY KEY,
    notification_id  bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS relay_partition_offsets (
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- The projector's consumed offsets live here, written in the same transaction as the
-- read-model rows (architecture decision 2); Kafka's committed offsets are for tooling.
CREATE TABLE IF NOT EXISTS projector_offsets (
    group_id     text    NOT NULL,
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint  NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- The highest version of each aggregate folded so far: a re-published event is skipped.
CREATE TABLE IF NOT EXISTS projector_applied (
    aggregate_id  uuid   PRIMARY KEY,
    version       bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS customers (
    customer       text PRIMARY KEY,
    tenant         text NOT NULL,
    email          text,
    name           text,
    anonymous      boolean NOT NULL DEFAULT false,
    registered_at  timestamptz NOT NULL
);

-- Events the projector could not fold: kept with the reason, never dropped silently.
CREATE TABLE IF NOT EXISTS quarantine (
    topic         text    NOT NULL,
    partition     integer NOT NULL,
    "offset"      bigint  NOT NULL,
    event_type    text,
    event_id      text,
    reason        text    NOT NULL,
    value         bytea   NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    retried       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (topic, partition, "offset")
);
