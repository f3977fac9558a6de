"""The CreditAccount aggregate: a customer's prepaid support credits (R-CRD-1, R-CRD-2,
R-CRD-3, R-CRD-4, R-CRD-5, R-CRD-6, R-CRD-7, R-CRD-8, R-CRD-9).

Every balance change names its cause (purchase, add-on, ticket work entry, dispute) and
records the balance before and after, so a charge is explained from the log alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.errors import DuplicateIdError


@stable_names("aggregate.credit_account")
class CreditAccount(SupportAggregate):
    """Credits never expire and are never refunded as money (R-CRD-3)."""

    @staticmethod
    def id_for(customer: str):
        return aggregate_id("credit_account", customer)

    class Opened(SupportAggregate.Created):
        TOPIC = "credit.account_opened"

        def evolve(self, aggregate: Any) -> None:
            aggregate.balance = 0
            aggregate.held_tickets = []
            aggregate.causes = set()

    class Purchased(SupportAggregate.Event):
        TOPIC = "credit.purchased"
        purchase: str
        credits: int
        balance_before: int
        balance_after: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.balance = self.balance_after
            aggregate.causes.add(f"purchase:{self.purchase}")

    class AddonCreditsGranted(SupportAggregate.Event):
        """Free credits for an add-on bought (R-CRD-2)."""

        TOPIC = "credit.addon_granted"
        addon: str
        paid: bool
        in_package: bool
        credits: int
        rule: str
        balance_before: int
        balance_after: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.balance = self.balance_after
            aggregate.causes.add(f"addon:{self.addon}")

    class Charged(SupportAggregate.Event):
        """Credits deducted for a work entry; the decision that priced it rides along."""

        TOPIC = "credit.charged"
        charge_id: str
        ticket: str
        entry: int
        credits: int
        rule: str
        profile_version: int
        balance_before: int
        balance_after: int
        hold: dict | None

        def evolve(self, aggregate: Any) -> None:
            aggregate.balance = self.balance_after
            aggregate.causes.add(f"charge:{self.charge_id}")

    class Compensated(SupportAggregate.Event):
        """Credits given back for an upheld dispute: the charge itself stays (R-DSP-3)."""

        TOPIC = "credit.compensated"
        dispute: str
        charge_id: str
        credits: int
        balance_before: int
        balance_after: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.balance = self.balance_after
            aggregate.causes.add(f"dispute:{self.dispute}")

    class RequestHeld(SupportAggregate.Event):
        """A request accepted while the balance is negative waits for payment (R-CRD-6)."""

        TOPIC = "credit.request_held"
        ticket: str
        balance: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.held_tickets.append(self.ticket)

    class HeldRequestsReleased(SupportAggregate.Event):
        """The balance is no longer negative: held requests go to the queue (R-CRD-6)."""

        TOPIC = "credit.requests_released"
        tickets: list
        balance: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.held_tickets = []

    @classmethod
    def open_for(cls, customer: str, tenant: str, now: datetime) -> CreditAccount:
        return cls.start(cls.Opened, id=cls.id_for(customer), now=now, customer=customer,
                         tenant=tenant, ref=customer)

    def guard_new_cause(self, cause: str, what: str) -> None:
        if cause in self.causes:
            raise DuplicateIdError(f"{what} was already recorded")

    def purchase(self, purchase: str, credits: int, now: datetime) -> None:
        self.guard_new_cause(f"purchase:{purchase}", f"purchase {purchase}")
        self.record(self.Purchased, now=now, purchase=purchase, credits=credits,
                    balance_before=self.balance, balance_after=self.balance + credits)
        self.release_if_paid(now)

    def release_if_paid(self, now: datetime) -> None:
        if self.held_tickets and self.balance >= 0:
            self.record(self.HeldRequestsReleased, now=now, tickets=list(self.held_tickets),
                        balance=self.balance)
