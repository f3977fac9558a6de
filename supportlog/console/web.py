"""The console's plumbing: who is signed in (the session cookie), CSRF on every form,
the templates, security headers, and turning a refusal into a page that says why.

Every page resolves its principal from the cookie (`ConsoleSessions`), takes one
request from the principal's rate limit as the API does, and then asks the API's own
route functions or the desk, which check the role, the desk and ownership (R-ACL): a
refusal comes back as the API's error, shown with its code and message. Nothing is
hidden to protect it; forms a role may not use are simply left off to keep the page
short. Responses forbid framing, caching and every source but this server
(Content-Security-Policy), so nothing on a page is fetched from elsewhere.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.access import may
from domain.errors import ForbiddenError, SupportlogError
from supportlog.console.sessions import Session
from supportlog.http.problems import STATUS

HERE = Path(__file__).parent
#: The session cookie: a random id (never the token), HttpOnly, SameSite=Strict.
COOKIE = "sl_console"
#: The sign-in form's own CSRF cookie (double submit: there is no session yet).
SIGN_IN_COOKIE = "sl_console_sign_in"

templates = Jinja2Templates(directory=HERE / "templates")

#: Every source a console page may use: this server, nothing else.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'; object-src 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-store"}


class NotSignedInError(Exception):
    """Raised when a console page is asked for without a live session."""


class SecurityHeaders:
    """Adds `HEADERS` to every response under /console."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name.lower().encode() not in names:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def services_of(request: Request) -> Any:
    return request.app.state.services


def current(request: Request) -> Session:
    """Returns the signed-in session, counted against its principal's rate limit;
    raises NotSignedInError (the page sends the browser to sign in)."""
    services = services_of(request)
    found = services.sessions.resolve(request.cookies.get(COOKIE))
    if found is None:
        raise NotSignedInError
    services.limiter.take(found.actor.id)
    return found


def check_csrf(session: Session, given: str | None) -> None:
    """Raises ForbiddenError unless a form carried the session's CSRF token."""
    if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise ForbiddenError("the form was not sent from this console session (CSRF "
                             "token missing or wrong); reload the page and try again")


def timezone_of(request: Request, desk: str | None) -> ZoneInfo:
    """The desk's timezone (its calendar's), UTC when it has no profile yet."""
    if desk is None:
        return ZoneInfo("UTC")
    try:
        profile = services_of(request).desk.profile_for(desk)
        return ZoneInfo(profile.data["calendar"]["timezone"])
    except (SupportlogError, KeyError, LookupError):
        return ZoneInfo("UTC")


def local(value: Any, tz: ZoneInfo) -> str:
    """An instant (ISO text or datetime) in the desk's timezone, to the second."""
    if value in (None, ""):
        return "—"
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) \
        else value
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


templates.env.filters["local"] = local


def nav(session: Session) -> list[tuple[str, str]]:
    """The links of the page header that the principal's role can use."""
    actor = session.actor
    links = []
    if may(actor.role, "queue"):
        links.append(("Queue", "/console/queue"))
    if actor.role == "customer":
        links.append(("My account", f"/console/customers/{actor.customer}"))
    links.append(("Disputes", "/console/disputes"))
    if may(actor.role, "as_of"):
        links.append(("As of", "/console/as-of"))
    if may(actor.role, "pipeline"):
        links.append(("Pipeline", "/console/operator"))
    return links


def page(request: Request, session: Session, template: str,
         build: Callable[[], dict[str, Any]], status: int = 200) -> Response:
    """Renders `template` with what `build` returns, or, if the API refuses, the error
    page with the API's code and message and its HTTP status."""
    tz = timezone_of(request, session.actor.desk)
    common = {"me": session.actor, "csrf": session.csrf, "nav": nav(session), "tz": tz,
              "tz_name": str(tz), "form_key": secrets.token_urlsafe(16)}
    try:
        context = build()
    except SupportlogError as e:
        return refused(request, session, e.code, e.message, common)
    return templates.TemplateResponse(request, template, {**common, **context},
                                      status_code=status)


def refused(request: Request, session: Session | None, code: str, message: str,
            common: dict[str, Any] | None = None) -> Response:
    """The error page: the API's code and message, with its HTTP status."""
    status, title = STATUS.get(code, (500, "Internal error"))
    context = dict(common or {})
    if session is not None and not context:
        context = {"me": session.actor, "csrf": session.csrf, "nav": nav(session)}
    return templates.TemplateResponse(
        request, "error.html",
        {**context, "code": code, "title": title, "message": message, "status": status},
        status_code=status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def home_of(session: Session) -> str:
    """Where a principal lands after signing in."""
    actor = session.actor
    if actor.role == "customer":
        return f"/console/customers/{actor.customer}"
    if may(actor.role, "queue") and actor.role != "auditor":
        return "/console/queue"
    return "/console/disputes"


def install(app: FastAPI) -> None:
    """Adds the console's pages, its static files and its headers to `app`."""
    from supportlog.console import audit_pages, operator_pages, pages, sign_in

    async def not_signed_in(_request: Request, _error: Exception) -> Response:
        return see_other("/console")

    app.add_exception_handler(NotSignedInError, not_signed_in)
    for module in (sign_in, pages, audit_pages, operator_pages):
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(SecurityHeaders)
