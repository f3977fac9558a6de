"""The OpenAPI 3.1 document: FastAPI's, from the routes' own declarations, with every
error response described once and referenced by each operation that can give it.

FastAPI describes the successes, the parameters, the bodies and the bearer scheme from
the code that handles them; this adds the problem responses as
`components/responses` (RFC 9457 `application/problem+json`, with `Retry-After` where
it is always sent) and replaces FastAPI's own 422 validation error, which this API
answers as 400 `invalid_argument` instead. Which errors an operation lists follows
from what it is: every desk route can meet 400, 401, 403, 404, 429 and 503; a write
also 409, 413 and 422; a read that can wait for the projector (`?after=`) also 504.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from supportlog.http.problems import PROBLEM_JSON, STATUS, Problem

#: Status -> (component name, description).
ERRORS: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "Malformed: a missing, unknown or invalid field, parameter or "
            "header (`invalid_argument`), named in `detail`."),
    "401": ("Unauthenticated", "No bearer token, or one that names no active principal "
            "(`unauthenticated`)."),
    "403": ("Forbidden", "The principal's role may not do this (`forbidden`, R-ACL-3), "
            "or it is another customer's (`not_owner`, R-ACL-2)."),
    "404": ("NotFound", "No such desk, customer, ticket, charge, dispute or principal: "
            "another desk's is answered the same way (`unknown_*`, R-ACL-2)."),
    "409": ("Conflict", "Not possible now: the state does not allow it "
            "(`invalid_transition`), the id is taken (`duplicate_id`), a concurrent change "
            "won (`conflict`, retry), or a request with this key is still running "
            "(`idempotency_key_in_use`, retry)."),
    "413": ("PayloadTooLarge", "The body is larger than 1 MiB (`payload_too_large`)."),
    "422": ("Refused", "A rule refuses it (`banned`, `insufficient_credits`, "
            "`request_limit_reached`, `department_not_allowed`, ...), or the "
            "Idempotency-Key answered another request (`idempotency_key_reused`)."),
    "429": ("RateLimited", "Too many requests for this token (`rate_limited`); see "
            "`Retry-After`."),
    "503": ("Unavailable", "The database or broker does not answer, or the server is busy "
            "(`database_unavailable`, `broker_unavailable`, `busy`); see `Retry-After`."),
    "504": ("ProjectionLag", "The read models did not reach `?after=` in time "
            "(`projection_lag`); retry."),
}
_RETRY_AFTER = {"Retry-After": {"required": True, "description": "Seconds to wait.",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_ALWAYS = ("400", "401", "403", "404", "429", "503")
_WRITES = ("409", "413", "422")


def _component(status: str, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status in ("429", "503"):
        response["headers"] = dict(_RETRY_AFTER)
    if status == "401":
        response["headers"] = {"WWW-Authenticate": {"required": True,
                                                    "schema": {"type": "string"}}}
    return response


def _errors_of(method: str, operation: dict[str, Any]) -> tuple[str, ...]:
    names = {p.get("name") for p in operation.get("parameters", [])}
    statuses = [*_ALWAYS]
    if method in ("post", "put", "patch", "delete"):
        statuses += _WRITES
    if "after" in names:
        statuses.append("504")
    return tuple(sorted(statuses))


def build(app: FastAPI) -> dict[str, Any]:
    """Returns (and caches on the app) the document."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, openapi_version="3.1.0",
                           description=app.description, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem = Problem.model_json_schema()
    problem["properties"]["code"]["enum"] = sorted(STATUS)
    schemas["Problem"] = problem
    components["responses"] = {name: _component(status, text)
                               for status, (name, text) in ERRORS.items()}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if not path.startswith("/v1/desks/"):
                continue
            for status in _errors_of(method, operation):
                responses[status] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    app.openapi_schema = document
    return document
