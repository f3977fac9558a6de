"""Reads of the read models: a ticket, a customer's account, charges and disputes, the
queue of a department, and the calling principal itself.

Each route declares `reader(<read>)`: the principal (`auth.caller`), the role check of
`domain.access` (403 `forbidden`), then, given `?after=`, the wait until the projector
has applied that store position (read your writes). Rows come from
`projections.queries`, which finds only the desk's own; a customer principal reading
another customer's row is `not_owner`, and another desk's row is not found at all, with
the same answer as an id nobody used (R-ACL-2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from domain.access import authorize_read, sees_personal_data
from domain.actor import Actor, guard_owner
from domain.customer import Customer
from domain.personal import ERASED, withheld
from domain.subscription import Subscription
from domain.ticket import Ticket
from projections import queries
from replay.streams import as_envelopes, stream
from supportlog.http.auth import ID_PATTERN, caller
from supportlog.http.models import Me, Page
from supportlog.http.problems import NotFoundError

router = APIRouter(prefix="/v1/desks/{desk}", tags=["reads"])

Id = Annotated[str, Path(pattern=ID_PATTERN)]


def reader(read: str) -> Callable[..., Awaitable[Actor]]:
    """The dependency of a read named `read` in `domain.access.READ_ROLES`."""

    async def dependency(request: Request, actor: Annotated[Actor, Depends(caller)],
                         after: Annotated[int | None, Query(
                             ge=0, le=2**62, description="A store position (a write's "
                             "`position`): answer once the read models include it.")] = None,
                         ) -> Actor:
        authorize_read(actor, read)
        if after:
            await request.app.state.services.watch.wait_for(after)
        return actor

    return dependency


def read_models(request: Request) -> Any:
    """A connection of the API's pool, for one read."""
    return request.app.state.services.pool.connection()


def owned(actor: Actor, row: dict[str, Any] | None, code: str, what: str) -> dict[str, Any]:
    """Returns `row` if it exists for `actor` and is its own; raises NotFoundError or
    NotOwnerError."""
    if row is None:
        raise NotFoundError(code, f"no {what}")
    guard_owner(actor, row["customer"], what)
    return row


@router.get("/me", response_model=Me, summary="The calling principal")
def whoami(desk: str, actor: Annotated[Actor, Depends(reader("whoami"))]) -> dict[str, Any]:
    return {"principal": actor.id, "role": actor.role, "desk": desk,
            "customer": actor.customer}


@router.get("/tickets/{ticket}", summary="A ticket and its work log",
            response_model=dict[str, Any])
def ticket(request: Request, desk: str, ticket: Id,
           actor: Annotated[Actor, Depends(reader("ticket"))]) -> dict[str, Any]:
    with read_models(request) as conn:
        row = queries.ticket(conn, desk, ticket)
    return owned(actor, row, "unknown_ticket", f"ticket {ticket!r}")


@router.get("/tickets/{ticket}/events", summary="Every event on a ticket (its timeline)",
            response_model=list[dict[str, Any]],
            description="From the event store, oldest first: type, time, who (the actor) "
                        "and the event's data.")
def ticket_events(request: Request, desk: str, ticket: Id,
                  actor: Annotated[Actor, Depends(reader("ticket"))]) -> list[dict[str, Any]]:
    services = request.app.state.services
    with read_models(request) as conn:
        row = queries.ticket(conn, desk, ticket)
    owned(actor, row, "unknown_ticket", f"ticket {ticket!r}")
    return [{"type": e.type, "at": e.time, "version": e.aggregate_version,
             "actor": e.actor, "data": e.data}
            for e in as_envelopes(stream(services.desk, Ticket.id_for(ticket)))]


@router.get("/customers/{customer}", summary="A customer's account",
            response_model=dict[str, Any])
def customer(request: Request, desk: str, customer: Id,
             actor: Annotated[Actor, Depends(reader("customer"))]) -> dict[str, Any]:
    guard_owner(actor, customer, f"customer {customer!r}")  # before asking: no hints
    with read_models(request) as conn:
        row = queries.customer_account(conn, desk, customer)
    return personal(request, actor, owned(actor, row, "unknown_customer",
                                          f"customer {customer!r}"))


#: Where each personal field of an account was sealed: (event type, field) by key.
_SEALED_IN = {"name": (Customer.Registered.TOPIC, "name"),
              "email": (Customer.Registered.TOPIC, "email")}
_DOMAIN_OF = {"licenses": (Customer.LicenseBought.TOPIC, "domain"),
              "subscriptions": (Subscription.Started.TOPIC, "domain")}


def personal(request: Request, actor: Actor, account: dict[str, Any]) -> dict[str, Any]:
    """Returns `account` with its sealed values shown as `actor` may see them."""
    customer = account["customer"]
    show = request.app.state.services.revealer(customer) if sees_personal_data(actor) \
        else lambda *value: withheld(customer, *value)
    erased = account.get("erased_at") is not None  # the read model dropped them then
    for key, (event_type, field) in _SEALED_IN.items():
        if key in account:
            account[key] = ERASED if erased else show(event_type, field, account[key])
    for key, (event_type, field) in _DOMAIN_OF.items():
        for row in account.get(key) or ():
            row["domain"] = show(event_type, field, row.get("domain"))
    return account


def _own_customer(request: Request, desk: str, actor: Actor, customer: str) -> None:
    """A customer principal may ask only for itself, whether the other exists or not."""
    guard_owner(actor, customer, f"customer {customer!r}")
    with read_models(request) as conn:
        if queries.customer(conn, desk, customer) is None:
            raise NotFoundError("unknown_customer", f"no customer {customer!r}")


@router.get("/customers/{customer}/charges", summary="A customer's charges",
            response_model=list[dict[str, Any]])
def charges(request: Request, desk: str, customer: Id,
            actor: Annotated[Actor, Depends(reader("charges"))]) -> list[dict[str, Any]]:
    _own_customer(request, desk, actor, customer)
    with read_models(request) as conn:
        return queries.charges(conn, desk, customer)


@router.get("/customers/{customer}/disputes", summary="A customer's disputes",
            response_model=list[dict[str, Any]])
def disputes(request: Request, desk: str, customer: Id,
             actor: Annotated[Actor, Depends(reader("disputes"))]) -> list[dict[str, Any]]:
    _own_customer(request, desk, actor, customer)
    with read_models(request) as conn:
        return queries.disputes(conn, desk, customer)


@router.get("/customers/{customer}/ledger", summary="Every change of a customer's balance",
            response_model=list[dict[str, Any]],
            description="Oldest first, each with the balance after it and its cause "
                        "(R-CRD-9).")
def ledger(request: Request, desk: str, customer: Id,
           actor: Annotated[Actor, Depends(reader("customer"))]) -> list[dict[str, Any]]:
    _own_customer(request, desk, actor, customer)
    with read_models(request) as conn:
        return queries.ledger(conn, desk, customer)


@router.get("/disputes", summary="The desk's disputes, by review due time (R-DSP-1)",
            response_model=list[dict[str, Any]],
            description="Open ones first; a customer gets only its own.")
def desk_disputes(request: Request, desk: str,
                  actor: Annotated[Actor, Depends(reader("disputes"))],
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    with read_models(request) as conn:
        if actor.role == "customer":
            assert actor.customer is not None
            return queries.disputes(conn, desk, actor.customer)[:limit]
        return queries.desk_disputes(conn, desk, limit)


@router.get("/disputes/{dispute}", summary="A dispute", response_model=dict[str, Any])
def dispute(request: Request, desk: str, dispute: Id,
            actor: Annotated[Actor, Depends(reader("dispute"))]) -> dict[str, Any]:
    with read_models(request) as conn:
        row = queries.dispute(conn, desk, dispute)
    return owned(actor, row, "unknown_dispute", f"dispute {dispute!r}")


@router.get("/queues/{department}", response_model=Page,
            summary="Tickets awaiting an agent, in serving order (R-TKT-6)")
def queue(request: Request, desk: str, department: Id,
          actor: Annotated[Actor, Depends(reader("queue"))],
          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
          cursor: Annotated[int, Query(ge=0, le=2**62, description="`next_cursor` of the "
                                       "page before")] = 0) -> dict[str, Any]:
    with read_models(request) as conn:
        rows = queries.queue(conn, desk, department, limit + 1, cursor)
    page = rows[:limit]
    more = len(rows) > limit
    return {"data": page, "has_more": more,
            "next_cursor": page[-1]["position"] if more else None}
