-- The analysts' schema: stable views over the read models, and a read-only role.
-- Analysts query `analytics.*` only; the tables under them may change shape, the views
-- keep their columns (docs/analytics.md documents each one). A view reads its tables
-- with its owner's rights, so the role needs no grant on the tables themselves.
-- Views over tables that later migrations add are created by those migrations.

CREATE SCHEMA IF NOT EXISTS analytics;

-- Roles belong to the whole cluster, not to one database: another database's
-- migration may create it at the same moment, so both "already there" errors are fine.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supportlog_analyst') THEN
        CREATE ROLE supportlog_analyst NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA analytics TO supportlog_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO supportlog_analyst;

-- Tickets waiting for an agent, in serving order per desk and department (R-TKT-6).
CREATE OR REPLACE VIEW analytics.live_queue AS
SELECT q.tenant, q.department, q.position, q.ticket, q.customer, t.plan, q.rank,
       q.status, t.channel, q.opened_at, q.last_customer_comment_at,
       t.first_response_due, t.sla_breached
FROM service_queue q
JOIN tickets t ON t.ticket = q.ticket;

-- Customers banned now: who, scope, reason, from, until, by whom (R-BAN-4).
CREATE OR REPLACE VIEW analytics.ban_list AS
SELECT c.tenant, b.customer, b.scope, b.reason, b.since, b.until, b.by_agent
FROM bans b
LEFT JOIN customers c ON c.customer = b.customer
WHERE b.banned;

-- Disputes awaiting review, with the charge they contest and the review due time
-- (R-DSP-1); `overdue` is set by the due-time timer's event, not by the clock.
CREATE OR REPLACE VIEW analytics.open_disputes AS
SELECT c.tenant, d.dispute, d.customer, d.charge_id, ch.credits, ch.money, ch.rule,
       d.opened_at, d.due_at, d.overdue
FROM disputes d
LEFT JOIN customers c ON c.customer = d.customer
LEFT JOIN charges ch ON ch.charge_id = d.charge_id
WHERE d.status = 'open';

-- One row per ticket: its first response against its target (R-SLA-1, R-SLA-2, R-SLA-3, R-SLA-4, R-SLA-5).
CREATE OR REPLACE VIEW analytics.first_responses AS
SELECT t.tenant, t.ticket, t.customer, coalesce(t.plan, '(none)') AS plan, t.channel,
       t.department, t.category, t.opened_at, t.sla_target, t.first_response_due,
       t.first_response_at,
       round(extract(epoch FROM (t.first_response_at - t.opened_at)) / 60)::integer
           AS first_response_minutes,
       t.sla_breached
FROM tickets t;

-- SLA breaches and first-response times per desk (profile), plan and channel.
CREATE OR REPLACE VIEW analytics.sla_by_profile_plan_channel AS
SELECT tenant, plan, channel,
       count(*) AS tickets,
       count(first_response_due) AS with_target,
       count(first_response_at) AS responded,
       count(*) FILTER (WHERE sla_breached) AS breached,
       round(100.0 * count(*) FILTER (WHERE sla_breached)
             / nullif(count(first_response_due), 0), 1) AS breached_pct,
       round(avg(first_response_minutes))::integer AS avg_first_response_minutes,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY first_response_minutes)
           AS median_first_response_minutes,
       max(first_response_minutes) AS max_first_response_minutes
FROM analytics.first_responses
GROUP BY tenant, plan, channel;

GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO supportlog_analyst;
