-- Read models beyond the scenario checks: holds (R-CRD-7), monthly quota history
-- (R-QTA), SLA clocks and breaches (R-SLA-5), licences, subscriptions, packages,
-- domains, adopted profile versions, the work log and notices (R-AUD-1), spam review
-- (R-BAN-2); plus the projector's bookkeeping for dead letters, parking and status.
-- The analyst views over these tables are at the end: a view can only be created
-- once its tables exist, and 004 runs first.

-- A modification charge is reserved, then captured or released (R-CRD-7). The domain
-- records both halves on `credit.charged`; the row says what it recorded.
CREATE TABLE IF NOT EXISTS holds (
    charge_id        text PRIMARY KEY,
    customer         text NOT NULL,
    ticket           text NOT NULL,
    entry            integer NOT NULL,
    rule             text NOT NULL,
    reserved         integer NOT NULL,
    captured         integer,
    released         integer NOT NULL DEFAULT 0,
    status           text NOT NULL,
    profile_version  integer,
    at               timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_customer ON holds (customer, at);

-- Every month's counters of every customer (R-QTA-1, R-QTA-2, R-QTA-3, R-QTA-4, R-QTA-5); `quotas` keeps only the
-- current month, which the scenario checks read.
CREATE TABLE IF NOT EXISTS quota_months (
    customer            text NOT NULL,
    month               text NOT NULL,
    tenant              text NOT NULL,
    requests_used       integer NOT NULL DEFAULT 0,
    requests_limit      integer,
    modifications_used  integer NOT NULL DEFAULT 0,
    free_used           integer NOT NULL DEFAULT 0,
    free_limit          integer NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (customer, month)
);

-- One line per counted request or modification, naming its ticket, so usage can be
-- grouped by the plan the ticket was opened under.
CREATE TABLE IF NOT EXISTS quota_usage (
    event_id  text PRIMARY KEY,
    customer  text NOT NULL,
    tenant    text NOT NULL,
    month     text NOT NULL,
    ticket    text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('request', 'modification')),
    free      boolean NOT NULL DEFAULT false,
    at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_usage_month ON quota_usage (tenant, month);

-- The first-response clock of each ticket with a target (R-SLA-1, R-SLA-2, R-SLA-3, R-SLA-4, R-SLA-5). Its state is
-- derived (breached > met > stopped > running) so no event overwrites another's fact.
CREATE TABLE IF NOT EXISTS sla_clocks (
    ticket             text PRIMARY KEY,
    customer           text NOT NULL,
    tenant             text NOT NULL,
    target             text NOT NULL,
    rule               text,
    due_at             timestamptz NOT NULL,
    clock_mode         text NOT NULL,
    calendar_id        text,
    calendar_version   integer,
    profile_version    integer,
    opened_at          timestamptz NOT NULL,
    first_response_at  timestamptz,
    breached_at        timestamptz,
    stopped_at         timestamptz
);

-- A breach as recorded (R-SLA-5): the target, due time, calendar version and clock
-- mode it was judged by. A later calendar change never rewrites these rows.
CREATE TABLE IF NOT EXISTS sla_breaches (
    ticket            text PRIMARY KEY,
    customer          text NOT NULL,
    tenant            text NOT NULL,
    target            text NOT NULL,
    due_at            timestamptz NOT NULL,
    calendar_id       text NOT NULL,
    calendar_version  integer NOT NULL,
    clock_mode        text NOT NULL,
    timer_id          text,
    event_id          text NOT NULL,
    recorded_at       timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS licenses (
    customer          text NOT NULL,
    license           text NOT NULL,
    tenant            text NOT NULL,
    product           text NOT NULL,
    plan              text,
    domain            text,
    period_starts_at  timestamptz NOT NULL,
    period_ends_at    timestamptz NOT NULL,
    after_period      jsonb,
    period_ended      boolean NOT NULL DEFAULT false,
    bought_at         timestamptz NOT NULL,
    PRIMARY KEY (customer, license)
);

CREATE TABLE IF NOT EXISTS subscriptions (
    subscription     text PRIMARY KEY,
    customer         text NOT NULL,
    tenant           text NOT NULL,
    plan             text NOT NULL,
    term             text NOT NULL,
    domain           text,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    price            text,
    profile_version  integer,
    status           text NOT NULL,
    cancelled_at     timestamptz,
    cancel_effective_at timestamptz,
    expired_at       timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_customer ON subscriptions (customer);

-- Incident and Examination packages (R-SUB-4): bought, then tied to one ticket.
CREATE TABLE IF NOT EXISTS packages (
    purchase     text PRIMARY KEY,
    customer     text NOT NULL,
    tenant       text NOT NULL,
    package      text NOT NULL,
    max_minutes  integer NOT NULL,
    ticket       text,
    bought_at    timestamptz NOT NULL,
    assigned_at  timestamptz
);

-- Which customer owns a shop's domain (R-TKT-11).
CREATE TABLE IF NOT EXISTS domains (
    domain      text PRIMARY KEY,
    customer    text NOT NULL,
    tenant      text NOT NULL,
    claimed_at  timestamptz NOT NULL
);

-- Every profile version a desk adopted, with the calendar timezone the analyst views
-- use to cut months (R-AUD-4: the policy in force is an event).
CREATE TABLE IF NOT EXISTS profile_versions (
    tenant      text NOT NULL,
    version     integer NOT NULL,
    digest      text NOT NULL,
    timezone    text NOT NULL,
    adopted_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant, version, digest)
);

-- Every work entry with the decision that priced it (R-AUD-1), free ones included.
CREATE TABLE IF NOT EXISTS work_log (
    ticket             text NOT NULL,
    entry              integer NOT NULL,
    customer           text NOT NULL,
    tenant             text NOT NULL,
    agent              text NOT NULL,
    minutes            integer NOT NULL,
    kind               text NOT NULL,
    classification     text,
    rule               text NOT NULL,
    billable_minutes   integer NOT NULL,
    unbilled_minutes   integer NOT NULL,
    package_minutes    integer NOT NULL DEFAULT 0,
    modification       boolean NOT NULL DEFAULT false,
    free_modification  boolean NOT NULL DEFAULT false,
    charge_id          text,
    credits            integer,
    money              text,
    at                 timestamptz NOT NULL,
    PRIMARY KEY (ticket, entry)
);

-- Notices given before charging more (R-CRD-5), one line each.
CREATE TABLE IF NOT EXISTS ticket_notices (
    event_id  text PRIMARY KEY,
    ticket    text NOT NULL,
    customer  text NOT NULL,
    notice    text NOT NULL,
    agent     text NOT NULL,
    at        timestamptz NOT NULL
);

-- Duplicates not caused by a technical fault, and the review flags they raised (R-BAN-2).
CREATE TABLE IF NOT EXISTS spam_duplicates (
    event_id   text PRIMARY KEY,
    customer   text NOT NULL,
    tenant     text NOT NULL,
    ticket     text NOT NULL,
    opened_at  timestamptz NOT NULL,
    noted_at   timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS spam_flags (
    event_id      text PRIMARY KEY,
    customer      text NOT NULL,
    tenant        text NOT NULL,
    duplicates    integer NOT NULL,
    window_hours  integer NOT NULL,
    flagged_at    timestamptz NOT NULL
);

-- --- the projector's bookkeeping ---------------------------------------------------

-- What a dead letter needs besides what 001 keeps: the record's key and headers (to
-- republish it as it was), the event's stream position (quarantine parks the rest of
-- that stream until a retry, so folds stay in order), when it reached the dead-letter
-- topic, and what the last retry said.
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS group_id text;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS aggregate_id uuid;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS aggregate_version bigint;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS key bytea;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS headers jsonb;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS dead_lettered_at timestamptz;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS retried_at timestamptz;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS last_retry_error text;
CREATE INDEX IF NOT EXISTS quarantine_parked ON quarantine (aggregate_id) WHERE NOT retried;

-- The store position (notification id) of the last record applied per partition, so
-- `supportlog status` can say up to which notification everything is applied.
CREATE TABLE IF NOT EXISTS projector_positions (
    group_id   text    NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    position   bigint  NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- --- analyst views over these tables (see 004_analytics.sql and docs/analytics.md) --

-- Each desk's policy profile in force now, and the timezone its months are cut in.
CREATE OR REPLACE VIEW analytics.desks AS
SELECT DISTINCT ON (tenant) tenant, version AS profile_version, timezone, adopted_at
FROM profile_versions
ORDER BY tenant, adopted_at DESC, version DESC;

-- Credits bought, granted, charged and compensated per customer and month (R-CRD-9),
-- the month cut in the desk's timezone.
CREATE OR REPLACE VIEW analytics.credits_monthly AS
SELECT c.tenant, l.customer,
       to_char(l.at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'YYYY-MM') AS month,
       coalesce(sum(l.delta) FILTER (WHERE l.cause_type = 'purchase'), 0) AS bought,
       coalesce(sum(l.delta) FILTER (WHERE l.cause_type = 'addon'), 0) AS granted,
       coalesce(-sum(l.delta) FILTER (WHERE l.cause_type = 'charge'), 0) AS charged,
       coalesce(sum(l.delta) FILTER (WHERE l.cause_type = 'dispute'), 0) AS compensated,
       sum(l.delta) AS net_change,
       (array_agg(l.balance_after ORDER BY l.at DESC, l.event_id DESC))[1]
           AS closing_balance
FROM ledger l
LEFT JOIN customers c ON c.customer = l.customer
LEFT JOIN analytics.desks d ON d.tenant = c.tenant
GROUP BY c.tenant, l.customer, 3;

-- Monthly quota usage per desk and plan (the plan the ticket was opened under).
CREATE OR REPLACE VIEW analytics.quota_usage_monthly AS
SELECT u.tenant, u.month, coalesce(t.plan, '(none)') AS plan,
       count(DISTINCT u.customer) AS customers,
       count(*) FILTER (WHERE u.kind = 'request') AS requests,
       count(*) FILTER (WHERE u.kind = 'modification') AS modifications,
       count(*) FILTER (WHERE u.kind = 'modification' AND u.free) AS free_modifications,
       count(*) FILTER (WHERE u.kind = 'modification' AND NOT u.free) AS paid_modifications
FROM quota_usage u
LEFT JOIN tickets t ON t.ticket = u.ticket
GROUP BY u.tenant, u.month, coalesce(t.plan, '(none)');

-- Each customer's counters per month, against the plan's limits.
CREATE OR REPLACE VIEW analytics.quota_months AS
SELECT tenant, customer, month, requests_used, requests_limit, modifications_used,
       free_used, free_limit, greatest(free_limit - free_used, 0) AS free_left
FROM quota_months;

-- Every recorded breach with what it was judged by, and the ticket's plan and channel.
CREATE OR REPLACE VIEW analytics.sla_breaches AS
SELECT b.tenant, b.ticket, b.customer, t.plan, t.channel, t.department, b.target,
       b.due_at, b.clock_mode, b.calendar_id, b.calendar_version, c.first_response_at,
       round(extract(epoch FROM (c.first_response_at - b.due_at)) / 60)::integer
           AS minutes_late_at_response
FROM sla_breaches b
LEFT JOIN tickets t ON t.ticket = b.ticket
LEFT JOIN sla_clocks c ON c.ticket = b.ticket;

-- The first-response clock of every ticket with a target, and its state.
CREATE OR REPLACE VIEW analytics.sla_clocks AS
SELECT c.tenant, c.ticket, c.customer, t.plan, t.channel, c.target, c.clock_mode,
       c.calendar_version, c.opened_at, c.due_at, c.first_response_at,
       CASE WHEN c.breached_at IS NOT NULL THEN 'breached'
            WHEN c.first_response_at IS NOT NULL THEN 'met'
            WHEN c.stopped_at IS NOT NULL THEN 'stopped'
            ELSE 'running' END AS state
FROM sla_clocks c
LEFT JOIN tickets t ON t.ticket = c.ticket;

-- Modification charges reserved, captured and released (R-CRD-7).
CREATE OR REPLACE VIEW analytics.holds AS
SELECT c.tenant, h.customer, h.charge_id, h.ticket, h.rule, h.reserved, h.captured,
       h.released, h.status, h.at
FROM holds h
LEFT JOIN customers c ON c.customer = h.customer;

-- Subscriptions with the end that applies (a cancellation can bring it forward).
CREATE OR REPLACE VIEW analytics.subscriptions AS
SELECT tenant, subscription, customer, plan, term, domain, starts_at,
       least(ends_at, coalesce(cancel_effective_at, ends_at)) AS ends_at, status, price
FROM subscriptions;

GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO supportlog_analyst;
