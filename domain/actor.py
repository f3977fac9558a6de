"""Who acts: the principal behind a command, and the one place a command learns it.

R-ACL-1: every command comes from a principal of exactly one desk, and the principal is
recorded on every event its command causes. `SupportDesk.execute` runs a command inside
`acting_as(actor)`; while it runs, `SupportAggregate.record`/`start` stamp each new
event with `actor.record()` and the handlers' loaders read `acting()` to keep desks
apart and customers to their own (R-ACL-2). A context variable rather than a parameter
threaded through every handler and `record` call: the actor is a fact about the whole
command, and a variable set in one place cannot be forgotten at one call site of forty.
It is per thread (and per asyncio task), so concurrent commands never see each other's.

Pure data: an actor is what an entry point proved (a token's principal, the local
operator, the scheduler); nothing here authenticates anyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from domain.errors import NotOwnerError

#: Roles a token can carry (R-ACL-1).
TOKEN_ROLES = ("customer", "agent", "desk_admin", "auditor", "service")
#: Roles no token carries: the trusted local command line and the timers.
LOCAL_ROLES = ("operator", "system")
ROLES = TOKEN_ROLES + LOCAL_ROLES


@dataclass(frozen=True)
class Actor:
    """A principal as the domain sees it.

    `desk` is the one desk it acts on (None only for a local operator without `--desk`
    and for the scheduler, which serve every desk); `customer` is the one customer a
    `customer` principal is bound to."""

    role: str
    id: str
    desk: str | None = None
    customer: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.role == "customer" and not self.customer:
            raise ValueError("a customer principal is bound to one customer id")
        if self.role in TOKEN_ROLES and not self.desk:
            raise ValueError(f"a {self.role} principal belongs to one desk")

    def record(self) -> dict[str, str]:
        """What events carry: role and id (never a token, never personal data)."""
        return {"role": self.role, "id": self.id}

    def sees(self, tenant: str) -> bool:
        """True if data of desk `tenant` exists for this actor (R-ACL-2)."""
        return self.desk is None or self.desk == tenant


#: The scheduler firing due timers: the system acting on every desk.
SCHEDULER = Actor("system", "scheduler")

_ACTING: ContextVar[Actor | None] = ContextVar("supportlog_actor", default=None)


def acting() -> Actor | None:
    """Returns the actor of the command running in this context (None: nobody said,
    as in replays and tests of the rules alone, which then act without limits)."""
    return _ACTING.get()


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Runs the block as `actor`; the previous actor is restored afterwards."""
    token = _ACTING.set(actor)
    try:
        yield
    finally:
        _ACTING.reset(token)


def visible(tenant: str) -> bool:
    """True if data of desk `tenant` exists for the acting principal (R-ACL-2)."""
    actor = _ACTING.get()
    return actor is None or actor.sees(tenant)


def guard_owner(actor: Actor | None, customer: str, what: str) -> None:
    """Raises NotOwnerError if a customer principal touches `what` of another customer
    (R-ACL-2); every other role passes."""
    if actor is not None and actor.role == "customer" and actor.customer != customer:
        raise NotOwnerError(f"{what} is not yours")
