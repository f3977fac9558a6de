"""The Tenant aggregate: which policy profile version a desk has adopted, and when.

Adopting a profile (or a new version of it) is an event holding the whole profile, so
any past decision can be replayed under the policy that was in force (R-AUD-4).
"""

from __future__ import annotations

from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names


@stable_names("aggregate.tenant")
class Tenant(SupportAggregate):
    """One desk (tenant) of the deployment."""

    @staticmethod
    def id_for(profile_id: str):
        return aggregate_id("tenant", profile_id)

    class Founded(SupportAggregate.Created):
        TOPIC = "policy.tenant_founded"

        def evolve(self, aggregate: Any) -> None:
            aggregate.adopted = []

    class ProfileAdopted(SupportAggregate.Event):
        TOPIC = "policy.profile_adopted"
        profile_id: str
        version: int
        digest: str
        profile: dict

        def evolve(self, aggregate: Any) -> None:
            aggregate.adopted.append(
                {"version": self.version, "digest": self.digest, "at": self.timestamp})

    @property
    def current(self) -> dict | None:
        return self.adopted[-1] if self.adopted else None


@stable_names("aggregate.domain_name")
class DomainName(SupportAggregate):
    """A shop's domain and its owner: only the owner acts on it (R-TKT-11)."""

    @staticmethod
    def id_for(domain: str):
        return aggregate_id("domain", domain.lower())

    class Claimed(SupportAggregate.Created):
        TOPIC = "domain.claimed"
        domain: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.domain = self.domain
