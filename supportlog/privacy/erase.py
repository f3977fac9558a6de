"""Erasing a customer's personal data on request (R-PRV-1, R-PRV-2): the one function
the command line (`supportlog erase`) and an HTTP route call.

It records `customer.erased` through the desk (who, when, why), and the store's recorder
destroys the customer's data key in that same transaction (`supportlog.privacy.
recorder`): from then on every sealed value of the customer, in the store, on the topic,
in every read model, in a rebuild and in backups of any of them, is ciphertext nobody
can open. Then it vacuums the key table, so the row version that held the wrapped key
is gone from the database files too, and drops the keys this process held. Erasing
again finishes what an interrupted erasure left (the vacuum) and says it was done
before. The reason is kept in the log for ever, so it may not contain the customer's
name or e-mail. What erasure cannot reach is counted: events stored before personal
data was sealed hold it in plain text (docs/privacy.md; `supportlog privacy migrate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.access import authorize_command
from domain.actor import Actor
from domain.customer import Customer
from domain.errors import CustomerErasedError, InvalidArgumentError, UnknownCustomerError
from domain.personal import ERASED
from supportlog.privacy.report import unprotected_events

if TYPE_CHECKING:
    from supportlog.bootstrap import System


@dataclass(frozen=True)
class Erasure:
    """What an erasure did."""

    customer: str
    #: The data key destroyed (None: the customer never had personal data sealed).
    key_id: str | None
    erased_at: datetime | None
    #: True if the customer had been erased before (this call only finished the work).
    before: bool
    #: Stored events of the customer that hold personal data in plain text.
    unprotected: int
    #: The store position at or after `customer.erased` (for a read's `?after=`).
    position: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"customer": self.customer, "key_id": self.key_id,
                "erased_at": self.erased_at.isoformat() if self.erased_at else None,
                "erased_before": self.before, "unprotected_events": self.unprotected,
                "position": self.position}


def erase_customer(system: System, customer: str, *, reason: str, by: str | None = None,
                   actor: Actor | None = None,
                   clock: Callable[[], datetime] | None = None) -> Erasure:
    """Erases `customer`'s personal data; `by` is who asks (a principal: itself, the
    default), `reason` why, `actor` the principal acting (None: the trusted caller of
    the command line). Raises ForbiddenError unless the actor's role may erase (the one
    table, `domain.access`), UnknownCustomerError for no such customer (or one of a
    desk the actor does not see, R-ACL-2) and InvalidArgumentError for a reason that
    holds their name or e-mail; nothing is erased then. Each is decided before the
    customer's personal data is read at all."""
    desk = system.desk
    args = authorize_command(actor, "erase_customer",
                             {"customer": customer, "by": by, "reason": reason})
    if args["by"] is None:
        raise InvalidArgumentError("say who asks for the erasure (by)")
    found = desk.load(Customer, Customer.id_for(customer))
    if found is None or (actor is not None and not actor.sees(found.tenant)):
        raise UnknownCustomerError(f"no customer {customer!r} is registered")
    _check_reason(system, found, reason)
    before = system.personal.key_row(customer)
    already = False
    try:
        desk.execute("erase_customer", args, actor=actor,
                     clock=clock or (lambda: datetime.now(UTC)))
    except CustomerErasedError:
        already = True
    conn = system.connect()
    conn.execute("VACUUM customer_keys")
    system.personal.forget()
    after = system.personal.key_row(customer)
    return Erasure(customer, before.key_id if before and before.wrapped else None,
                   after.erased_at if after else None, already,
                   unprotected_events(desk, customer).events,
                   desk.recorder.max_notification_id() or 0)


def _check_reason(system: System, customer: Customer, reason: str) -> None:
    """Refuses a reason that holds the customer's name or e-mail (case ignored)."""
    registered = Customer.Registered.TOPIC
    show = system.personal.revealer(customer.customer)
    for field in ("name", "email"):
        text = show(registered, field, getattr(customer, field, None))
        if text and len(text) >= 3 and text != ERASED and not text.startswith("[") \
                and text.casefold() in reason.casefold():
            raise InvalidArgumentError(
                f"the reason holds the customer's {field}: it stays in the log for ever; "
                "give the request's reference instead")
