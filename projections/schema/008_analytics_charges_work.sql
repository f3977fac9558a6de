-- Analyst views of what was billed and what was worked, row by row: every charge
-- (credits or money), every work-log entry, every dispute and every ticket. The views
-- of 004 and 005 answer monthly totals; these let an analyst cut by week, customer,
-- agent, reviewer or currency without a grant on the tables under them (docs/analytics.md
-- asks and answers the questions with them). New views only: earlier files keep their
-- meaning, and every existing view keeps its columns.
--
-- Weeks (ISO, `2026-W13`) and months (`2026-03`) are cut in the desk's own timezone,
-- as `analytics.credits_monthly` cuts its months. Money is a numeric amount and an ISO
-- currency, never a float: `charges.money` is written "500 RUB" by the domain.

-- One row per charge (R-CRD-4, R-CRD-5, R-PAY-1, R-QTA-2, R-QTA-4): credits or money, the rule and
-- the profile version that priced it, and whether it was disputed and compensated (an
-- upheld dispute gives the credits back or refunds the money, R-DSP-3; the charge
-- itself stays).
CREATE OR REPLACE VIEW analytics.charges AS
SELECT c.tenant, ch.customer, ch.ticket, ch.charge_id, ch.n, ch.at,
       to_char(ch.at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'YYYY-MM') AS month,
       to_char(ch.at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'IYYY-"W"IW') AS week,
       ch.credits,
       split_part(ch.money, ' ', 1)::numeric AS money_amount,
       nullif(split_part(ch.money, ' ', 2), '') AS currency,
       ch.rule, ch.profile_version,
       EXISTS (SELECT FROM disputes x WHERE x.charge_id = ch.charge_id) AS disputed,
       EXISTS (SELECT FROM disputes x WHERE x.charge_id = ch.charge_id
               AND x.status = 'upheld') AS compensated
FROM charges ch
LEFT JOIN customers c ON c.customer = ch.customer
LEFT JOIN analytics.desks d ON d.tenant = c.tenant;

-- One row per work-log entry (R-AUD-1), free work included: who worked, how long, on
-- what, the minutes billed and left unbilled (R-CRD-5, quotas, warranty, packages),
-- the rule that priced it and the charge it made, if any.
CREATE OR REPLACE VIEW analytics.work_entries AS
SELECT w.tenant, w.customer, w.ticket, w.entry, w.agent, w.at,
       to_char(w.at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'YYYY-MM') AS month,
       to_char(w.at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'IYYY-"W"IW') AS week,
       w.minutes, w.kind, w.classification, w.rule,
       w.billable_minutes AS billed_minutes, w.unbilled_minutes, w.package_minutes,
       w.modification, w.free_modification, w.charge_id
FROM work_log w
LEFT JOIN analytics.desks d ON d.tenant = w.tenant;

-- Every dispute, open or resolved (R-DSP-1, R-DSP-2, R-DSP-3): the charge it contests, its review due
-- time, whether the review was overdue, and who resolved it with which reason (both
-- empty while it is open).
CREATE OR REPLACE VIEW analytics.disputes AS
SELECT c.tenant, x.dispute, x.customer, x.charge_id, x.status, x.opened_at, x.due_at,
       x.overdue, x.agent AS reviewer, x.reason
FROM disputes x
LEFT JOIN customers c ON c.customer = x.customer;

-- One row per ticket as it stands now: its status and whether it is held until the
-- customer pays (R-CRD-6, R-CRD-7: `awaiting_payment`, kept out of the live queue meanwhile).
CREATE OR REPLACE VIEW analytics.tickets AS
SELECT t.tenant, t.ticket, t.customer, coalesce(t.plan, '(none)') AS plan, t.department,
       t.channel, t.category, t.status, t.awaiting_payment, t.sla_breached, t.opened_at,
       to_char(t.opened_at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'YYYY-MM') AS month,
       to_char(t.opened_at AT TIME ZONE coalesce(d.timezone, 'UTC'), 'IYYY-"W"IW') AS week,
       t.updated_at
FROM tickets t
LEFT JOIN analytics.desks d ON d.tenant = t.tenant;

GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO supportlog_analyst;
