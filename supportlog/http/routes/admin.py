"""Desk administration: the desk's principals and tokens, and adopting its policy
profile. Only a desk admin (R-ACL-3), and only on its own desk.

The token service (`supportlog.principals`) does the work, as for `supportlog token`;
a new token is in the response to its creation and nowhere else.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from domain.access import authorize_read
from domain.actor import Actor
from domain.errors import ForbiddenError, InvalidArgumentError
from domain.policy.profile import PolicyProfile, builtin_profile
from supportlog.http.auth import ID_PATTERN, DeskPath, caller
from supportlog.http.models import Adopted, AdoptRequest, NewPrincipal, PrincipalOut, TokenRequest
from supportlog.http.routes.reads import reader
from supportlog.http.writes import IdempotencyKey, answer_write

router = APIRouter(prefix="/v1/desks/{desk}", tags=["administration"])

Caller = Annotated[Actor, Depends(caller)]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.get("/tokens", response_model=list[PrincipalOut], summary="The desk's principals")
def list_tokens(request: Request, desk: DeskPath,
                actor: Annotated[Actor, Depends(reader("list_tokens"))]) -> list[Any]:
    return [r.to_dict() for r in request.app.state.services.principals.list(desk, actor)]


@router.post("/tokens", response_model=NewPrincipal, status_code=201,
             summary="Issue a principal and its token (shown once)")
def create_token(request: Request, desk: DeskPath, body: TokenRequest, actor: Caller,
                 idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    def run(_command_id: str | None) -> Response:
        authorize_read(actor, "create_token")
        record, token = request.app.state.services.principals.create(
            desk=desk, role=body.role, customer=body.customer, name=body.name, by=actor)
        return _json({**record.to_dict(), "token": token}, 201)

    return answer_write(request, actor, idempotency_key, body.model_dump(mode="json"), run,
                        kept=_without_token)


def _without_token(body: bytes) -> bytes:
    """A new principal's answer as kept for retries: the token is shown once, and stored
    only as a hash (in `principals`), never in the idempotency keys."""
    return orjson.dumps({**orjson.loads(body), "token": None})


@router.delete("/tokens/{principal}", response_model=PrincipalOut,
               summary="Revoke a principal's token at once")
def revoke_token(request: Request, desk: DeskPath,
                 principal: Annotated[str, Path(pattern=ID_PATTERN)], actor: Caller,
                 idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    def run(_command_id: str | None) -> Response:
        record = request.app.state.services.principals.revoke(principal, actor)
        return _json(record.to_dict())

    return answer_write(request, actor, idempotency_key, None, run)


def _profile(desk: str, body: AdoptRequest) -> PolicyProfile:
    """The profile asked for: a document, or a built-in version of this desk's profile
    (never a file: the server's files are not the caller's to name)."""
    if (body.profile is None) == (body.document is None):
        raise InvalidArgumentError("give either profile (id@version) or document")
    if body.document is not None:
        return PolicyProfile.from_data(body.document, "document adopted through the API")
    name, _, version = (body.profile or "").partition("@")
    if name != desk:
        raise ForbiddenError(f"desk {desk} adopts only its own profile, not {name}")
    if version and not version.isdigit():
        raise InvalidArgumentError("a built-in profile is written id@version, e.g. "
                                   f"{desk}@1")
    return builtin_profile(name, int(version or 1))


@router.post("/profile", response_model=Adopted, summary="Adopt a policy profile",
             description="A built-in version of this desk's profile, or a whole profile "
                         "document; adopting is an event, and history keeps the version "
                         "in force at each instant.")
def adopt(request: Request, desk: DeskPath, body: AdoptRequest, actor: Caller,
          idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response:
    def run(_command_id: str | None) -> Response:
        authorize_read(actor, "adopt_profile")
        chosen = _profile(desk, body)
        if chosen.id != desk:
            raise ForbiddenError(f"desk {desk} adopts only its own profile, not {chosen.id}")
        services = request.app.state.services
        changed = services.desk.adopt(chosen, services.clock(), actor=actor)
        return _json({"profile": chosen.id, "version": chosen.version,
                      "digest": chosen.digest, "adopted": changed})

    return answer_write(request, actor, idempotency_key, body.model_dump(mode="json"), run)
