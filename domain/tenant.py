"""The Tenant aggregate: which policy profile version a desk has adopted, and when.

Adopting a profile (or a new version of it) is an event holding the whole profile, so
any past decision can be replayed under the policy that was in force (R-AUD-4).
"""

from __future__ import annotations

from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.personal import Sealed, upcast_domain_v1_v2


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
    """A shop's domain and its owner: only the owner acts on it (R-TKT-11).

    It is found by the domain's ref (`domain.personal`), never by the domain itself, so
    neither its id nor its `ref` (the envelope's `subject`) says which domain it is.
    Domains claimed before refs existed were found by the domain's text (`legacy_id_for`)
    and named by it; both ids are looked up."""

    @staticmethod
    def id_for(domain_ref: str):
        return aggregate_id("domain-ref", domain_ref)

    @staticmethod
    def legacy_id_for(domain: str):
        """The id of a domain claimed before refs existed (v1 claims)."""
        return aggregate_id("domain", domain.lower())

    class Claimed(SupportAggregate.Created):
        """A shop's domain claimed by its owner (R-TKT-11). `domain` is personal data,
        sealed with the owner's key, and the event's `ref` is the domain's ref (v2,
        R-PRV-1); in v1 both were the domain in plain text (`domain_ref` null)."""

        TOPIC = "domain.claimed"
        class_version = 2
        PERSONAL = ("domain",)
        domain: Sealed
        domain_ref: str | None

        upcast_v1_v2 = staticmethod(upcast_domain_v1_v2)

        def evolve(self, aggregate: Any) -> None:
            aggregate.domain = self.domain
            aggregate.domain_ref = self.domain_ref
