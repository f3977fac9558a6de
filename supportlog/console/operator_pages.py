"""The operator's page: store head, relay position, projector lag per partition, dead
letters with a retry button (a desk admin's), timers due in the next hour, SLA breaches
per week and plan as a chart, and a warning when the topic holds fewer events than were
relayed. It is the API's `GET /pipeline` and `POST /dead-letters/retry`
(`http.routes.pipeline`), with their role checks.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from domain.access import authorize_read, may
from domain.errors import SupportlogError
from supportlog.console.web import check_csrf, current, page
from supportlog.http.routes import pipeline

router = APIRouter(prefix="/console", include_in_schema=False)


def _chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Breaches per week (labels) with one series per plan."""
    weeks = sorted({r["week"] for r in rows})
    plans = sorted({r["plan"] for r in rows})
    counts = {(r["week"], r["plan"]): r["breaches"] for r in rows}
    return {"labels": weeks, "series": [
        {"label": plan, "data": [counts.get((w, plan), 0) for w in weeks]} for plan in plans]}


def _operator_page(request: Request, result: dict[str, Any] | None = None,
                   error: dict[str, Any] | None = None, status: int = 200) -> Response:
    session = current(request)
    actor = session.actor

    def build() -> dict[str, Any]:
        authorize_read(actor, "pipeline")
        report = pipeline.pipeline_report(request, actor.desk or "")
        return {"report": report, "chart": _chart(report["breaches_by_week"]),
                "may_retry": may(actor.role, "retry_dead_letters"), "result": result,
                "error": error}

    return page(request, session, "operator.html", build, status)


@router.get("/operator")
def operator_page(request: Request) -> Response:
    return _operator_page(request)


@router.post("/operator/retry")
async def retry(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_retry, request, form)


def _retry(request: Request, form: dict[str, str]) -> Response:
    session = current(request)
    try:
        check_csrf(session, form.get("csrf"))
    except SupportlogError as e:
        return _operator_page(request, error={"code": e.code, "message": e.message},
                              status=403)
    key = (form.get("key") or "")[:100] or None
    answer = pipeline.retry_dead_letters(request, session.actor.desk or "", session.actor,
                                         key)
    body = json.loads(bytes(answer.body))
    if answer.status_code == 200:
        return _operator_page(request, result=body)
    return _operator_page(request, error={"code": body.get("code"),
                                          "message": body.get("detail")},
                          status=answer.status_code)
