"""The Subscription aggregate: a paid support plan for a term (R-SUB-1, R-SUB-4, R-SUB-5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.errors import InvalidTransitionError
from domain.personal import Sealed, upcast_domain_v1_v2


@stable_names("aggregate.subscription")
class Subscription(SupportAggregate):
    """A customer's plan from `starts_at` to `ends_at`."""

    @staticmethod
    def id_for(subscription: str):
        return aggregate_id("subscription", subscription)

    class Started(SupportAggregate.Created):
        """A subscription started. `domain` is personal data, sealed (v2, R-PRV-1);
        `domain_ref` names it: null on events upcast from v1 (plain-text domain)."""

        TOPIC = "subscription.started"
        class_version = 2
        PERSONAL = ("domain",)
        subscription: str
        plan: str
        term: str
        domain: Sealed | None
        domain_ref: str | None
        starts_at: datetime
        ends_at: datetime
        price: str | None
        profile_version: int

        upcast_v1_v2 = staticmethod(upcast_domain_v1_v2)

        def evolve(self, aggregate: Any) -> None:
            aggregate.subscription = self.subscription
            aggregate.plan = self.plan
            aggregate.term = self.term
            aggregate.domain = self.domain
            aggregate.domain_ref = self.domain_ref
            aggregate.starts_at = self.starts_at
            aggregate.ends_at = self.ends_at
            aggregate.status = "active"

    class PlanChanged(SupportAggregate.Event):
        TOPIC = "subscription.plan_changed"
        old_plan: str
        plan: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.plan = self.plan

    class Cancelled(SupportAggregate.Event):
        """No renewal; support goes on until `effective_at` (the profile says when)."""

        TOPIC = "subscription.cancelled"
        effective_at: datetime

        def evolve(self, aggregate: Any) -> None:
            aggregate.status = "cancelled"
            aggregate.ends_at = min(aggregate.ends_at, self.effective_at)

    class Expired(SupportAggregate.Event):
        TOPIC = "subscription.expired"
        timer_id: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.status = "expired"

    def in_force(self, at: datetime) -> bool:
        """True if the plan gives its entitlements at `at`."""
        return self.status != "expired" and self.starts_at <= at < self.ends_at

    def guard_changeable(self) -> None:
        if self.status != "active":
            raise InvalidTransitionError(
                f"subscription {self.subscription} is {self.status}; only an active one changes")
