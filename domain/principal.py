"""The Principal aggregate: who may act on a desk, issued and revoked as events.

Issuing and revoking a principal are events like any other (R-ACL-1), recorded with the
actor who did it, so the log says who let whom in and when. They never hold the token or
its hash: the secret lives only with its holder, and its hash only in the `principals`
table the token service keeps (`supportlog.principals`), which the log cannot leak.

A principal's id is chosen outside the domain (it is random); the domain checks the
rest: a known role, a desk that adopted a profile, a customer principal bound to a
customer of that desk, and an actor allowed to manage the desk's principals (R-ACL-3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.access import authorize_read
from domain.actor import TOKEN_ROLES, Actor, acting_as
from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.commands.args import ident, text
from domain.customer import Customer
from domain.errors import (
    InvalidArgumentError,
    InvalidTransitionError,
    SupportlogError,
    UnknownCustomerError,
)
from domain.tenant import Tenant


class UnknownPrincipalError(SupportlogError):
    """Raised when a principal id was never issued on the caller's desk."""

    code = "unknown_principal"


@stable_names("aggregate.principal")
class Principal(SupportAggregate):
    """One principal of one desk: a role, and for a customer the customer it acts as."""

    @staticmethod
    def id_for(principal: str):
        return aggregate_id("principal", principal)

    class Issued(SupportAggregate.Created):
        """A principal was let in: its role on the desk, the customer a customer
        principal is bound to, and a label for people (R-ACL-1)."""

        TOPIC = "principal.issued"
        principal: str
        role: str
        bound_customer: str | None
        name: str | None

        def evolve(self, aggregate: Any) -> None:
            aggregate.principal = self.principal
            aggregate.role = self.role
            aggregate.bound_customer = self.bound_customer
            aggregate.name = self.name
            aggregate.revoked_at = None

    class Revoked(SupportAggregate.Event):
        """The principal's token stops working."""

        TOPIC = "principal.revoked"

        def evolve(self, aggregate: Any) -> None:
            aggregate.revoked_at = self.timestamp


def issue(desk: Any, *, principal: str, role: str, tenant: str, customer: str | None,
          name: str | None, now: datetime, actor: Actor | None) -> Principal:
    """Records a new principal of desk `tenant` and returns it (saved). Raises
    InvalidArgumentError for an unknown role, a desk without a profile or a customer
    binding that does not fit the role, UnknownCustomerError for a customer not of that
    desk, ForbiddenError if `actor` may not manage the desk's principals."""
    with acting_as(actor):
        _guard_manager(actor, tenant)
        ident(principal, "principal")
        if role not in TOKEN_ROLES:
            raise InvalidArgumentError(f"role must be one of {', '.join(TOKEN_ROLES)}")
        ident(tenant, "desk")
        record = desk.load(Tenant, Tenant.id_for(tenant))
        if record is None or not record.current:
            raise InvalidArgumentError(f"no desk {tenant!r}: it has adopted no profile")
        if (role == "customer") != (customer is not None):
            raise InvalidArgumentError("a customer principal, and only one, is bound to a "
                                       "customer id (--customer)")
        if customer is not None:
            bound = desk.load(Customer, Customer.id_for(ident(customer, "customer")))
            if bound is None or bound.tenant != tenant:
                raise UnknownCustomerError(f"no customer {customer!r} is registered")
        if name is not None:
            text(name, "name")
        if desk.load(Principal, Principal.id_for(principal)) is not None:
            raise InvalidArgumentError(f"principal {principal!r} already exists")
        issued = Principal.start(
            Principal.Issued, id=Principal.id_for(principal), now=now,
            customer=customer or f"desk:{tenant}", tenant=tenant, ref=principal,
            principal=principal, role=role, bound_customer=customer, name=name)
        desk.save(issued)
        return issued


def revoke(desk: Any, principal: str, *, now: datetime, actor: Actor | None) -> Principal:
    """Records that `principal` is revoked and returns it. Raises UnknownPrincipalError
    if it was never issued on the actor's desk, InvalidTransitionError if it already
    was revoked, ForbiddenError if `actor` may not manage principals."""
    with acting_as(actor):
        found = desk.load(Principal, Principal.id_for(principal))
        if found is None or (actor is not None and not actor.sees(found.tenant)):
            raise UnknownPrincipalError(f"no principal {principal!r}")
        _guard_manager(actor, found.tenant)
        if found.revoked_at is not None:
            raise InvalidTransitionError(f"principal {principal} was revoked at "
                                         f"{found.revoked_at.isoformat()}")
        found.record(Principal.Revoked, now=now)
        desk.save(found)
        return found


def _guard_manager(actor: Actor | None, tenant: str) -> None:
    if actor is None:
        return
    authorize_read(actor, "create_token")
    if not actor.sees(tenant):  # another desk does not exist for the actor (R-ACL-2)
        raise InvalidArgumentError(f"no desk {tenant!r}: it has adopted no profile")
