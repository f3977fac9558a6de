-- Each ticket's measured times (R-SLA-4): first response, resolution and the time it
-- waited on the customer, in calendar time and in the desk's business time. The domain
-- measures them with the desk's calendar when each interval ends and records them on
-- the event that ends it (`measured`), with the calendar and clock it counted by; these
-- columns only copy them. NULL means not measured: not yet happened, or recorded before
-- the measures were (the fold never guesses). Resolution time is measured, never a
-- target: nothing here is judged against one. Depends only on 001-005.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS solved_at timestamptz;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS first_response_seconds integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS first_response_business_seconds integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS resolution_seconds integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS resolution_business_seconds integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS waiting_seconds integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS waiting_business_seconds integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS measured_calendar_id text;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS measured_calendar_version integer;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS measured_clock_mode text;

-- One row per ticket: its measured times in minutes, calendar and business (R-SLA-4).
CREATE OR REPLACE VIEW analytics.ticket_times AS
SELECT t.tenant, t.ticket, t.customer, coalesce(t.plan, '(none)') AS plan, t.channel,
       t.department, t.category, t.status, t.opened_at, t.first_response_at, t.solved_at,
       round(t.first_response_seconds / 60.0, 1) AS first_response_minutes,
       round(t.first_response_business_seconds / 60.0, 1)
           AS first_response_business_minutes,
       round(t.resolution_seconds / 60.0, 1) AS resolution_minutes,
       round(t.resolution_business_seconds / 60.0, 1) AS resolution_business_minutes,
       round(t.waiting_seconds / 60.0, 1) AS waiting_minutes,
       round(t.waiting_business_seconds / 60.0, 1) AS waiting_business_minutes,
       t.measured_clock_mode AS business_clock, t.measured_calendar_id AS calendar_id,
       t.measured_calendar_version AS calendar_version
FROM tickets t;

-- The same per desk (profile), plan and channel: how many tickets were answered and
-- solved, and the mean and median of each measure, calendar and business.
CREATE OR REPLACE VIEW analytics.ticket_times_by_desk_plan_channel AS
SELECT tenant, plan, channel,
       count(*) AS tickets,
       count(first_response_minutes) AS responded,
       count(resolution_minutes) AS solved,
       round(avg(first_response_minutes), 1) AS avg_first_response_minutes,
       round(avg(first_response_business_minutes), 1)
           AS avg_first_response_business_minutes,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY first_response_business_minutes)
           AS median_first_response_business_minutes,
       round(avg(resolution_minutes), 1) AS avg_resolution_minutes,
       round(avg(resolution_business_minutes), 1) AS avg_resolution_business_minutes,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY resolution_business_minutes)
           AS median_resolution_business_minutes,
       round(avg(waiting_minutes), 1) AS avg_waiting_minutes,
       round(avg(waiting_business_minutes), 1) AS avg_waiting_business_minutes
FROM analytics.ticket_times
GROUP BY tenant, plan, channel;

GRANT SELECT ON analytics.ticket_times, analytics.ticket_times_by_desk_plan_channel
    TO supportlog_analyst;
