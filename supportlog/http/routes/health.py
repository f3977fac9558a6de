"""Probes for whoever runs the server: `/healthz` (the process answers) and `/readyz`
(the database and the broker answer; how far the projector is behind the store).

Unauthenticated and outside `/v1`: a load balancer or an orchestrator asks them. They
say whether the servers answer and how many events the read models lack, nothing of
any desk's data.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from supportlog.http.models import Readiness
from supportlog.http.problems import RETRY_AFTER_S

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers",
            responses={200: {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"status": {"const": "ok"}},
                "required": ["status"]}}}}})
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, summary="The servers behind the API answer",
            responses={503: {"model": Readiness, "description": "The database or the broker "
                             "does not answer.", "headers": {"Retry-After": {
                                 "required": True, "schema": {"type": "string"}}}}})
def readyz(request: Request) -> Response:
    # The database is asked now; the broker's verdict is the monitor's, at most a few
    # seconds old (an unauthenticated probe must not open Kafka clients at will).
    report = request.app.state.services.health.check(broker=False)
    status = 200 if report.ready else 503
    headers = {} if report.ready else {"Retry-After": str(RETRY_AFTER_S)}
    return Response(orjson.dumps(report.to_dict()), status_code=status,
                    media_type="application/json", headers=headers)
