"""The agent's pages: the queue of each department, a ticket with its timeline, work log
and charges and the forms of the agent commands, and a customer's account with its
balance over time (also the auditor's and, for its own account, the customer's).

Each page reads through the API's route functions (`http.routes.reads`) with the
signed-in principal, after the same role check (`authorize_read`); each form runs the
command through the API's write path (`http.routes.commands.execute`: idempotency key,
the desk's role and ownership checks, the server's clock), so a refusal is the API's,
shown with its message. After a write the page is read with `?after=` its position, so
the change is on it.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from domain.access import AGENT_WORK, authorize_read, may
from domain.errors import SupportlogError
from projections import queries
from supportlog.console.web import (
    check_csrf,
    current,
    local,
    page,
    see_other,
    services_of,
    timezone_of,
)
from supportlog.http.routes import commands, reads

router = APIRouter(prefix="/console", include_in_schema=False)

#: Tickets shown per department.
QUEUE_LIMIT = 100
#: The agent commands a ticket page offers, in the order of its forms.
TICKET_COMMANDS = ("agent_reply", "log_work", "notify_customer", "solve_ticket",
                   "decline_ticket", "forward_ticket")
#: Reasons to stop processing (R-TKT-7), offered in the decline form.
DECLINE_REASONS = ("info_not_provided", "access_not_provided", "cannot_reproduce",
                   "multiple_problems", "hosting_requirements", "abusive_dialogue",
                   "code_modified_by_third_party", "out_of_scope", "third_party_service",
                   "customer_refused_action")
WORK_KINDS = ("investigation", "modification", "consultation")
CLASSIFICATIONS = ("own_addon_bug", "third_party_addon", "third_party_software",
                   "customization", "configuration", "question")


async def fresh(request: Request, after: int | None) -> None:
    """Waits until the read models include store position `after` (a write's), as the
    API's `?after=` does; past the API's wait the page shows what there is."""
    if after:
        # Past the wait the page shows what there is rather than an error.
        with contextlib.suppress(SupportlogError):
            await services_of(request).watch.wait_for(after)


# --- the queue ---------------------------------------------------------------------------

def _departments(request: Request, desk: str) -> list[str]:
    try:
        return list(services_of(request).desk.profile_for(desk).data["departments"])
    except (SupportlogError, KeyError):
        return ["technical"]


@router.get("/queue")
def queue(request: Request) -> Response:
    session = current(request)
    actor = session.actor

    def build() -> dict[str, Any]:
        authorize_read(actor, "queue")
        desk = actor.desk or ""
        with reads.read_models(request) as conn:
            board = [(d, queries.queue_board(conn, desk, d, QUEUE_LIMIT))
                     for d in _departments(request, desk)]
        return {"board": board, "now": services_of(request).clock().isoformat()}

    return page(request, session, "queue.html", build)


# --- a ticket ----------------------------------------------------------------------------

def _summary(data: dict[str, Any]) -> str:
    """An event's data in one line: its scalar fields, nested ones in short JSON."""
    parts = []
    for key, value in data.items():
        if key in ("ticket", "customer") or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        parts.append(f"{key}={text if len(text) <= 80 else text[:77] + '...'}")
    return ", ".join(parts)


def _ticket_context(request: Request, actor: Any, ticket: str) -> dict[str, Any]:
    desk = actor.desk or ""
    authorize_read(actor, "ticket")
    row = reads.ticket(request, desk, ticket, actor)
    events = reads.ticket_events(request, desk, ticket, actor)
    profile = services_of(request).desk.profile_for(desk)
    timeline = [{"type": e["type"], "at": e["at"],
                 "who": f"{e['actor']['role']} {e['actor']['id']}" if e["actor"] else "—",
                 "what": _summary(e["data"])} for e in events]
    return {"ticket": row, "timeline": timeline,
            "charges": [w for w in row["work_log"] if w["charge_id"]],
            "forms": [c for c in TICKET_COMMANDS if may(actor.role, c)],
            "notices": profile.notice_names(), "reasons": DECLINE_REASONS,
            "kinds": WORK_KINDS, "classifications": CLASSIFICATIONS,
            "may_see_account": may(actor.role, "customer")}


@router.get("/tickets/{ticket}")
async def ticket_page(request: Request, ticket: str, after: int | None = None,
                      done: str | None = None) -> Response:
    await fresh(request, after)
    return await run_in_threadpool(_ticket_page, request, ticket, done)


def _ticket_page(request: Request, ticket: str, done: str | None,
                 error: dict[str, Any] | None = None, status: int = 200) -> Response:
    session = current(request)

    def build() -> dict[str, Any]:
        context = _ticket_context(request, session.actor, ticket)
        return {**context, "done": done if done in AGENT_WORK else None, "error": error}

    return page(request, session, "ticket.html", build, status)


def command_args(command: str, ticket: str, form: dict[str, str]) -> dict[str, Any]:
    """The API arguments of a ticket form (the API checks them; a number that is not
    one is passed as typed, so the API's message names it)."""
    args: dict[str, Any] = {"ticket": ticket}

    def number(name: str) -> None:
        value = (form.get(name) or "").strip()
        if value:
            try:
                args[name] = int(value)
            except ValueError:
                try:
                    args[name] = float(value)
                except ValueError:
                    args[name] = value

    if command == "agent_reply":
        args["waiting_on_customer"] = form.get("waiting_on_customer") == "on"
    elif command == "log_work":
        number("minutes")
        args["kind"] = form.get("kind")
        if form.get("classification"):
            args["classification"] = form["classification"]
    elif command == "notify_customer":
        args["notice"] = form.get("notice")
    elif command == "decline_ticket":
        args["reason"] = (form.get("reason") or "").strip()
    elif command == "forward_ticket":
        args["to"] = form.get("to")
        number("estimate_hours")
    return args


@router.post("/tickets/{ticket}/do/{command}")
async def ticket_command(request: Request, ticket: str, command: str) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_ticket_command, request, ticket, command, form)


def _ticket_command(request: Request, ticket: str, command: str,
                    form: dict[str, str]) -> Response:
    session = current(request)
    try:
        check_csrf(session, form.get("csrf"))
    except SupportlogError as e:
        return _ticket_page(request, ticket, None, {"code": e.code, "message": e.message},
                            403)
    if command not in TICKET_COMMANDS:
        return _ticket_page(request, ticket, None, {
            "code": "invalid_argument", "message": f"no ticket form {command!r}"}, 400)
    args = command_args(command, ticket, form)
    key = (form.get("key") or "")[:100] or None
    answer = commands.execute(request, session.actor, command, args, None, key,
                              {"do": command, "args": args})
    body = json.loads(bytes(answer.body))
    if answer.status_code == 200:
        return see_other(f"/console/tickets/{ticket}?after={body['position']}&done={command}")
    return _ticket_page(request, ticket, None,
                        {"code": body.get("code"), "message": body.get("detail"),
                         "command": command}, answer.status_code)


# --- a customer's account ----------------------------------------------------------------

def _next_month(month: str | None) -> str | None:
    if not month:
        return None
    year, number = (int(x) for x in month.split("-"))
    return (date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)).isoformat()


@router.get("/customers/{customer}")
async def customer_page(request: Request, customer: str, after: int | None = None
                        ) -> Response:
    await fresh(request, after)
    return await run_in_threadpool(_customer_page, request, customer)


def _customer_page(request: Request, customer: str) -> Response:
    session = current(request)
    actor = session.actor

    def build() -> dict[str, Any]:
        desk = actor.desk or ""
        tz = timezone_of(request, desk)
        authorize_read(actor, "customer")
        account = reads.customer(request, desk, customer, actor)
        ledger = reads.ledger(request, desk, customer, actor)
        authorize_read(actor, "charges")
        charges = reads.charges(request, desk, customer, actor)
        authorize_read(actor, "disputes")
        disputes = reads.disputes(request, desk, customer, actor)
        chart = {"labels": [local(r["at"], tz) for r in ledger],
                 "balance": [r["balance_after"] for r in ledger],
                 "causes": [f"{r['cause_type']} {r['cause']} ({r['delta']:+d})"
                            for r in ledger]}
        quota = account.get("quota")
        return {"account": account, "ledger": ledger, "charges": charges,
                "disputes": disputes, "chart": chart,
                "resets_on": _next_month(quota["month"]) if quota else None}

    return page(request, session, "customer.html", build)
