"""`supportlog asof`: one customer's state as it stood at a past instant (R-AUD-2).

It reads only that customer's own streams (customer, credit account, ban record, each
ticket named by the customer's `request_counted` events, each subscription, each
dispute) and keeps the events whose timestamp is at or before the instant; the domain's
own `evolve`s build each aggregate from them. So the answer costs one customer's
history, not the log's, and it never consults a read model for state: the `disputes`
table serves only as an index of dispute names, next to the compensations the credit
account recorded. Events are never corrected in place (a correction is a later,
compensating event), so "as of" and "as known at" coincide: what the log held at an
instant is exactly the events up to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from domain.ban import Ban
from domain.commands.handlers import month_key
from domain.credit_account import CreditAccount
from domain.customer import Customer
from domain.desk import SupportDesk
from domain.dispute import Dispute
from domain.subscription import Subscription
from domain.ticket import OPEN_STATES, Ticket
from replay.profiles import AdoptedProfiles
from replay.streams import aggregate_of, stream

_COUNTED = ("customer.request_counted", "customer.modification_counted",
            "customer.month_rolled_over", "customer.allowance_set")


@dataclass(frozen=True)
class TicketAt:
    """A ticket at the instant: its status and where its first-response target stood."""

    ticket: str
    department: str
    status: str
    opened_at: datetime
    sla_target: str | None
    due_at: datetime | None
    first_response_at: datetime | None
    sla: str
    awaiting_payment: bool
    minutes_logged: int
    charges: int


@dataclass
class CustomerAt:
    """Everything `asof` reports for one customer."""

    customer: str
    at: datetime
    tenant: str
    registered_at: datetime
    anonymous: bool
    profile_version: int | None
    balance: int
    held_requests: list[str] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    quota: dict[str, Any] = field(default_factory=dict)
    licenses: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[TicketAt] = field(default_factory=list)
    ban: dict[str, Any] | None = None
    disputes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def sla_state(ticket: Any, at: datetime) -> str:
    """Returns where the ticket's first-response target stood at `at` (R-SLA-4, R-SLA-5):
    `none` (no target), `met`, `breached` (recorded, or answered late), `overdue` (due
    passed unanswered, breach not yet recorded), `stopped` (closed unanswered before the
    due time) or `running`."""
    if not ticket.sla:
        return "none"
    due = datetime.fromisoformat(ticket.sla["due_at"])
    if ticket.breached:
        return "breached"
    if ticket.first_response_at is not None:
        return "met" if ticket.first_response_at <= due else "breached"
    if ticket.status not in OPEN_STATES:
        return "stopped"
    return "overdue" if at >= due else "running"


def _quota(events: list[Any], month: str | None) -> dict[str, Any]:
    counted = [e for e in events if e.TOPIC in _COUNTED and e.month == month]
    quota: dict[str, Any] = {"month": month, "counted": bool(counted), "requests_used": 0,
                             "requests_limit": None, "modifications_used": 0,
                             "free_used": 0, "free_limit": None}
    for event in counted:
        if event.TOPIC == "customer.month_rolled_over":
            quota.update(requests_used=0, modifications_used=0, free_used=0,
                         free_limit=event.free_limit)
        else:
            quota.update(requests_used=event.requests_used,
                         requests_limit=event.requests_limit,
                         modifications_used=event.modifications_used,
                         free_used=event.free_used, free_limit=event.free_limit)
    return quota


def _ticket_at(desk: SupportDesk, name: str, at: datetime, held: list[str]) -> TicketAt | None:
    ticket = aggregate_of(stream(desk, Ticket.id_for(name), at))
    if ticket is None:
        return None
    return TicketAt(
        ticket=name, department=ticket.department, status=ticket.status,
        opened_at=ticket.opened_at,
        sla_target=ticket.sla["target"] if ticket.sla else None,
        due_at=datetime.fromisoformat(ticket.sla["due_at"]) if ticket.sla else None,
        first_response_at=ticket.first_response_at, sla=sla_state(ticket, at),
        awaiting_payment=name in held, minutes_logged=ticket.minutes_logged,
        charges=ticket.charges)


def _dispute_names(conn: psycopg.Connection | None, customer: str,
                   account_events: list[Any]) -> list[str]:
    names = {e.dispute for e in account_events if isinstance(e, CreditAccount.Compensated)}
    if conn is not None:
        rows = conn.execute("SELECT dispute FROM disputes WHERE customer = %s",
                            (customer,)).fetchall()
        names.update(r[0] for r in rows)
    return sorted(names)


def _dispute_at(desk: SupportDesk, name: str, at: datetime) -> dict[str, Any] | None:
    events = stream(desk, Dispute.id_for(name), at)
    dispute = aggregate_of(events)
    if dispute is None:
        return None
    resolved = next((e for e in events if isinstance(e, Dispute.Resolved)), None)
    return {"dispute": name, "charge_id": dispute.charge_id, "status": dispute.status,
            "due_at": dispute.due_at,
            "overdue": dispute.overdue or (dispute.status == "open" and at > dispute.due_at),
            "reviewer": resolved.agent if resolved else None,
            "reason": resolved.reason if resolved else None}


def customer_as_of(desk: SupportDesk, customer: str, at: datetime,
                   conn: psycopg.Connection | None = None,
                   profiles: AdoptedProfiles | None = None) -> CustomerAt | None:
    """Returns the customer's state at `at`, or None if not registered by then. `conn`
    (the read models' database) only helps find dispute names."""
    customer_events = stream(desk, Customer.id_for(customer), at)
    person = aggregate_of(customer_events)
    if person is None:
        return None
    profiles = profiles or AdoptedProfiles(desk)
    adoption = profiles.in_force(person.tenant, at)
    account_events = stream(desk, CreditAccount.id_for(customer), at)
    account = aggregate_of(account_events)
    held = list(account.held_tickets) if account else []
    state = CustomerAt(
        customer=customer, at=at, tenant=person.tenant, registered_at=person.registered_at,
        anonymous=person.anonymous, profile_version=adoption.version if adoption else None,
        # A registered customer's balance is 0 before any credit moves, as the balances
        # read model says from registration (R-QTA-1 notes: no row read as missing).
        balance=account.balance if account else 0, held_requests=held)
    state.holds = [{"charge_id": e.charge_id, **e.hold,
                    "outstanding": e.hold["reserved"] - e.hold["captured"]}
                   for e in account_events
                   if isinstance(e, CreditAccount.Charged) and e.hold]
    month = month_key(adoption.profile, at) if adoption else None
    state.quota = _quota(customer_events, month)
    state.licenses = [{"license": k, "product": v["product"], "plan": v["plan"],
                       "support_until": v["ends_at"],
                       "in_period": v["starts_at"] <= at < v["ends_at"]}
                      for k, v in person.licenses.items()]
    for name in person.subscriptions:
        sub = aggregate_of(stream(desk, Subscription.id_for(name), at))
        if sub is not None:
            state.subscriptions.append({"subscription": name, "plan": sub.plan,
                                        "status": sub.status, "ends_at": sub.ends_at,
                                        "in_force": sub.in_force(at)})
    names = [e.ticket for e in customer_events
             if isinstance(e, Customer.RequestCounted)]
    state.tickets = [t for t in (_ticket_at(desk, n, at, held) for n in names) if t]
    ban = aggregate_of(stream(desk, Ban.id_for(customer), at))
    active = ban.banned_at(at) if ban else None
    if active:
        state.ban = {"reason": active["reason"], "by_agent": active["agent"],
                     "since": active["since"], "until": active["until"]}
    state.disputes = [d for d in (_dispute_at(desk, n, at) for n in
                                  _dispute_names(conn, customer, account_events)) if d]
    return state


def customers_registered_by(conn: psycopg.Connection, at: datetime) -> list[str]:
    """Returns the customers registered at or before `at`, from the customers table."""
    rows = conn.execute("SELECT customer FROM customers WHERE registered_at <= %s "
                        "ORDER BY customer", (at,)).fetchall()
    return [r[0] for r in rows]
