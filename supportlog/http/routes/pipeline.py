"""The pipeline as an operator watches it: store head, relay position, each projector
group's lag per partition, the dead letters (with a retry), the desk's timers due in the
next hour, its SLA breaches per week and plan, and whether the topic still holds what
the relay says it published.

The positions are `supportlog status`'s (`status.positions`); the topic's extent is
read from the broker (`eventlog.topic_reader.high_water_marks`): fewer records there
than the relay recorded producing means the topic was emptied or recreated under it,
which the positions alone cannot show (they would say "0 behind"). The topic is shared
by every desk, so its positions are not a desk's data; the dead letters are listed by
where they are and why, never with their content.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from consumers.dead_letter import list_quarantine, retry_quarantined
from domain.access import authorize_read
from domain.actor import Actor
from eventlog.topic_reader import high_water_marks
from projections import queries
from supportlog.http.auth import DeskPath, caller
from supportlog.http.routes.reads import read_models, reader
from supportlog.http.writes import IdempotencyKey, answer_write
from supportlog.status import positions

log = logging.getLogger("supportlog.http")

router = APIRouter(prefix="/v1/desks/{desk}", tags=["pipeline"])

#: Seconds the broker gets to tell the topic's extent before the page says "unknown".
EXTENT_TIMEOUT_S = 5.0


def _extent(services: Any) -> dict[int, int] | None:
    try:
        return high_water_marks(services.settings.kafka_bootstrap or "",
                                services.settings.topic, timeout_s=EXTENT_TIMEOUT_S)
    except Exception as e:  # the broker does not answer: the page says "unknown", and why
        log.warning("the topic's extent is unknown", extra={"error": repr(e)})
        return None


def topic_warning(relayed: int, held: int | None) -> str | None:
    """Returns a warning when the topic holds fewer records than the relay produced."""
    if held is None:
        return "the broker did not tell the topic's extent; it may be down"
    if held < relayed:
        return (f"the topic holds {held} events but {relayed} were relayed to it: it was "
                "emptied or recreated, and lag figures against it mean nothing until the "
                "relay publishes again from the store (supportlog relay --from 0)")
    return None


def pipeline_report(request: Request, desk: str) -> dict[str, Any]:
    """The operator's view of the pipeline for `desk` (see the module)."""
    services = request.app.state.services
    head = services.desk.recorder.max_notification_id() or 0
    now = services.clock()
    with read_models(request) as conn:
        status = positions(conn, services.settings.topic, head)
        dead = list_quarantine(conn, services.settings.topic, include_retried=False)
        timers = queries.timers_due(conn, desk, now + timedelta(hours=1), 200)
        breaches = queries.breaches_by_week(conn, desk)
    marks = _extent(services)
    relayed = sum(status.produced.values())
    held = sum(marks.values()) if marks is not None else None
    groups = [{"group_id": g.group_id, "lag": g.lag, "applied_through": g.applied_through,
               "behind_head": g.behind_head,
               "partitions": [{"partition": p.partition, "produced": p.produced,
                               "consumed": p.consumed, "lag": p.lag,
                               "held": marks.get(p.partition) if marks else None}
                              for p in g.partitions]}
              for g in status.groups]
    return {"topic": status.topic, "store_head": head,
            "relay_position": status.relay_position, "relayed": relayed, "held": held,
            "topic_warning": topic_warning(relayed, held), "groups": groups,
            "quarantine": status.quarantine,
            "dead_letters": [{"partition": r.partition, "offset": r.offset,
                              "event_type": r.event_type, "reason": r.reason,
                              "quarantined_at": r.quarantined_at.isoformat(),
                              "dead_lettered": r.dead_lettered_at is not None,
                              "last_retry_error": r.last_retry_error} for r in dead],
            "timers_next_hour": timers, "breaches_by_week": breaches,
            "at": now.isoformat()}


@router.get("/pipeline", response_model=dict[str, Any],
            summary="The pipeline's positions, lag, dead letters, timers and breaches")
def pipeline(request: Request, desk: DeskPath,
             actor: Annotated[Actor, Depends(reader("pipeline"))]) -> dict[str, Any]:
    return pipeline_report(request, desk)


@router.post("/dead-letters/retry", response_model=dict[str, Any],
             summary="Fold the dead letters again (after their problem is fixed)")
def retry_dead_letters(request: Request, desk: DeskPath,
                       actor: Annotated[Actor, Depends(caller)],
                       idempotency_key: Annotated[str | None, IdempotencyKey] = None,
                       ) -> Response:
    def run(_command_id: str | None) -> Response:
        authorize_read(actor, "retry_dead_letters")
        services = request.app.state.services
        with read_models(request) as conn:
            report = retry_quarantined(conn, services.settings.topic)
        return Response(orjson.dumps(report.to_dict()), media_type="application/json")

    return answer_write(request, actor, idempotency_key, None, run)
