"""Ban and dispute handlers (R-BAN-1, R-BAN-3, R-DSP-1, R-DSP-2, R-DSP-3).

A ban is decided by an agent for a reason the profile lists; a dispute is accepted only
from an identified customer who owns the charge, gets its review due time on the
desk's calendar, and ends upheld (a compensating event; the charge stays) or rejected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.actor import visible
from domain.ban import Ban
from domain.base import utc
from domain.commands.handlers import Handlers
from domain.credit_account import CreditAccount
from domain.dispute import Dispute
from domain.errors import (
    AnonymousNotAcceptedError,
    DuplicateIdError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotOwnerError,
)
from domain.ticket import Ticket


class BanDisputeHandlers(Handlers):
    """The ban and dispute commands of the scenario format."""

    # --- bans ----------------------------------------------------------------------

    def ban(self, a: dict, now: datetime) -> list:
        customer = self.customer(a["customer"])
        reasons = self.profile(customer).section("bans")["reasons"]
        if a["reason"] not in reasons:
            raise InvalidArgumentError(f"ban reason must be one of {', '.join(reasons)}")
        until = utc(a["until"]) if a["until"] else None
        if until is not None and until <= utc(now):
            raise InvalidArgumentError("until must be after now")
        record = self.ban_record(customer, now)
        record.record(Ban.Imposed, now=now, scope="customer", reason=a["reason"],
                      agent=a["agent"], until=until)
        return [record]

    def lift_ban(self, a: dict, now: datetime) -> list:
        customer = self.customer(a["customer"])
        record = self.desk.load(Ban, Ban.id_for(customer.customer))
        if record is None or record.banned_at(utc(now)) is None:
            raise InvalidTransitionError(f"customer {customer.customer} is not banned")
        record.record(Ban.Lifted, now=now, agent=a["agent"])
        return [record]

    # --- disputes ------------------------------------------------------------------

    def open_dispute(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        if customer.anonymous:
            raise AnonymousNotAcceptedError(
                "disputes are accepted only from identified customers (R-DSP-2)")
        ticket_name, _, n = a["charge"].rpartition("/")
        if not ticket_name or not (n.isascii() and n.isdigit()):  # not "²": int() fails
            raise InvalidArgumentError("charge must be written <ticket>/<n>")
        ticket = self.ticket(ticket_name)
        if ticket.customer != customer.customer:
            raise NotOwnerError(f"charge {a['charge']} is not on your account")
        if int(n) < 1 or int(n) > ticket.charges:
            raise InvalidArgumentError(f"ticket {ticket_name} has no charge {n}")
        if self.desk.load(Dispute, Dispute.id_for(a["dispute"])) is not None:
            raise DuplicateIdError(f"dispute {a['dispute']!r} already exists")
        charge = self.charge_of(ticket, int(n))
        profile = self.profile(customer)
        disputes = profile.section("disputes")
        days = disputes["review_business_days"]
        calendar = profile.named_calendar(disputes.get("calendar", "calendar"))
        due = calendar.due_business_days(utc(now), days)
        dispute = Dispute.start(
            Dispute.Opened, id=Dispute.id_for(a["dispute"]), now=now,
            customer=customer.customer, tenant=customer.tenant, ref=a["dispute"],
            dispute=a["dispute"],
            charge_id=a["charge"], ticket=ticket_name, credits=charge.get("credits"),
            money=charge.get("money"), due_at=utc(due), business_days=days,
            calendar_id=calendar.calendar_id, calendar_version=calendar.version)
        ticket.record(Ticket.ChargeDisputed, now=now, charge_id=a["charge"],
                      dispute=a["dispute"])
        return [dispute, ticket]

    def charge_of(self, ticket: Ticket, n: int) -> dict:
        """Returns the n-th charge of `ticket` from its stored events."""
        for event in self.desk.events.get(ticket.id):
            if isinstance(event, Ticket.WorkLogged) and event.charge and \
                    event.charge["n"] == n:
                return event.charge
        raise InvalidArgumentError(f"ticket {ticket.ticket} has no charge {n}")

    def resolve_dispute(self, a: dict, now: datetime) -> list:
        dispute = self.desk.load(Dispute, Dispute.id_for(a["dispute"]))
        if dispute is None or not visible(dispute.tenant):
            raise InvalidArgumentError(f"no dispute {a['dispute']!r}")
        dispute.guard_open()
        changed: list[Any] = [dispute]
        credits = money = None
        if a["outcome"] == "upheld":
            if dispute.credits:
                customer = self.customer(dispute.customer)
                account = self.account(customer, now)
                credits = dispute.credits
                account.record(CreditAccount.Compensated, now=now, dispute=dispute.dispute,
                               charge_id=dispute.charge_id, credits=credits,
                               balance_before=account.balance,
                               balance_after=account.balance + credits)
                account.release_if_paid(now)
                changed.append(account)
            money = dispute.money
        dispute.record(Dispute.Resolved, now=now, outcome=a["outcome"], agent=a["agent"],
                       reason=a["reason"], compensation_credits=credits, refund_money=money)
        return changed
