"""The ASGI application: FastAPI with the API's routes, its problem responses, a body
size limit and the background work of `ApiServices`, built from what the composition
root gathered (`System.api`). Nothing here connects to anything: the services do.

Routes by area: `routes.commands` (commands, open a ticket, dispute a charge),
`routes.reads` (tickets, accounts, charges, disputes, queues, the caller),
`routes.audit` (receipts, as-of, what-if), `routes.admin` (tokens, profile),
`routes.privacy` (erasure), `routes.pipeline` (positions, lag, dead letters) and
`routes.health` (probes). The web console (`supportlog.console`) is mounted under
`/console`, outside the document. The document is at `/v1/openapi.json` (`openapi`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportlog.http import openapi, problems
from supportlog.http.routes import admin, audit, commands, health, pipeline, privacy, reads
from supportlog.http.services import ApiServices

#: The largest request body accepted (the largest command or profile is a few KiB).
MAX_BODY_BYTES = 1 << 20

DESCRIPTION = """\
The network door of a supportlog desk: commands in the scenario format's vocabulary,
reads of tickets, accounts, charges (with receipts from the log), disputes and queues,
as-of states and what-if replays. Every `/v1/desks/{desk}` route needs a bearer token of
a principal of that desk; what each role may do is the table in docs/api.md (R-ACL).
Errors are RFC 9457 problem details with a stable `code`. Writes take an
`Idempotency-Key` and answer a `position` that reads take as `?after=`."""


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413, whether announced by
    Content-Length or streamed in chunks."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                response = problems.problem_response(
                    "payload_too_large" if value.isdigit() else "invalid_argument",
                    f"the body may hold at most {self.limit} bytes")
                await response(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"the body may hold at most {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def create_app(services: ApiServices | None) -> FastAPI:
    """Returns the API serving `services`; its lifespan starts and stops their
    background work. Without services it can only describe itself (`openapi_document`)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        assert services is not None, "an API without services cannot serve"
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(title="supportlog API", version=_version(), description=DESCRIPTION,
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.services = services
    problems.install(app)
    for module in (commands, reads, audit, pipeline, admin, privacy, health):
        app.include_router(module.router)
    if services is not None:
        from supportlog.console.web import install as install_console

        install_console(app)

    def document() -> dict[str, Any]:
        return openapi.build(app)

    app.openapi = document  # type: ignore[method-assign]
    app.add_middleware(BodyLimit)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built without connecting to anything (`schema export`)."""
    return openapi.build(create_app(None))


def _version() -> str:
    try:
        return metadata.version("supportlog")
    except metadata.PackageNotFoundError:
        return "0"
