"""The Customer aggregate: identity, anonymity, licences and their support periods,
the subscriptions and packages they hold, and the monthly usage counters (R-QTA).

It records decisions the command handlers made with the profile; it answers questions
the rules ask (which entitlements are in force at an instant, this month's usage).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.personal import Sealed, unprotected, upcast_domain_v1_v2


@stable_names("aggregate.customer")
class Customer(SupportAggregate):
    """A registered customer of one desk."""

    @staticmethod
    def id_for(customer: str):
        return aggregate_id("customer", customer)

    class Registered(SupportAggregate.Created):
        """A customer registered. `email` and `name` are personal data, sealed with the
        customer's key (v2, R-PRV-1); in v1 they were plain text."""

        TOPIC = "customer.registered"
        class_version = 2
        PERSONAL = ("email", "name")
        email: Sealed | None
        name: Sealed | None
        anonymous: bool
        profile_version: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """`email` and `name`, plain text in v1, become `{"enc": "none", "text": ...}`
            (null stays null)."""
            state["email"] = unprotected(state.get("email"))
            state["name"] = unprotected(state.get("name"))

        def evolve(self, aggregate: Any) -> None:
            aggregate.email = self.email
            aggregate.name = self.name
            aggregate.erased = False
            aggregate.anonymous = self.anonymous
            aggregate.registered_at = self.timestamp
            aggregate.licenses = {}
            aggregate.subscriptions = []
            aggregate.packages = {}
            aggregate.usage = {}

    class LicenseBought(SupportAggregate.Event):
        """A licence bought; it starts a free support period (R-SUB-2). `domain` is
        personal data, sealed (v2, R-PRV-1); `domain_ref` names it (`domain.personal`):
        null on events upcast from v1, whose domain was plain text."""

        TOPIC = "customer.license_bought"
        class_version = 2
        PERSONAL = ("domain",)
        license: str
        product: str
        domain: Sealed | None
        domain_ref: str | None
        plan: str
        period_starts_at: datetime
        period_ends_at: datetime
        after_period: dict | None

        upcast_v1_v2 = staticmethod(upcast_domain_v1_v2)

        def evolve(self, aggregate: Any) -> None:
            aggregate.licenses[self.license] = {
                "product": self.product, "plan": self.plan, "domain": self.domain,
                "domain_ref": self.domain_ref,
                "starts_at": self.period_starts_at, "ends_at": self.period_ends_at,
                "after_period": self.after_period, "ended": False,
            }

    class SupportPeriodEnded(SupportAggregate.Event):
        """A licence's free support period ran out (timer, R-SUB-5)."""

        TOPIC = "customer.support_period_ended"
        license: str
        timer_id: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.licenses[self.license]["ended"] = True

    class SubscriptionAdded(SupportAggregate.Event):
        """The customer holds a new subscription (its lifecycle is its own aggregate).
        `domain` sealed and `domain_ref` as in `customer.license_bought` (v2)."""

        TOPIC = "customer.subscription_added"
        class_version = 2
        PERSONAL = ("domain",)
        subscription: str
        domain: Sealed | None
        domain_ref: str | None

        upcast_v1_v2 = staticmethod(upcast_domain_v1_v2)

        def evolve(self, aggregate: Any) -> None:
            aggregate.subscriptions.append(self.subscription)

    class PackageBought(SupportAggregate.Event):
        """An Incident or Examination package: one request of limited work (R-SUB-4)."""

        TOPIC = "customer.package_bought"
        purchase: str
        package: str
        max_minutes: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.packages[self.purchase] = {
                "package": self.package, "max_minutes": self.max_minutes, "ticket": None}

    class PackageAssigned(SupportAggregate.Event):
        """A package covers this ticket; it cannot cover another one (R-SUB-4)."""

        TOPIC = "customer.package_assigned"
        purchase: str
        ticket: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.packages[self.purchase]["ticket"] = self.ticket

    class RequestCounted(SupportAggregate.Event):
        """A ticket counted against this month's requests (R-QTA-5); like
        ModificationCounted it carries every counter of the month, so the quota
        projection sets a whole row."""

        TOPIC = "customer.request_counted"
        ticket: str
        month: str
        requests_used: int
        requests_limit: int | None
        modifications_used: int
        free_used: int
        free_limit: int
        rollover_at: datetime

        def evolve(self, aggregate: Any) -> None:
            aggregate.usage_for(self.month)["requests_used"] = self.requests_used

    class ModificationCounted(SupportAggregate.Event):
        """A modification counted against this month's quota (R-QTA-1, R-QTA-2)."""

        TOPIC = "customer.modification_counted"
        ticket: str
        entry: int
        month: str
        free: bool
        requests_used: int
        requests_limit: int | None
        modifications_used: int
        free_used: int
        free_limit: int
        rollover_at: datetime

        def evolve(self, aggregate: Any) -> None:
            usage = aggregate.usage_for(self.month)
            usage["modifications_used"] = self.modifications_used
            usage["free_used"] = self.free_used

    class MonthRolledOver(SupportAggregate.Event):
        """The counters of a new calendar month start at zero (R-QTA-3, timer)."""

        TOPIC = "customer.month_rolled_over"
        month: str
        requests_limit: int | None
        free_limit: int
        timer_id: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.usage_for(self.month)
            aggregate.rolled_over_to = self.month

    class AllowanceSet(SupportAggregate.Event):
        """The month's quota as it stands after an entitlement started, changed or ended
        (registration, a licence, a subscription started, changed, cancelled or expired,
        a support period ended): the plan's allowance (R-QTA-1, R-QTA-5) with the
        month's counters, so the quota reads right before the first ticket. `cause` says
        what changed (`registration`, `license:<id>`, `subscription:<id>`,
        `plan_changed:<id>`, `cancelled:<id>`, `expired:<id>`, `period_ended:<id>`)."""

        TOPIC = "customer.allowance_set"
        cause: str
        plan: str | None
        month: str
        requests_used: int
        requests_limit: int | None
        modifications_used: int
        free_used: int
        free_limit: int
        rollover_at: datetime

        def evolve(self, aggregate: Any) -> None:
            aggregate.usage_for(self.month)

    class Erased(SupportAggregate.Event):
        """The customer's personal data was erased on request (R-PRV-1, R-PRV-2): the
        data key that sealed it was destroyed in the same transaction as this event was
        stored, so every sealed value of the customer, wherever it went, is unreadable;
        ids, amounts, hashes and MACs stay. `by` is who erased, `reason` why (it must not
        hold the personal data itself). Downstream services erase their copies."""

        TOPIC = "customer.erased"
        by: str
        reason: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.erased = True
            aggregate.email = aggregate.name = None

    def usage_in(self, month: str) -> dict[str, int]:
        """Returns the usage counters of `month` without creating them."""
        return dict(self.usage.get(month)
                    or {"requests_used": 0, "modifications_used": 0, "free_used": 0})

    def usage_for(self, month: str) -> dict[str, int]:
        """Returns (creating) the usage counters of `month` ("YYYY-MM")."""
        return self.usage.setdefault(
            month, {"requests_used": 0, "modifications_used": 0, "free_used": 0})

    @classmethod
    def register(cls, *, customer: str, now: datetime, email: Sealed | None,
                 name: Sealed | None, anonymous: bool, profile_id: str,
                 profile_version: int) -> Customer:
        """Returns a newly registered customer."""
        return cls.start(cls.Registered, id=cls.id_for(customer), now=now, customer=customer,
                         ref=customer, tenant=profile_id, email=email, name=name,
                         anonymous=anonymous,
                         profile_version=profile_version)
