"""Reading the read models: what the API shows of a ticket, an account, charges,
disputes and the queue, one function per read, each kept to one desk.

Every query names the desk (`tenant`) and finds only that desk's rows, so another
desk's ticket or customer is simply not found (R-ACL-2); whether a customer principal
may see a row is the caller's to decide from the row's `customer`. Rows come back as
JSON-ready dicts (instants as ISO 8601 text). Plain SQL on the tables the folds write;
nothing here writes, and no fold registers here (so a rebuild ignores this module).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg


def _row(cursor: psycopg.Cursor) -> dict[str, Any] | None:
    row = cursor.fetchone()
    if row is None:
        return None
    names = [c.name for c in cursor.description or ()]
    return {n: _json(v) for n, v in zip(names, row, strict=True)}


def _rows(cursor: psycopg.Cursor) -> list[dict[str, Any]]:
    names = [c.name for c in cursor.description or ()]
    return [{n: _json(v) for n, v in zip(names, row, strict=True)} for row in cursor]


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def ticket(conn: psycopg.Connection, tenant: str, name: str) -> dict[str, Any] | None:
    """The ticket: status, first-response due time and breach, and its work log with
    each entry's charge."""
    found = _row(conn.execute(
        "SELECT ticket, customer, department, channel, category, status, plan, opened_at, "
        "first_response_due, first_response_at, sla_target, sla_breached, "
        "awaiting_payment, last_customer_comment_at, updated_at "
        "FROM tickets WHERE ticket = %s AND tenant = %s", (name, tenant)))
    if found is None:
        return None
    found["work_log"] = _rows(conn.execute(
        "SELECT entry, agent, minutes, kind, classification, rule, billable_minutes, "
        "unbilled_minutes, charge_id, credits, money, at FROM work_log "
        "WHERE ticket = %s AND tenant = %s ORDER BY entry", (name, tenant)))
    return found


def customer(conn: psycopg.Connection, tenant: str, name: str) -> dict[str, Any] | None:
    """The customer as registered on the desk (None: not on this desk)."""
    return _row(conn.execute(
        "SELECT customer, anonymous, registered_at FROM customers "
        "WHERE customer = %s AND tenant = %s", (name, tenant)))


def customer_account(conn: psycopg.Connection, tenant: str,
                     name: str) -> dict[str, Any] | None:
    """The account: balance, holds, this month's quota counters, the ban, licences and
    subscriptions. The name, e-mail and domains are as the read models hold them:
    sealed values (R-PRV-1), which the reader reveals to whom may see them."""
    found = customer(conn, tenant, name)
    if found is None:
        return None
    found.update(_row(conn.execute(
        "SELECT name, email, erased_at FROM customers WHERE customer = %s", (name,))) or {})
    balance = conn.execute("SELECT credits FROM balances WHERE customer = %s",
                           (name,)).fetchone()
    found["balance"] = balance[0] if balance else None
    found["holds"] = _rows(conn.execute(
        "SELECT charge_id, ticket, rule, reserved, captured, released, status, at "
        "FROM holds WHERE customer = %s ORDER BY at, charge_id", (name,)))
    found["quota"] = _row(conn.execute(
        "SELECT month, requests_used, requests_limit, modifications_used, free_used, "
        "free_limit FROM quotas WHERE customer = %s", (name,)))
    found["ban"] = _row(conn.execute(
        "SELECT banned, scope, reason, since, until, by_agent FROM bans "
        "WHERE customer = %s", (name,)))
    found["licenses"] = _rows(conn.execute(
        "SELECT license, product, plan, domain, period_starts_at, period_ends_at, "
        "period_ended FROM licenses WHERE customer = %s ORDER BY bought_at, license",
        (name,)))
    found["subscriptions"] = _rows(conn.execute(
        "SELECT subscription, plan, term, domain, starts_at, ends_at, status "
        "FROM subscriptions WHERE customer = %s ORDER BY starts_at, subscription", (name,)))
    return found


def charges(conn: psycopg.Connection, tenant: str, customer: str) -> list[dict[str, Any]]:
    """Every charge the customer was billed, in order (as the scenario check reads them),
    with the disputes opened about each."""
    rows = _rows(conn.execute(
        "SELECT ch.charge_id, ch.ticket, ch.n, ch.credits, ch.money, ch.rule, ch.profile_id, "
        "ch.profile_version, ch.at FROM charges ch JOIN customers c USING (customer) "
        "WHERE ch.customer = %s AND c.tenant = %s ORDER BY ch.at, ch.ticket, ch.n",
        (customer, tenant)))
    disputed: dict[str, list[dict[str, Any]]] = {}
    for d in disputes(conn, tenant, customer):
        disputed.setdefault(d["charge_id"], []).append(
            {"dispute": d["dispute"], "status": d["status"]})
    for row in rows:
        row["disputes"] = disputed.get(row["charge_id"], [])
    return rows


def charge(conn: psycopg.Connection, tenant: str, charge_id: str) -> dict[str, Any] | None:
    """One charge as the read model holds it, with its customer."""
    return _row(conn.execute(
        "SELECT ch.charge_id, ch.customer, ch.ticket, ch.n, ch.credits, ch.money, ch.rule, "
        "ch.profile_id, ch.profile_version, ch.at FROM charges ch "
        "JOIN customers c USING (customer) WHERE ch.charge_id = %s AND c.tenant = %s",
        (charge_id, tenant)))


_DISPUTE = ("SELECT d.dispute, d.customer, d.charge_id, d.status, d.due_at, d.overdue, "
            "d.agent, d.reason, d.opened_at FROM disputes d JOIN customers c USING "
            "(customer) WHERE c.tenant = %s ")


def disputes(conn: psycopg.Connection, tenant: str, customer: str) -> list[dict[str, Any]]:
    """The customer's disputes, oldest first."""
    return _rows(conn.execute(_DISPUTE + "AND d.customer = %s ORDER BY d.opened_at, d.dispute",
                              (tenant, customer)))


def dispute(conn: psycopg.Connection, tenant: str, name: str) -> dict[str, Any] | None:
    """One dispute: its charge, status, review due time and outcome."""
    return _row(conn.execute(_DISPUTE + "AND d.dispute = %s", (tenant, name)))


def queue(conn: psycopg.Connection, tenant: str, department: str, limit: int,
          after_position: int = 0) -> list[dict[str, Any]]:
    """Tickets of one department awaiting an agent, in serving order (R-TKT-6), from
    the place after `after_position` (a cursor), at most `limit`."""
    return _rows(conn.execute(
        "SELECT position, ticket, customer, rank, status, opened_at, "
        "last_customer_comment_at FROM service_queue WHERE tenant = %s AND department = %s "
        "AND position > %s ORDER BY position LIMIT %s",
        (tenant, department, after_position, limit)))


def queue_board(conn: psycopg.Connection, tenant: str, department: str,
                limit: int) -> list[dict[str, Any]]:
    """The department's queue in serving order (R-TKT-6), each ticket with its
    first-response due time and whether it breached (the console's board)."""
    return _rows(conn.execute(
        "SELECT q.position, q.ticket, q.customer, q.rank, q.status, q.opened_at, "
        "q.last_customer_comment_at, t.plan, t.first_response_due, t.sla_breached "
        "FROM service_queue q JOIN tickets t USING (ticket) WHERE q.tenant = %s "
        "AND q.department = %s ORDER BY q.position LIMIT %s", (tenant, department, limit)))


def ledger(conn: psycopg.Connection, tenant: str, customer: str) -> list[dict[str, Any]]:
    """Every change of the customer's balance, oldest first, each with its cause
    (R-CRD-9): `cause_type` (purchase, addon, charge, dispute, ...) and `cause`."""
    return _rows(conn.execute(
        "SELECT l.at, l.delta, l.balance_after, l.cause_type, l.cause FROM ledger l "
        "JOIN customers c USING (customer) WHERE l.customer = %s AND c.tenant = %s "
        "ORDER BY l.at, l.event_id", (customer, tenant)))


def desk_disputes(conn: psycopg.Connection, tenant: str, limit: int) -> list[dict[str, Any]]:
    """The desk's disputes, open ones first, each by its review due time (R-DSP-1)."""
    return _rows(conn.execute(
        _DISPUTE + "ORDER BY d.status <> 'open', d.due_at NULLS LAST, d.dispute LIMIT %s",
        (tenant, limit)))


def timers_due(conn: psycopg.Connection, tenant: str, until: datetime,
               limit: int) -> list[dict[str, Any]]:
    """The desk's pending timers due by `until`, soonest first: those whose subject is
    one of the desk's tickets, customers or disputes."""
    return _rows(conn.execute(
        "SELECT m.timer_id, m.kind, m.subject, m.due_at FROM timers m WHERE m.due_at <= %s "
        "AND (EXISTS (SELECT FROM tickets t WHERE t.ticket = m.subject AND t.tenant = %s) "
        "OR EXISTS (SELECT FROM customers c WHERE c.customer = "
        "split_part(m.subject, '/', 1) AND c.tenant = %s) "
        "OR EXISTS (SELECT FROM disputes d JOIN customers c USING (customer) "
        "WHERE d.dispute = m.subject AND c.tenant = %s)) ORDER BY m.due_at, m.timer_id "
        "LIMIT %s", (until, tenant, tenant, tenant, limit)))


def breaches_by_week(conn: psycopg.Connection, tenant: str) -> list[dict[str, Any]]:
    """SLA breaches of the desk per ISO week (of the due time) and plan (R-SLA-5)."""
    return _rows(conn.execute(
        "SELECT to_char(date_trunc('week', b.due_at), 'IYYY-\"W\"IW') AS week, "
        "coalesce(t.plan, 'no plan') AS plan, count(*) AS breaches "
        "FROM sla_breaches b LEFT JOIN tickets t USING (ticket) WHERE b.tenant = %s "
        "GROUP BY 1, 2 ORDER BY 1, 2", (tenant,)))
