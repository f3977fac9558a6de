"""The Ticket aggregate: one problem of one customer in one department (R-TKT-1, R-TKT-2,
R-TKT-3, R-TKT-4, R-TKT-5, R-TKT-6, R-TKT-7, R-TKT-8, R-TKT-9, R-TKT-10, R-TKT-11), its
lifecycle (R-TKT-3), its first-response target (R-SLA-4, R-SLA-5), its measured times
(R-SLA-4) and its work log.

Guards raise before any event exists, so a rejected command writes nothing. The events
carry what was decided (the SLA target and due time, each work entry's price), so the
projections and replay only fold them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.errors import InvalidTransitionError
from domain.personal import Sealed, unprotected

OPEN_STATES = ("new", "open", "waiting_on_customer")
STATUSES = ("new", "open", "waiting_on_customer", "solved", "closed", "declined",
            "forwarded", "merged")
#: R-TKT-1: every channel a ticket may arrive on, the scenario format's vocabulary. Which
#: of them a desk and a plan offer is profile data (R-TKT-12); `profile.schema.json`
#: lists these same names.
CHANNELS = ("helpdesk", "email", "contact_form", "admin_panel", "chat", "phone")


@stable_names("aggregate.ticket")
class Ticket(SupportAggregate):
    """A support ticket."""

    @staticmethod
    def id_for(ticket: str):
        return aggregate_id("ticket", ticket)

    class Opened(SupportAggregate.Created):
        """A ticket opened, with its entitlement and first-response target (R-TKT-8, R-SLA-1).
        `measured` (R-SLA-4): seconds of calendar and of business time
        (`*_business_seconds`) this event ends, with the calendar and clock that counted
        them: `waiting_seconds` on the customer in all (0), and the clock the ticket is
        measured by. Events recorded before `measured` existed lack it. `subject`, `body`
        and `domain` are personal data, sealed with the customer's key, and `domain_ref`
        names the domain (v2, R-PRV-1); v1 held the subject and domain in plain text and
        no body."""

        TOPIC = "ticket.opened"
        class_version = 2
        PERSONAL = ("subject", "body", "domain")
        ticket: str
        department: str
        channel: str
        category: str | None
        subject: Sealed
        body: Sealed | None
        domain: Sealed | None
        domain_ref: str | None
        plan: str | None
        rank: int
        queue_order: str
        entitlement: str
        paid_work: bool
        package: str | None
        package_minutes: int
        sla: dict | None
        awaiting_payment: bool
        profile_version: int
        measured: dict | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """`subject` and `domain`, plain text in v1, become `{"enc": "none", "text":
            ...}` (null stays null); `body` (v1 had none) and `domain_ref` are null."""
            state["subject"] = unprotected(state.get("subject"))
            state["body"] = None
            state["domain"] = unprotected(state.get("domain"))
            state["domain_ref"] = None

        def evolve(self, aggregate: Any) -> None:
            for name in ("ticket", "department", "channel", "category", "subject", "body",
                         "domain", "domain_ref", "plan", "rank", "queue_order", "paid_work",
                         "package", "package_minutes", "sla"):
                setattr(aggregate, name, getattr(self, name))
            aggregate.status = "new"
            aggregate.opened_at = self.timestamp
            aggregate.last_activity_at = self.timestamp
            aggregate.last_customer_comment_at = self.timestamp
            aggregate.first_response_at = None
            aggregate.breached = False
            aggregate.solved_at = None
            aggregate.waiting_since = None
            aggregate.waiting_spans = []
            aggregate.entries = 0
            aggregate.charges = 0
            aggregate.billed_credits = 0
            aggregate.minutes_logged = 0
            aggregate.package_minutes_used = 0
            aggregate.notices = {}
            aggregate.warranty_until = None
            aggregate.merged_into = None
            aggregate.closures = 0

    class AgentReplied(SupportAggregate.Event):
        """An agent's reply; the first one stops the first-response clock (R-SLA-4). `measured`
        (R-SLA-4): seconds of calendar and of business time (`*_business_seconds`) this
        event ends, with the calendar and clock that counted them: `waiting_seconds` on the
        customer in all, and `first_response_seconds` on the first reply. Events recorded
        before `measured` existed lack it."""

        TOPIC = "ticket.agent_replied"
        agent: str
        status: str
        first_response: bool
        silent_close_at: datetime | None
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate._respond(self)
            aggregate.status = self.status
            aggregate._wait(self.timestamp, self.status == "waiting_on_customer")

    class CustomerReplied(SupportAggregate.Event):
        """The customer's reply: it ends a wait on the customer, or reopens a solved ticket
        (R-TKT-3). `measured` (R-SLA-4): seconds of calendar and of business time
        (`*_business_seconds`) this event ends, with the calendar and clock that counted
        them: `waiting_seconds` on the customer in all. Events recorded before `measured`
        existed lack it."""

        TOPIC = "ticket.customer_replied"
        status: str
        reopened: bool
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate.status = self.status
            aggregate.last_customer_comment_at = self.timestamp
            aggregate.last_activity_at = self.timestamp
            aggregate._wait(self.timestamp, False)
            if self.reopened:
                aggregate.solved_at = None

    class CustomerNotified(SupportAggregate.Event):
        """A notice the customer was given before charging more (R-CRD-5)."""

        TOPIC = "ticket.customer_notified"
        agent: str
        notice: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.notices.setdefault(self.notice, self.timestamp)
            aggregate.last_activity_at = self.timestamp

    class WorkLogged(SupportAggregate.Event):
        """A work entry and its price, decided under the recorded profile version.

        `inputs` is the WorkContext the price was computed from and `pricing` the
        ChargeDecision, so an audit re-prices the entry from the log alone (R-AUD-1).
        """

        TOPIC = "ticket.work_logged"
        entry: int
        agent: str
        minutes: int
        kind: str
        classification: str | None
        inputs: dict
        pricing: dict
        charge: dict | None

        def evolve(self, aggregate: Any) -> None:
            aggregate.entries = self.entry
            aggregate.minutes_logged += self.minutes
            aggregate.package_minutes_used += self.pricing.get("package_minutes", 0)
            aggregate.last_activity_at = self.timestamp
            if self.classification:
                aggregate.classification = self.classification
            if self.charge is not None:
                aggregate.charges = self.charge["n"]
                aggregate.billed_credits += self.charge.get("credits") or 0

    class Solved(SupportAggregate.Event):
        """Solved by an agent (R-TKT-3). `measured` (R-SLA-4): seconds of calendar and of
        business time (`*_business_seconds`) this event ends, with the calendar and clock
        that counted them: `waiting_seconds` on the customer in all, `resolution_seconds`
        from opening to this solution (measured, never a target), and
        `first_response_seconds` if it is the first reaction. Events recorded before
        `measured` existed lack it."""

        TOPIC = "ticket.solved"
        agent: str
        first_response: bool
        warranty_until: datetime | None
        auto_close_at: datetime
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate._respond(self)
            aggregate.status = "solved"
            aggregate.solved_at = self.timestamp
            aggregate._wait(self.timestamp, False)
            if self.warranty_until is not None:
                aggregate.warranty_until = self.warranty_until

    class Closed(SupportAggregate.Event):
        """Closed by a timer: solved and quiet (R-TKT-4) or silent customer (R-TKT-5).
        `measured` (R-SLA-4): seconds of calendar and of business time
        (`*_business_seconds`) this event ends, with the calendar and clock that counted
        them: `waiting_seconds` on the customer in all (a silent customer's wait ends here)."""

        TOPIC = "ticket.closed"
        reason: str
        timer_id: str
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate.status = "closed"
            aggregate.closures += 1
            aggregate._wait(self.timestamp, False)

    class Declined(SupportAggregate.Event):
        """Processing stopped, with a reason code of R-TKT-7. `measured` (R-SLA-4): seconds of
        calendar and of business time (`*_business_seconds`) this event ends, with the
        calendar and clock that counted them: `waiting_seconds` on the customer in all, and
        `first_response_seconds` if it is the first reaction."""

        TOPIC = "ticket.declined"
        agent: str
        reason: str
        first_response: bool
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate._respond(self)
            aggregate.status = "declined"
            aggregate._wait(self.timestamp, False)

    class Forwarded(SupportAggregate.Event):
        """Beyond support scope: to custom development or sales (R-TKT-9). `measured`
        (R-SLA-4): seconds of calendar and of business time (`*_business_seconds`) this
        event ends, with the calendar and clock that counted them: `waiting_seconds` on the
        customer in all, and `first_response_seconds` if it is the first reaction."""

        TOPIC = "ticket.forwarded"
        agent: str
        to: str
        estimate_hours: float | None
        first_response: bool
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate._respond(self)
            aggregate.status = "forwarded"
            aggregate._wait(self.timestamp, False)

    class Merged(SupportAggregate.Event):
        """Marked a duplicate of another ticket (R-TKT-10). `measured` (R-SLA-4): seconds of
        calendar and of business time (`*_business_seconds`) this event ends, with the
        calendar and clock that counted them: `waiting_seconds` on the customer in all."""

        TOPIC = "ticket.merged"
        of: str
        technical_fault: bool
        measured: dict | None = None

        def evolve(self, aggregate: Any) -> None:
            aggregate.status = "merged"
            aggregate.merged_into = self.of
            aggregate._wait(self.timestamp, False)

    class SlaBreached(SupportAggregate.Event):
        """The first-response due time passed without a reaction (R-SLA-5)."""

        TOPIC = "ticket.sla_breached"
        target: str
        due_at: datetime
        calendar_id: str
        calendar_version: int
        clock_mode: str
        timer_id: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.breached = True

    class ChargeDisputed(SupportAggregate.Event):
        """One of the ticket's charges is disputed: kept on the charge's own stream so
        an audit of the charge finds its disputes without scanning the log (R-AUD-1)."""

        TOPIC = "ticket.charge_disputed"
        charge_id: str
        dispute: str

    def _respond(self, event: Any) -> None:
        if event.first_response:
            self.first_response_at = event.timestamp
        self.last_activity_at = event.timestamp

    def _wait(self, at: datetime, waiting: bool) -> None:
        """Keeps the spans the ticket waited on the customer (R-SLA-4): a wait starts
        when an agent leaves the ticket waiting and lasts, through further agent replies
        that keep it waiting, until any other change of status ends it."""
        if waiting:
            self.waiting_since = self.waiting_since or at
        elif self.waiting_since is not None:
            self.waiting_spans.append((self.waiting_since, at))
            self.waiting_since = None

    # --- guards (R-TKT-3) ------------------------------------------------------------

    def guard_open(self, action: str) -> None:
        """Raises unless the ticket is new, open or waiting on the customer."""
        if self.status not in OPEN_STATES:
            raise InvalidTransitionError(
                f"ticket {self.ticket} is {self.status}: it cannot be {action}")

    @property
    def awaiting_first_response(self) -> bool:
        return self.first_response_at is None and self.status in OPEN_STATES
