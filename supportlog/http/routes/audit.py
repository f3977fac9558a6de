"""Reads from the log itself (R-AUD): a charge's receipt, a customer's state as of an
instant, and a what-if replay of the desk's history under changed policy values.

These read the event store, not the read models, with the very functions the command
line uses (`replay.charge_audit`, `replay.as_of`, `replay.what_if`), so the API's
receipt is `supportlog audit charge --json`. A what-if replays the whole desk into
databases of its own: it is heavy, so the server runs one at a time and answers 503
`busy` to a second one meanwhile.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime

from domain.access import sees_personal_data
from domain.actor import Actor, guard_owner
from domain.base import utc
from domain.errors import InvalidArgumentError
from domain.personal import withheld
from domain.policy.profile import PolicyProfile
from replay.as_of import customer_as_of
from replay.charge_audit import ChargeAuditor, UnknownChargeError
from replay.profiles import AdoptedProfiles
from replay.what_if import set_path, what_if
from supportlog.http.auth import ID_PATTERN, DeskPath
from supportlog.http.models import WhatIfRequest
from supportlog.http.problems import NotFoundError, UnavailableError
from supportlog.http.routes.reads import read_models, reader

router = APIRouter(prefix="/v1/desks/{desk}", tags=["audit"])

Id = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("/charges/{ticket}/{n}", response_model=dict[str, Any],
            summary="A charge's receipt from the log (R-AUD-1)",
            description="The receipt `supportlog audit charge <ticket>/<n> --json` prints.")
def receipt(request: Request, desk: DeskPath, ticket: Id,
            n: Annotated[int, Path(ge=1, le=1_000_000)],
            actor: Annotated[Actor, Depends(reader("receipt"))]) -> dict[str, Any]:
    charge_id = f"{ticket}/{n}"
    services = request.app.state.services
    # The ticket's subject, in plain text to whom may read it (R-PRV-1), else withheld.
    reveal = (lambda customer, *value: services.revealer(customer)(*value)) \
        if sees_personal_data(actor) else withheld
    try:
        found = ChargeAuditor(services.desk, reveal).receipt(charge_id)
    except UnknownChargeError:
        found = None
    if found is None or found.tenant != desk:
        raise NotFoundError("unknown_charge", f"no charge {charge_id!r}")
    guard_owner(actor, found.customer, f"charge {charge_id!r}")
    return found.to_dict()


@router.get("/customers/{customer}/as-of", response_model=dict[str, Any],
            summary="A customer's state as it stood at an instant (R-AUD-2)")
def as_of(request: Request, desk: DeskPath, customer: Id,
          at: Annotated[AwareDatetime, Query(description="The instant (ISO 8601, offset)")],
          actor: Annotated[Actor, Depends(reader("as_of"))]) -> dict[str, Any]:
    try:
        instant = utc(at)
    except (ValueError, OverflowError) as e:
        raise InvalidArgumentError("at is not an instant this server can hold") from e
    store = request.app.state.services.desk
    with read_models(request) as conn:
        state = customer_as_of(store, customer, instant, conn, AdoptedProfiles(store))
    if state is None or state.tenant != desk:
        raise NotFoundError("unknown_customer",
                            f"no customer {customer!r} was registered at {instant}")
    return state.to_dict()


@router.post("/what-if", response_model=dict[str, Any],
             summary="Replay this desk's history under changed values (R-AUD-4)",
             description="Runs for as long as the replay takes; one at a time per server.")
def run_what_if(request: Request, desk: DeskPath, body: WhatIfRequest,
                actor: Annotated[Actor, Depends(reader("what_if"))]) -> dict[str, Any]:
    services = request.app.state.services
    current = services.desk.profile_for(desk)
    data = json.loads(json.dumps(dict(current.data)))
    for path, value in body.set.items():
        set_path(data, path, value)
    changes = ", ".join(f"{k}={json.dumps(v)}" for k, v in body.set.items()) or "no change"
    changed = PolicyProfile.from_data(data, f"{current.source} with {changes}")
    if not services.what_if_slots.acquire(blocking=False):
        raise UnavailableError("busy", "another what-if is running on this server; try "
                               "again when it is done")
    try:
        with services.isolated("whatif") as isolated, (
                services.isolated("baseline") if body.baseline else nullcontext()) as ref:
            report = what_if(services.desk, isolated, changed, baseline=ref,
                             start=body.from_, end=body.to, tenant=desk)
    finally:
        services.what_if_slots.release()
    return report.to_dict()
