"""Commands over HTTP: `POST /v1/desks/{desk}/commands` with `{"do", "args"}`, the
scenario format's vocabulary, and two resource-style routes on top (open a ticket, open
a dispute) that are the same commands.

Thin on purpose: the principal comes from `auth.caller`, the role check, the argument
parser, ownership and desk isolation are the desk's (`SupportDesk.execute` with the
actor), and the server's clock gives `now`; only a `service` principal may say when an
imported command occurred, never in the future (and never before the aggregate's last
change, which the aggregate itself refuses).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from domain.actor import Actor
from domain.base import utc
from domain.errors import ForbiddenError, InvalidArgumentError
from supportlog.http.auth import caller
from supportlog.http.models import CommandAnswer, CommandRequest
from supportlog.http.writes import IdempotencyKey, answer_write

router = APIRouter(prefix="/v1/desks/{desk}", tags=["commands"])

#: The principal, authenticated before the body is even looked at (R-ACL-4).
Caller = Annotated[Actor, Depends(caller)]


def _at(request: Request, actor: Actor, occurred_at: datetime | None) -> datetime | None:
    """Returns when a service says the command occurred, or None: the server's clock,
    read afresh by the desk on every attempt after a lost write race."""
    if occurred_at is None:
        return None
    now = request.app.state.services.clock()
    if actor.role != "service":
        raise ForbiddenError("only a service principal may say when a command occurred "
                             "(occurred_at, for imports)")
    try:
        at = utc(occurred_at)
    except (ValueError, OverflowError) as e:
        raise InvalidArgumentError("occurred_at is not an instant this server can hold") \
            from e
    if at > now.astimezone(UTC):
        raise InvalidArgumentError(f"occurred_at {at.isoformat()} is in the future")
    return at


def execute(request: Request, actor: Actor, command: str, args: Any,
            occurred_at: datetime | None, key: str | None, body: Any) -> Response:
    """Runs one command for `actor` under the write rules and answers it."""
    services = request.app.state.services
    desk = services.desk

    def run(command_id: str | None) -> Response:
        at = _at(request, actor, occurred_at)
        services.health.refuse_if_database_down()
        outcome = services.lanes.run(actor, args, lambda: desk.execute(
            command, args, at, command_id=command_id, actor=actor,
            clock=services.clock if at is None else None))
        position = outcome.position
        if position is None:  # a repeat: the events are stored at or before the head
            position = desk.recorder.max_notification_id() or 0
        answer = {"accepted": True, "repeated": outcome.repeated, "position": position,
                  "events": [{"type": t, "aggregate_id": a, "version": v}
                             for t, a, v in outcome.events]}
        return Response(orjson.dumps(answer), media_type="application/json")

    return answer_write(request, actor, key, body, run)


@router.post("/commands", response_model=CommandAnswer, summary="Run a command",
             description="Any command of the scenario format, with its arguments. "
                         "`agent` defaults to the calling agent; a customer's `customer` "
                         "defaults to its own.")
def run_command(request: Request, body: CommandRequest, actor: Caller,
                idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    return execute(request, actor, body.do, body.args, body.occurred_at, idempotency_key,
                   body.model_dump(mode="json"))


@router.post("/tickets", response_model=CommandAnswer, summary="Open a ticket",
             description="`open_ticket` with these arguments.")
def open_ticket(request: Request, args: dict[str, Any], actor: Caller,
                idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    return execute(request, actor, "open_ticket", args, None, idempotency_key, args)


@router.post("/disputes", response_model=CommandAnswer, summary="Dispute a charge",
             description="`open_dispute` with these arguments.")
def open_dispute(request: Request, args: dict[str, Any], actor: Caller,
                 idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    return execute(request, actor, "open_dispute", args, None, idempotency_key, args)
