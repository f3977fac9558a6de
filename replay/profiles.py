"""The policy profiles a desk adopted, read back from its Tenant stream.

Adopting a profile is an event that holds the whole profile (`policy.profile_adopted`),
so a past decision is judged under exactly the version that made it, not under whatever
the profile files say today. Several adoptions may carry the same version (a file edited
without a version bump shows as a new digest); the one in force at the decision's
instant is chosen, and the digest is shown so an auditor can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.desk import SupportDesk
from domain.policy.profile import PolicyProfile
from domain.tenant import Tenant
from replay.streams import stream


@dataclass(frozen=True)
class Adoption:
    """One adoption of a profile version by a desk."""

    at: datetime
    version: int
    digest: str
    profile: PolicyProfile


class AdoptedProfiles:
    """The adoptions of every desk of one store, read once per desk and kept."""

    def __init__(self, desk: SupportDesk):
        self.desk = desk
        self._by_tenant: dict[str, list[Adoption]] = {}

    def adoptions(self, tenant: str) -> list[Adoption]:
        """Returns the desk's adoptions, oldest first (empty if it adopted none)."""
        if tenant not in self._by_tenant:
            self._by_tenant[tenant] = [
                Adoption(e.timestamp, e.version, e.digest,
                         PolicyProfile.from_record(e.profile, f"{tenant} v{e.version} (log)"))
                for e in stream(self.desk, Tenant.id_for(tenant))
                if isinstance(e, Tenant.ProfileAdopted)]
        return self._by_tenant[tenant]

    def in_force(self, tenant: str, at: datetime) -> Adoption | None:
        """Returns the adoption in force at `at`: the last one made by then, else the
        first (a desk adopts before its first command, whatever that command's clock)."""
        adoptions = self.adoptions(tenant)
        made = [a for a in adoptions if a.at <= at]
        if made:
            return made[-1]
        return adoptions[0] if adoptions else None

    def version(self, tenant: str, version: int, at: datetime) -> Adoption | None:
        """Returns the adoption of `version` that was in force at `at`, else the latest
        adoption of that version, else None."""
        same = [a for a in self.adoptions(tenant) if a.version == version]
        made = [a for a in same if a.at <= at]
        if made:
            return made[-1]
        return same[-1] if same else None
