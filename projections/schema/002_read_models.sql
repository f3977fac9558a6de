-- The read models behind the scenario checks and the desk's screens.
CREATE TABLE IF NOT EXISTS balances (
    customer    text PRIMARY KEY,
    credits     integer NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- One line per balance change, naming its cause (R-CRD-9).
CREATE TABLE IF NOT EXISTS ledger (
    event_id       text PRIMARY KEY,
    customer       text NOT NULL,
    at             timestamptz NOT NULL,
    delta          integer NOT NULL,
    balance_after  integer NOT NULL,
    cause_type     text NOT NULL,
    cause          text NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_customer ON ledger (customer, at);

CREATE TABLE IF NOT EXISTS quotas (
    customer            text PRIMARY KEY,
    month               text NOT NULL,
    requests_used       integer NOT NULL DEFAULT 0,
    requests_limit      integer,
    modifications_used  integer NOT NULL DEFAULT 0,
    free_used           integer NOT NULL DEFAULT 0,
    free_limit          integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS tickets (
    ticket                    text PRIMARY KEY,
    customer                  text NOT NULL,
    tenant                    text NOT NULL,
    department                text,
    channel                   text,
    category                  text,
    status                    text NOT NULL,
    plan                      text,
    rank                      integer NOT NULL DEFAULT 0,
    queue_order               text NOT NULL DEFAULT 'arrival',
    opened_at                 timestamptz,
    last_customer_comment_at  timestamptz,
    first_response_due        timestamptz,
    first_response_at         timestamptz,
    sla_target                text,
    sla_breached              boolean NOT NULL DEFAULT false,
    awaiting_payment          boolean NOT NULL DEFAULT false,
    updated_at                timestamptz
);

CREATE TABLE IF NOT EXISTS charges (
    charge_id        text PRIMARY KEY,
    customer         text NOT NULL,
    ticket           text NOT NULL,
    n                integer NOT NULL,
    credits          integer,
    money            text,
    rule             text NOT NULL,
    profile_id       text,
    profile_version  integer,
    at               timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_customer ON charges (customer, at, ticket, n);

CREATE TABLE IF NOT EXISTS bans (
    customer  text PRIMARY KEY,
    banned    boolean NOT NULL,
    scope     text,
    reason    text,
    since     timestamptz,
    until     timestamptz,
    by_agent  text,
    updated_at timestamptz
);

CREATE TABLE IF NOT EXISTS disputes (
    dispute   text PRIMARY KEY,
    customer  text NOT NULL,
    charge_id text NOT NULL,
    status    text NOT NULL,
    due_at    timestamptz,
    overdue   boolean NOT NULL DEFAULT false,
    agent     text,
    reason    text,
    opened_at timestamptz
);

-- Due times taken from events; the scheduler fires what is due (a projection, R-SLA-5).
CREATE TABLE IF NOT EXISTS timers (
    timer_id  text PRIMARY KEY,
    kind      text NOT NULL,
    subject   text NOT NULL,
    due_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);

-- Tickets awaiting an agent, in serving order (R-TKT-6): the plan's rank first, then
-- the last customer comment (desks ordering by it) or the arrival.
CREATE OR REPLACE VIEW service_queue AS
SELECT t.department, t.ticket, t.customer, t.tenant, t.rank, t.status, t.opened_at,
       t.last_customer_comment_at,
       row_number() OVER (PARTITION BY t.tenant, t.department ORDER BY t.rank DESC,
           CASE WHEN t.queue_order = 'last_customer_comment' THEN t.last_customer_comment_at
                ELSE t.opened_at END, t.opened_at, t.ticket) AS position
FROM tickets t
WHERE t.status IN ('new', 'open') AND NOT t.awaiting_payment;
