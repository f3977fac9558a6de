"""Errors as RFC 9457 problem details: one table from the project's error codes to HTTP
statuses, the response body, and the exception handlers that use them.

Every error the API answers is `application/problem+json` with `type`, `title`,
`status`, `detail` and the project's stable `code` (the same codes as the command line
and the scenario files, `domain.errors`), so a client branches on `code`, never on the
text. A code this table does not know is a bug and answers 500, loudly logged; nothing
a client can send should reach it. A database that does not answer is 503 with
`Retry-After`, whatever the route was doing.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import psycopg
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from domain.errors import SupportlogError

log = logging.getLogger("supportlog.http")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://supportlog.example/problems/"
#: Seconds a client is told to wait before trying again after a 503 or 429.
RETRY_AFTER_S = 5


class Problem(BaseModel):
    """An RFC 9457 problem detail, with the project's error code."""

    type: str = Field(description="A URI naming the kind of problem: the base plus `code`.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What happened in this case, for people.")
    code: str = Field(description="The stable error code programs branch on.")


class UnauthenticatedError(SupportlogError):
    """Raised when a request carries no bearer token, or one that names no active
    principal (R-ACL-4): the answer never says which."""

    code = "unauthenticated"


class UnknownDeskError(SupportlogError):
    """Raised when the path names a desk other than the token's: to the caller it does
    not exist (R-ACL-2), exactly like a desk nobody founded."""

    code = "unknown_desk"


class NotFoundError(SupportlogError):
    """Raised when a read finds nothing (or only another desk's data, R-ACL-2); `code`
    is set per resource (`unknown_ticket`, `unknown_charge`, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class RateLimitedError(SupportlogError):
    """Raised when a token has used up its requests for now."""

    code = "rate_limited"
    retriable = True

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IdempotencyKeyInUseError(SupportlogError):
    """Raised when a request with the same Idempotency-Key is still being answered."""

    code = "idempotency_key_in_use"
    retriable = True


class ProjectionLagError(SupportlogError):
    """Raised when the read models did not reach `?after=` within the wait."""

    code = "projection_lag"
    retriable = True


class UnavailableError(SupportlogError):
    """Raised when a server behind the API does not answer (`database_unavailable`,
    `broker_unavailable`) or the server is too busy (`busy`)."""

    retriable = True

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


#: HTTP status and title of every code the API answers with.
STATUS: dict[str, tuple[int, str]] = {
    "invalid_argument": (400, "Invalid argument"),
    "unauthenticated": (401, "Authentication required"),
    "forbidden": (403, "Forbidden"),
    "not_owner": (403, "Not yours"),
    "unknown_desk": (404, "No such desk"),
    "unknown_customer": (404, "No such customer"),
    "unknown_ticket": (404, "No such ticket"),
    "unknown_charge": (404, "No such charge"),
    "unknown_dispute": (404, "No such dispute"),
    "unknown_principal": (404, "No such principal"),
    "not_found": (404, "No such resource"),
    "method_not_allowed": (405, "Method not allowed"),
    "duplicate_id": (409, "Id already taken"),
    "invalid_transition": (409, "Not possible in the current state"),
    "conflict": (409, "Concurrent change"),
    "idempotency_key_in_use": (409, "Idempotency key in use"),
    "customer_erased": (409, "Customer erased"),
    "payload_too_large": (413, "Request body too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "banned": (422, "Banned"),
    "request_limit_reached": (422, "Request limit reached"),
    "department_not_allowed": (422, "Department not allowed"),
    "written_request_required": (422, "Written request required"),
    "anonymous_not_accepted": (422, "Anonymous customers not accepted"),
    "insufficient_credits": (422, "Insufficient credits"),
    "channel_not_offered": (422, "Channel not offered"),
    "idempotency_key_reused": (422, "Idempotency key reused"),
    "rate_limited": (429, "Too many requests"),
    "database_unavailable": (503, "Database unavailable"),
    "broker_unavailable": (503, "Broker unavailable"),
    "busy": (503, "Busy"),
    "master_key": (503, "Master key unavailable"),
    "projection_lag": (504, "Read models behind"),
}


def problem_response(code: str, detail: str, headers: dict[str, str] | None = None,
                     status: int | None = None) -> Response:
    """Returns the problem+json response of `code` (500 if the table lacks it)."""
    known_status, title = STATUS.get(code, (500, "Internal error"))
    status = status or known_status
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail,
            "code": code}
    extra = dict(headers or {})
    if status in (429, 503) and "Retry-After" not in extra:
        extra["Retry-After"] = str(RETRY_AFTER_S)
    if status == 401:
        extra["WWW-Authenticate"] = 'Bearer realm="supportlog"'
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON,
                    headers=extra)


def error_response(error: SupportlogError) -> Response:
    """Returns the problem response of a typed error."""
    headers = {}
    if isinstance(error, RateLimitedError):
        headers["Retry-After"] = str(error.retry_after_s)
    if error.code not in STATUS:
        log.error("an error code with no HTTP status", extra={"code": error.code})
    return problem_response(error.code, error.message, headers)


def _unavailable(_request: Request, error: Exception) -> Response:
    log.warning("the database does not answer", extra={"error": repr(error)})
    return problem_response("database_unavailable",
                            "the database does not answer; try again shortly")


def _supportlog_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, SupportlogError)
    return error_response(error)


def _validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return problem_response("invalid_argument", _describe(error.errors()))


def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
            415: "unsupported_media_type"}.get(error.status_code, "invalid_argument")
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    return problem_response(code, detail, dict(error.headers or {}))


def _data_error(_request: Request, error: Exception) -> Response:
    return problem_response("invalid_argument",
                            f"a value the database cannot store: {str(error)[:200]}")


def _describe(errors: Any) -> str:
    """One line naming each bad field, as the command parser does."""
    parts = []
    for e in list(errors)[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every expected failure into a problem."""
    app.add_exception_handler(SupportlogError, _supportlog_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in (psycopg.errors.DataError, persistence.DataError, UnicodeError):
        app.add_exception_handler(error, _data_error)
    for error in (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout,
                  persistence.OperationalError, persistence.InterfaceError):
        app.add_exception_handler(error, _unavailable)
