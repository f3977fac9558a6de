"""The Customer aggregate: identity, anonymity, licences and their support periods,
the plans in force, and the monthly usage counters that plans limit (R-QTA).

It decides nothing about tickets itself; it answers questions the ticket and pricing
rules ask (which plan is in force at `now`, how many requests were made this month).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names


@stable_names("aggregate.customer")
class Customer(SupportAggregate):
    """A registered customer of one desk."""

    @staticmethod
    def id_for(customer: str):
        return aggregate_id("customer", customer)

    class Registered(SupportAggregate.Created):
        TOPIC = "customer.registered"
        email: str | None
        name: str | None
        anonymous: bool
        profile_version: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.email = self.email
            aggregate.name = self.name
            aggregate.anonymous = self.anonymous
            aggregate.registered_at = self.timestamp
            aggregate.licenses = {}
            aggregate.subscriptions = []
            aggregate.packages = {}
            aggregate.usage = {}

    @classmethod
    def register(cls, *, customer: str, now: datetime, email: str | None, name: str | None,
                 anonymous: bool, profile_id: str, profile_version: int) -> Customer:
        """Returns a newly registered customer."""
        return cls.start(cls.Registered, id=cls.id_for(customer), now=now, customer=customer,
                         tenant=profile_id, email=email, name=name, anonymous=anonymous,
                         profile_version=profile_version)
