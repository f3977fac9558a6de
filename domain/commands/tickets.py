"""Ticket handlers: opening, replies, work and charges, solving, declining, forwarding
and duplicates (R-TKT, R-SLA, R-CRD, R-QTA, R-PAY, R-BAN-2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.actor import visible
from domain.ban import Ban
from domain.base import utc
from domain.commands.handlers import Handlers, month_key, next_month_start
from domain.commands.timers import record_breach_if_due
from domain.credit_account import CreditAccount
from domain.customer import Customer
from domain.errors import (
    BannedError,
    ChannelNotOfferedError,
    DepartmentNotAllowedError,
    DuplicateIdError,
    InsufficientCreditsError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotOwnerError,
    RequestLimitReachedError,
    UnknownTicketError,
    WrittenRequestRequiredError,
)
from domain.policy.pricing import WorkContext, price_work
from domain.policy.sla import measure, measure_opened, sla_target
from domain.ticket import CHANNELS, Ticket


class TicketHandlers(Handlers):
    """The commands on tickets of the scenario format."""

    # --- tickets -------------------------------------------------------------------

    def open_ticket(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        profile = self.profile(customer)
        if self.desk.load(Ticket, Ticket.id_for(a["ticket"])) is not None:
            raise DuplicateIdError(f"ticket {a['ticket']!r} already exists")
        if a["department"] not in profile.section("departments"):
            raise InvalidArgumentError(
                f"department must be one of {', '.join(profile.section('departments'))}")
        if a["channel"] not in CHANNELS:
            raise InvalidArgumentError(f"channel must be one of {', '.join(CHANNELS)}")
        offered = profile.section("channels")
        if a["channel"] not in offered:  # R-TKT-12: the desk's channels, by its profile
            raise ChannelNotOfferedError(
                f"{profile.data.get('name') or profile.id} takes no tickets by "
                f"{a['channel']}; please use {', '.join(offered)}")
        categories = profile.section("categories")
        if a["category"] is not None and categories and a["category"] not in categories:
            raise InvalidArgumentError(f"category must be one of {', '.join(categories)}")
        ban = self.desk.load(Ban, Ban.id_for(customer.customer))
        active = ban.banned_at(utc(now)) if ban else None
        if active:
            until = active["until"]
            raise BannedError("you are banned from support ("
                              f"{active['reason']}) " + (f"until {until.isoformat()}"
                                                          if until else "indefinitely"))
        tickets_cfg = profile.section("tickets")
        if tickets_cfg.get("phone_written_request_required") and a["channel"] == "phone" and (
                a["department"] != "consultation"
                or a["category"] in tickets_cfg.get("account_changing_categories", [])):
            raise WrittenRequestRequiredError(
                "by phone we give consultations only; send this request in writing "
                "(helpdesk or email)")
        if a["domain"]:
            owner = self.domain_owner(a["domain"])
            if owner is not None and owner.customer != customer.customer:
                raise NotOwnerError(f"domain {a['domain']} belongs to another account")
        at = utc(now)
        domain_ref = self.domain_ref(a["domain"])
        ent = self.entitlement(customer, profile, at, domain_ref)
        if a["department"] not in ent["departments"]:
            raise DepartmentNotAllowedError(
                f"the {a['department']} department needs a licence with an active support "
                f"period or a plan that includes it; yours allows "
                f"{', '.join(ent['departments']) or 'none'}")
        channels = ent.get("channels", offered)
        if a["channel"] not in channels:  # R-TKT-12: a plan may offer fewer channels
            plan = f"the {ent['plan']} plan" if ent["plan"] else "an account without a plan"
            raise ChannelNotOfferedError(
                f"{a['channel']} is not offered on {plan}; please use {', '.join(channels)}")
        month = month_key(profile, at)
        used = customer.usage_for(month)["requests_used"]
        limit = ent.get("requests_per_month")
        if limit is not None and used >= limit:
            raise RequestLimitReachedError(
                f"the {ent['plan']} plan allows {limit} requests a month; the counter "
                f"resets on {next_month_start(profile, at).date().isoformat()}")
        changed: list[Any] = [customer]
        package, package_minutes = None, 0
        if a["department"] == "technical":
            for purchase, pkg in customer.packages.items():
                if pkg["ticket"] is None:
                    package, package_minutes = purchase, pkg["max_minutes"]
                    customer.record(Customer.PackageAssigned, now=now, purchase=purchase,
                                    ticket=a["ticket"])
                    break
        awaiting_payment = False
        if profile.section("credits").get("enabled") and a["department"] == "technical" \
                and not ent["covers_work"] and package is None:
            account = self.desk.load(CreditAccount, CreditAccount.id_for(customer.customer))
            if account is not None and account.balance < 0:
                awaiting_payment = True
                account.record(CreditAccount.RequestHeld, now=now, ticket=a["ticket"],
                               balance=account.balance)
                changed.append(account)
        sla = sla_target(profile, plan=ent["plan"], channel=a["channel"],
                         category=a["category"], department=a["department"], opened_at=at)
        ticket = Ticket.start(
            Ticket.Opened, id=Ticket.id_for(a["ticket"]), now=now, customer=customer.customer,
            tenant=customer.tenant, ref=a["ticket"], ticket=a["ticket"], department=a["department"],
            channel=a["channel"], category=a["category"],
            subject=self.seal(customer.customer, Ticket.Opened.TOPIC, "subject", a["subject"]),
            body=self.seal(customer.customer, Ticket.Opened.TOPIC, "body", a["body"]),
            domain=self.seal(customer.customer, Ticket.Opened.TOPIC, "domain", a["domain"]),
            domain_ref=domain_ref, plan=ent["plan"], rank=ent["rank"], entitlement=ent["source"],
            queue_order=tickets_cfg["queue_order"],
            paid_work=ent["paid_work"], package=package, package_minutes=package_minutes,
            sla=sla, awaiting_payment=awaiting_payment, profile_version=profile.version,
            measured=measure_opened(profile))
        usage = customer.usage_for(month)
        customer.record(Customer.RequestCounted, now=now, ticket=a["ticket"], month=month,
                        requests_used=used + 1, requests_limit=limit,
                        modifications_used=usage["modifications_used"],
                        free_used=usage["free_used"],
                        free_limit=ent.get("free_modifications", 0),
                        rollover_at=utc(next_month_start(profile, at)))
        return [ticket, *changed]

    def agent_reply(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        ticket.guard_open("answered")
        status = "waiting_on_customer" if a["waiting_on_customer"] else "open"
        silent = None
        if status == "waiting_on_customer":
            days = self.profile(ticket).section("tickets")["auto_close_silent_days"]
            silent = utc(now) + timedelta(days=days)
        first = self._first(ticket, now)
        ticket.record(Ticket.AgentReplied, now=now, agent=a["agent"], status=status,
                      first_response=first, silent_close_at=silent,
                      measured=self.measured(ticket, now, first_response=first,
                                             ends_wait=status != "waiting_on_customer"))
        return [ticket]

    def customer_reply(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        profile = self.profile(ticket)
        reopened = False
        if ticket.status in ("solved", "closed"):
            window = timedelta(days=profile.section("tickets")["reopen_window_days"])
            since = ticket.solved_at or ticket.last_activity_at
            if utc(now) - since > window:
                raise InvalidTransitionError(
                    f"ticket {ticket.ticket} was {ticket.status} more than "
                    f"{window.days} days ago; please open a new ticket")
            status, reopened = "open", True
        elif ticket.status in ("declined", "forwarded", "merged"):
            raise InvalidTransitionError(
                f"ticket {ticket.ticket} is {ticket.status}; please open a new ticket")
        elif ticket.status == "new":
            status = "new"
        else:
            status = "open"
        ticket.record(Ticket.CustomerReplied, now=now, status=status, reopened=reopened,
                      measured=self.measured(ticket, now))
        return [ticket]

    def notify_customer(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        names = self.profile(ticket).notice_names()
        if a["notice"] not in names:  # R-CRD-5: the desk's notices, by their names
            raise InvalidArgumentError(f"notice must be one of {', '.join(names) or 'none'}")
        if ticket.status == "merged":
            raise InvalidTransitionError(f"ticket {ticket.ticket} is merged")
        ticket.record(Ticket.CustomerNotified, now=now, agent=a["agent"], notice=a["notice"])
        return [ticket]

    def log_work(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        if ticket.status == "merged":
            raise InvalidTransitionError(
                f"ticket {ticket.ticket} was merged into {ticket.merged_into}; log work there")
        customer = self.customer(ticket.customer)
        profile = self.profile(ticket)
        at = utc(now)
        ent = self.entitlement(customer, profile, ticket.opened_at,
                               self.ref_of(ticket.domain, ticket.domain_ref))
        month = month_key(profile, at)
        usage = customer.usage_for(month)
        quota_plan = self.entitlement(customer, profile, at)
        free_limit = quota_plan.get("free_modifications", 0)
        work = WorkContext(
            kind=a["kind"], minutes=a["minutes"],
            classification=a["classification"] or getattr(ticket, "classification", None),
            plan=ent["plan"], plan_covers_work=ent["covers_work"] and not ticket.paid_work,
            free_modifications=free_limit, free_used_this_month=usage["free_used"],
            paid_work=ticket.paid_work,
            warranty_active=ticket.warranty_until is not None and at <= ticket.warranty_until,
            package_minutes_left=max(0, ticket.package_minutes - ticket.package_minutes_used),
            ticket_billed_credits=ticket.billed_credits,
            # R-CRD-5 thresholds count the ticket's credit-priced minutes only.
            ticket_minutes_before=ticket.minutes_logged - ticket.package_minutes_used,
            notices=tuple(sorted(ticket.notices)))
        decision = price_work(profile, work)
        changed: list[Any] = [ticket]
        entry = ticket.entries + 1
        charge = None
        if decision.charged:
            n = ticket.charges + 1
            charge = {"charge_id": f"{ticket.ticket}/{n}", "n": n, "credits": decision.credits,
                      "money": decision.money, "rule": decision.rule,
                      "profile_id": profile.id, "profile_version": profile.version}
        if decision.credits:
            account = self.account(customer, now)
            if decision.requires_balance and account.balance < decision.credits:
                raise InsufficientCreditsError(
                    f"this modification needs {decision.credits} credits and the balance is "
                    f"{account.balance}; please top up first (R-CRD-7)")
            hold = ({"reserved": decision.credits, "captured": decision.credits}
                    if decision.requires_balance else None)
            account.record(CreditAccount.Charged, now=now, charge_id=charge["charge_id"],
                           ticket=ticket.ticket, entry=entry, credits=decision.credits,
                           rule=decision.rule, profile_version=profile.version,
                           balance_before=account.balance,
                           balance_after=account.balance - decision.credits, hold=hold)
            charge["balance_before"] = account.balance + decision.credits
            charge["balance_after"] = account.balance
            changed.append(account)
        ticket.record(Ticket.WorkLogged, now=now, entry=entry, agent=a["agent"],
                      minutes=a["minutes"], kind=a["kind"],
                      classification=a["classification"], inputs=work.to_dict(),
                      pricing=decision.to_dict(),
                      charge=charge)
        if decision.modification:
            free_used = usage["free_used"] + (1 if decision.free_modification else 0)
            customer.record(Customer.ModificationCounted, now=now, ticket=ticket.ticket,
                            entry=entry, month=month, free=decision.free_modification,
                            requests_used=usage["requests_used"],
                            requests_limit=quota_plan.get("requests_per_month"),
                            modifications_used=usage["modifications_used"] + 1,
                            free_used=free_used, free_limit=free_limit,
                            rollover_at=utc(next_month_start(profile, at)))
            changed.append(customer)
        return changed

    def _first(self, ticket: Ticket, now: datetime) -> bool:
        """True if this is the ticket's first reaction. A first reaction after the due
        time records the breach first (R-SLA-5), so a breach never depends on when a
        scheduler happened to look."""
        first = ticket.first_response_at is None
        if first:
            record_breach_if_due(ticket, utc(now), timer_id=f"sla:{ticket.ticket}")
        return first

    def measured(self, ticket: Ticket, now: datetime, **ends: bool) -> dict:
        """The R-SLA-4 times an event of `ticket` at `now` ends, measured on the desk's
        calendar (`domain.policy.sla.measure`)."""
        return measure(self.profile(ticket), ticket, now, **ends)

    def solve_ticket(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        ticket.guard_open("solved")
        profile = self.profile(ticket)
        warranty = None
        if ticket.charges and ticket.paid_work:
            warranty = utc(now) + timedelta(days=profile.section("pricing")["warranty_days"])
        days = profile.section("tickets")["auto_close_solved_days"]
        first = self._first(ticket, now)
        ticket.record(Ticket.Solved, now=now, agent=a["agent"], first_response=first,
                      warranty_until=warranty, auto_close_at=utc(now) + timedelta(days=days),
                      measured=self.measured(ticket, now, first_response=first, solved=True))
        return [ticket]

    def decline_ticket(self, a: dict, now: datetime) -> list:
        """Stops processing for one of the desk's reasons (R-TKT-7), among them a ticket
        holding several unrelated problems (`multiple_problems`, R-TKT-2)."""
        ticket = self.ticket(a["ticket"])
        reasons = self.profile(ticket).section("tickets")["decline_reasons"]
        if a["reason"] not in reasons:
            raise InvalidArgumentError(f"reason must be one of {', '.join(reasons)}")
        ticket.guard_open("declined")
        first = self._first(ticket, now)
        ticket.record(Ticket.Declined, now=now, agent=a["agent"], reason=a["reason"],
                      first_response=first,
                      measured=self.measured(ticket, now, first_response=first))
        return [ticket]

    def forward_ticket(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        ticket.guard_open("forwarded")
        first = self._first(ticket, now)
        ticket.record(Ticket.Forwarded, now=now, agent=a["agent"], to=a["to"],
                      estimate_hours=a["estimate_hours"], first_response=first,
                      measured=self.measured(ticket, now, first_response=first))
        return [ticket]

    def mark_duplicate(self, a: dict, now: datetime) -> list:
        ticket = self.ticket(a["ticket"])
        if a["of"] == a["ticket"]:
            raise InvalidArgumentError("a ticket cannot duplicate itself")
        original = self.desk.load(Ticket, Ticket.id_for(a["of"]))
        if original is None or not visible(original.tenant):
            raise UnknownTicketError(f"no ticket {a['of']!r}")
        if original.customer != ticket.customer:
            raise NotOwnerError("a ticket can only duplicate a ticket of the same customer")
        if original.status == "merged":
            raise InvalidTransitionError(f"ticket {a['of']} is itself merged")
        ticket.guard_open("merged")
        ticket.record(Ticket.Merged, now=now, of=a["of"],
                      technical_fault=bool(a["technical_fault"]),
                      measured=self.measured(ticket, now))
        changed: list[Any] = [ticket]
        if not a["technical_fault"]:
            customer = self.customer(ticket.customer)
            bans = self.profile(ticket).section("bans")
            record = self.ban_record(customer, now)
            record.record(Ban.DuplicateNoted, now=now, ticket=ticket.ticket,
                          opened_at=ticket.opened_at)
            window = timedelta(hours=bans["spam_window_hours"])
            count = record.duplicates_within(ticket.opened_at, window)
            if count >= bans["spam_duplicates"]:
                record.record(Ban.SpamSuspected, now=now, duplicates=count,
                              window_hours=bans["spam_window_hours"])
            changed.append(record)
        return changed
