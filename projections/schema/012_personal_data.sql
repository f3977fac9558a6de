-- Personal data, sealed (R-PRV-1, docs/privacy.md). Events from now on carry each
-- personal field (name, e-mail, ticket subject and body, domain) as a sealed value,
-- encrypted with a key of the customer, and the read models copy those values as they
-- are: no read model holds personal data in plain text, so destroying the key erases
-- it from every row, every dead row version PostgreSQL has not vacuumed yet and every
-- backup of these tables. Readers that are entitled to see it decrypt it through the
-- composition root. A row written before (plain text) becomes the value an upcaster
-- makes of it, `{"enc": "none", "text": ...}`, exactly what a rebuild of its event
-- gives, so a rebuild still equals the live tables. Domains are named by their ref, a
-- keyed pseudonym (`domain.personal`).
CREATE FUNCTION pg_temp.unprotected(text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN $1 IS NULL THEN NULL ELSE jsonb_build_object('enc', 'none', 'text', $1) END $$;

ALTER TABLE customers ALTER COLUMN email TYPE jsonb USING pg_temp.unprotected(email);
ALTER TABLE customers ALTER COLUMN name TYPE jsonb USING pg_temp.unprotected(name);
-- When the customer's personal data was erased (`customer.erased`); NULL: never.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;

ALTER TABLE licenses ALTER COLUMN domain TYPE jsonb USING pg_temp.unprotected(domain);
ALTER TABLE licenses ADD COLUMN domain_ref text;

-- The analysts' view named the domain; it names its ref now: analysts see no personal
-- data, and the same ref is the same domain.
DROP VIEW analytics.subscriptions;
ALTER TABLE subscriptions ALTER COLUMN domain TYPE jsonb USING pg_temp.unprotected(domain);
ALTER TABLE subscriptions ADD COLUMN domain_ref text;
CREATE VIEW analytics.subscriptions AS
SELECT tenant, subscription, customer, plan, term, domain_ref, starts_at,
       least(ends_at, coalesce(cancel_effective_at, ends_at)) AS ends_at, status, price
FROM subscriptions;
GRANT SELECT ON analytics.subscriptions TO supportlog_analyst;

-- A claim is found by the event's `ref`: the domain's ref (v2), or, for a claim stored
-- before refs existed, the domain as it was written then (v1).
ALTER TABLE domains RENAME COLUMN domain TO ref;
ALTER TABLE domains ADD COLUMN domain jsonb;
ALTER TABLE domains ADD COLUMN domain_ref text;
UPDATE domains SET domain = pg_temp.unprotected(ref);

-- The keys. Not read models: never rebuilt, compared or swapped.
-- The deployment's master-key record: which master key wraps the keys below (its id,
-- never the key: the key lives outside the database, SUPPORTLOG_HOME/master.key or
-- SUPPORTLOG_MASTER_KEY), and the key that makes domains' refs, wrapped by it.
CREATE TABLE privacy_master (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    master_key_id   text NOT NULL,
    wrapped_ref_key bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One data key per customer, wrapped by the master key (AES key wrap, RFC 3394).
-- Erasing the customer sets `wrapped_key` to NULL in the transaction that stores
-- `customer.erased`; the row stays as the record of when.
CREATE TABLE customer_keys (
    customer     text PRIMARY KEY,
    customer_id  uuid NOT NULL UNIQUE,
    key_id       text NOT NULL UNIQUE,
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

-- A store re-encrypted from one written before personal data was sealed
-- (`supportlog privacy migrate`): each position's event id and hash in the old store
-- and in this one (the same when the event was copied unchanged). Its digest is in
-- the `privacy.store_migrated` event; `supportlog privacy migrate` verifies both.
CREATE TABLE privacy_migration_map (
    position      bigint PRIMARY KEY,
    old_event_id  uuid NOT NULL,
    old_hash      text NOT NULL,
    new_event_id  uuid NOT NULL,
    new_hash      text NOT NULL
);
