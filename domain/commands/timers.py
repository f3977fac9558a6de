"""Timer handlers: what happens when a due time passes (R-SLA-5, R-TKT-4, R-TKT-5, R-QTA-3,
R-BAN-3, R-SUB-5, R-DSP-1).

A timer is identified by its id; firing re-checks the aggregate's state, so a timer
fired twice (two schedulers, a restart after a crash) records its event once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.ban import Ban
from domain.base import utc
from domain.commands.handlers import month_key
from domain.customer import Customer
from domain.dispute import Dispute
from domain.errors import InvalidArgumentError
from domain.subscription import Subscription
from domain.ticket import Ticket

TIMER_KINDS = ("sla_breach", "auto_close_solved", "auto_close_silent", "ban_expiry",
               "support_period_end", "subscription_expiry", "dispute_overdue",
               "month_rollover")


def later(due: datetime, aggregate: Any) -> datetime:
    """A timer fired late records at the aggregate's last change if that came after the
    due time (history never runs backwards); the due time itself is in the event."""
    return max(due, aggregate.modified_on)


def record_breach_if_due(ticket: Ticket, now: datetime, timer_id: str) -> bool:
    """Records the first-response breach if its due time has passed without a reaction
    (R-SLA-5), with the target, due time, calendar version and clock mode; returns
    whether it did."""
    if not ticket.sla or ticket.breached or not ticket.awaiting_first_response:
        return False
    due = datetime.fromisoformat(ticket.sla["due_at"])
    if now < due:
        return False
    ticket.record(Ticket.SlaBreached, now=later(due, ticket), target=ticket.sla["target"],
                  due_at=due, calendar_id=ticket.sla["calendar_id"],
                  calendar_version=ticket.sla["calendar_version"],
                  clock_mode=ticket.sla["clock_mode"], timer_id=timer_id)
    return True


class TimerHandlers:
    """Mixed into the desk's handlers: `fire(kind, subject, timer_id, now)`."""

    def fire(self: Any, kind: str, subject: str, timer_id: str, now: datetime) -> list:
        """Returns the aggregates the timer changed (empty if it had nothing to do)."""
        if kind not in TIMER_KINDS:
            raise InvalidArgumentError(f"unknown timer kind {kind!r}")
        return getattr(self, f"_timer_{kind}")(subject, timer_id, utc(now))

    def _timer_sla_breach(self: Any, subject: str, timer_id: str, now: datetime) -> list:
        ticket = self.desk.load(Ticket, Ticket.id_for(subject))
        if ticket is None or not record_breach_if_due(ticket, now, timer_id):
            return []
        return [ticket]

    def _timer_auto_close_solved(self: Any, subject: str, timer_id: str,
                                 now: datetime) -> list:
        ticket = self.desk.load(Ticket, Ticket.id_for(subject))
        if ticket is None or ticket.status != "solved":
            return []
        at = later(now, ticket)
        ticket.record(Ticket.Closed, now=at, reason="solved_inactive", timer_id=timer_id,
                      measured=self.measured(ticket, at))
        return [ticket]

    def _timer_auto_close_silent(self: Any, subject: str, timer_id: str,
                                 now: datetime) -> list:
        ticket = self.desk.load(Ticket, Ticket.id_for(subject))
        if ticket is None or ticket.status != "waiting_on_customer":
            return []
        reason = self.profile(ticket).section("tickets")["silent_close_reason"]  # R-TKT-5
        at = later(now, ticket)
        ticket.record(Ticket.Closed, now=at, reason=reason, timer_id=timer_id,
                      measured=self.measured(ticket, at))  # the silent wait ends (R-SLA-4)
        return [ticket]

    def _timer_ban_expiry(self: Any, subject: str, timer_id: str, now: datetime) -> list:
        record = self.desk.load(Ban, Ban.id_for(subject))
        if record is None or record.active is None or record.active["until"] is None \
                or record.active["until"] > now:
            return []
        record.record(Ban.Expired, now=later(now, record), timer_id=timer_id)
        return [record]

    def _timer_support_period_end(self: Any, subject: str, timer_id: str,
                                  now: datetime) -> list:
        customer_name, _, license_id = subject.partition("/")
        customer = self.desk.load(Customer, Customer.id_for(customer_name))
        lic = customer.licenses.get(license_id) if customer else None
        if lic is None or lic["ended"] or lic["ends_at"] > now:
            return []
        at = later(now, customer)
        customer.record(Customer.SupportPeriodEnded, now=at, license=license_id,
                        timer_id=timer_id)
        self.set_allowance(customer, self.profile(customer), at, f"period_ended:{license_id}")
        return [customer]

    def _timer_subscription_expiry(self: Any, subject: str, timer_id: str,
                                   now: datetime) -> list:
        sub = self.desk.load(Subscription, Subscription.id_for(subject))
        if sub is None or sub.status == "expired" or sub.ends_at > now:
            return []
        sub.record(Subscription.Expired, now=later(now, sub), timer_id=timer_id)
        customer = self.desk.load(Customer, Customer.id_for(sub.customer))
        if customer is None:
            return [sub]
        at = later(now, customer)
        self.set_allowance(customer, self.profile(customer), at,
                           f"expired:{sub.subscription}", known={sub.subscription: sub})
        return [sub, customer]

    def _timer_dispute_overdue(self: Any, subject: str, timer_id: str,
                               now: datetime) -> list:
        dispute = self.desk.load(Dispute, Dispute.id_for(subject))
        if dispute is None or dispute.status != "open" or dispute.overdue \
                or dispute.due_at > now:
            return []
        dispute.record(Dispute.ReviewOverdue, now=later(now, dispute), due_at=dispute.due_at,
                       timer_id=timer_id)
        return [dispute]

    def _timer_month_rollover(self: Any, subject: str, timer_id: str,
                              now: datetime) -> list:
        customer = self.desk.load(Customer, Customer.id_for(subject))
        if customer is None:
            return []
        profile = self.profile(customer)
        month = month_key(profile, now)
        if getattr(customer, "rolled_over_to", None) == month or month in customer.usage:
            return []
        plan = self.entitlement(customer, profile, now)
        customer.record(Customer.MonthRolledOver, now=later(now, customer), month=month,
                        requests_limit=plan.get("requests_per_month"),
                        free_limit=plan.get("free_modifications", 0), timer_id=timer_id)
        return [customer]
