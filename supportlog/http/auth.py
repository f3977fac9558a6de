"""Who is calling: the one dependency every `/v1/desks/{desk}` route declares.

It turns the request into the principal (`domain.actor.Actor`) with the first
authenticator that recognises it (today a bearer token; the web console will add a
session cookie here, and nothing downstream changes), then takes one request from the
principal's rate limit, then checks the desk in the path: a desk other than the
principal's does not exist for it (404 `unknown_desk`, R-ACL-2). No principal: 401 and
nothing more (R-ACL-4). What the principal's role may do is `domain.access`'s to say,
asked by each route (reads) or by the desk itself (commands).

Declared with FastAPI's `Security`, so the bearer scheme is in the OpenAPI document on
exactly the routes that check it.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.actor import Actor
from supportlog.http.problems import UnauthenticatedError, UnknownDeskError
from supportlog.principals import Principals

#: Ids in paths: printable, at most 200 characters (what `domain.commands.args.ident`
#: accepts, less the control characters PostgreSQL text cannot hold).
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"

bearer = HTTPBearer(
    auto_error=False, scheme_name="bearer", bearerFormat="sl.<principal>.<secret>",
    description="A token from `supportlog token create` or `POST /v1/desks/{desk}/tokens`;"
                " one principal of one desk.")

DeskPath = Annotated[str, Path(description="The desk (its policy profile id).",
                               pattern=ID_PATTERN, examples=["cart-power"])]


class Authenticator(Protocol):
    """One way a request can prove its principal (a bearer token; later a session)."""

    def authenticate(self, request: Request,
                     credentials: HTTPAuthorizationCredentials | None) -> Actor | None: ...


class BearerTokens:
    """Authenticates `Authorization: Bearer <token>` with the token service."""

    def __init__(self, principals: Principals):
        self.principals = principals

    def authenticate(self, request: Request,
                     credentials: HTTPAuthorizationCredentials | None) -> Actor | None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            return None
        return self.principals.authenticate(credentials.credentials)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def caller(request: Request, desk: DeskPath, credentials: Credentials = None) -> Actor:
    """Returns the principal calling, counted against its rate limit; raises
    UnauthenticatedError (401) or UnknownDeskError (404). A route's dependency, so it
    runs before the body is validated: without a token, nothing else is answered."""
    services = request.app.state.services
    actor = None
    for authenticator in services.authenticators:
        actor = authenticator.authenticate(request, credentials)
        if actor is not None:
            break
    if actor is None:
        raise UnauthenticatedError("a valid bearer token is required")
    services.limiter.take(actor.id)
    if not actor.sees(desk):
        raise UnknownDeskError(f"no desk {desk!r}")
    return actor
