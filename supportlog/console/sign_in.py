"""Signing in and out of the console with an API token.

The token is posted once in a form body (never a URL, never logged: uvicorn's access
log is off and nothing here prints it) and exchanged for a session cookie: HttpOnly,
SameSite=Strict, Secure when served over HTTPS, scoped to /console. The sign-in form
carries its own CSRF token, checked against a cookie set with the form (there is no
session yet); signing out is a CSRF-checked POST that ends the session server-side.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from domain.errors import ForbiddenError
from supportlog.console.sessions import SESSION_HOURS
from supportlog.console.web import (
    COOKIE,
    SIGN_IN_COOKIE,
    check_csrf,
    current,
    home_of,
    refused,
    see_other,
    services_of,
    templates,
)

router = APIRouter(prefix="/console", include_in_schema=False)


def _set_cookie(request: Request, response: Response, name: str, value: str,
                max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def _sign_in_form(request: Request, message: str | None = None,
                  status: int = 200) -> Response:
    form_csrf = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, "sign_in.html", {"form_csrf": form_csrf, "message": message},
        status_code=status)
    _set_cookie(request, response, SIGN_IN_COOKIE, form_csrf, 3600)
    return response


@router.get("")
def console_home(request: Request) -> Response:
    """The sign-in form, or the signed-in principal's first page."""
    found = services_of(request).sessions.resolve(request.cookies.get(COOKIE))
    if found is None:
        return _sign_in_form(request)
    return see_other(home_of(found))


@router.post("/sign-in")
def sign_in(request: Request, token: Annotated[str, Form(max_length=300)],
            csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return _sign_in_form(request, "The form expired; please sign in again.", 403)
    made = services_of(request).sessions.sign_in(token)
    if made is None:
        return _sign_in_form(request, "This token is not accepted: it is unknown or "
                                      "revoked.", 401)
    session_id, session = made
    response = see_other(home_of(session))
    _set_cookie(request, response, COOKIE, session_id, SESSION_HOURS * 3600)
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    session = current(request)
    try:
        check_csrf(session, csrf)
    except ForbiddenError as e:  # a forged sign-out is refused like any other forged form
        return refused(request, session, e.code, e.message)
    services_of(request).sessions.sign_out(request.cookies.get(COOKIE) or "")
    response = see_other("/console")
    response.delete_cookie(COOKIE, path="/console")
    return response
