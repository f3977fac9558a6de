"""The auditor's pages: a charge's receipt (what `supportlog audit charge` prints, with
every check ok or MISMATCH), the desk's disputes by review due time (R-DSP-1), and a
customer's state as of a chosen instant (R-AUD-2).

The receipt and the as-of state come from the API's route functions
(`http.routes.audit`), which read the event store, not the read models, and check the
role and ownership; the receipt's text is laid out by `replay.render`, as on the command
line, so the page and `audit charge` cannot say different things.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from domain.access import authorize_read
from domain.errors import InvalidArgumentError
from replay.receipt import Check, Receipt
from replay.render import receipt_text
from supportlog.console.web import current, page, timezone_of
from supportlog.http.routes import audit, reads

router = APIRouter(prefix="/console", include_in_schema=False)


def receipt_of(found: dict[str, Any]) -> Receipt:
    """The receipt the API answered, as the object `replay.render` lays out."""
    names = {f.name for f in fields(Receipt)}
    data = {k: v for k, v in found.items() if k in names}
    data["checks"] = [Check(**c) for c in found["checks"]]
    return Receipt(**data)


@router.get("/charges/{ticket}/{n}")
def receipt_page(request: Request, ticket: str, n: int) -> Response:
    session = current(request)
    actor = session.actor

    def build() -> dict[str, Any]:
        authorize_read(actor, "receipt")
        found = audit.receipt(request, actor.desk or "", ticket, n, actor)
        return {"receipt": found, "text": receipt_text(receipt_of(found))}

    return page(request, session, "receipt.html", build)


@router.get("/disputes")
def disputes_page(request: Request) -> Response:
    session = current(request)
    actor = session.actor

    def build() -> dict[str, Any]:
        authorize_read(actor, "disputes")
        return {"disputes": reads.desk_disputes(request, actor.desk or "", actor, 500)}

    return page(request, session, "disputes.html", build)


def parse_instant(text: str, request: Request, desk: str) -> datetime:
    """An instant typed in the form: with an offset as given, without one in the desk's
    timezone; raises InvalidArgumentError."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise InvalidArgumentError(f"at: {text!r} is not a date and time "
                                   "(YYYY-MM-DDTHH:MM)") from e
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone_of(request, desk))
    return at


@router.get("/as-of")
def as_of_page(request: Request, customer: str = "", at: str = "") -> Response:
    session = current(request)
    actor = session.actor

    def build() -> dict[str, Any]:
        authorize_read(actor, "as_of")
        desk = actor.desk or ""
        state = None
        if customer and at:
            state = audit.as_of(request, desk, customer, parse_instant(at, request, desk),
                                actor)
        return {"state": state, "customer": customer, "at": at}

    return page(request, session, "as_of.html", build)
