"""Erasing a customer's personal data over HTTP (R-PRV-1, R-PRV-2): the desk admin's
`POST /v1/desks/{desk}/customers/{customer}/erase` with the request's reason.

The work is `supportlog erase`'s (`supportlog.privacy.erase`, reached through
`ApiServices.erase` so that no route imports the composition root): the role is checked
by the one table (`domain.access`, desk admin only), another desk's customer is not
found, `customer.erased` records the principal as its actor and as `by`, and the data
key is destroyed in the transaction that stores it. The write rules are every write's
(`writes.answer_write`): an `Idempotency-Key` answers a retry with the first answer, and
a refusal is a problem response. Erasing again answers 200 with `erased_before`.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from domain.actor import Actor
from supportlog.http.auth import ID_PATTERN, DeskPath, caller
from supportlog.http.models import Erased, EraseRequest
from supportlog.http.writes import IdempotencyKey, answer_write

router = APIRouter(prefix="/v1/desks/{desk}", tags=["privacy"])

Caller = Annotated[Actor, Depends(caller)]


@router.post("/customers/{customer}/erase", response_model=Erased,
             summary="Erase a customer's personal data (desk admin)",
             description="Records `customer.erased` (who, when, why) and destroys the "
                         "customer's data key with it: their name, e-mail, ticket "
                         "subjects and bodies and domains can never be read again, "
                         "anywhere; balances, charges, receipts and verification stay. "
                         "The reason is kept in the log for ever: give the request's "
                         "reference, never the customer's personal data.")
def erase(request: Request, desk: DeskPath,
          customer: Annotated[str, Path(pattern=ID_PATTERN)], body: EraseRequest,
          actor: Caller,
          idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    services = request.app.state.services

    def run(_command_id: str | None) -> Response:
        services.health.refuse_if_database_down()
        done = services.lanes.run(actor, {"customer": customer}, lambda: services.erase(
            customer, reason=body.reason, actor=actor))
        return Response(orjson.dumps(done.to_dict()), media_type="application/json")

    return answer_write(request, actor, idempotency_key, body.model_dump(mode="json"), run)
