"""One command request, as a JSON line of `supportlog command` carries it (and any other
front end that takes the same object): `{"do", "args", "at", "command_id"}`, checked,
executed on the desk and answered.

Whatever a request holds, it gets an answer object and the caller goes on to the next:
`{"accepted": true, "repeated", "events"}`, or `{"accepted": false, "code", "message"}`
with a code of `domain.errors.ERRORS_BY_CODE`. Malformed input is `invalid_argument`
(`domain.commands.args` documents the limits). Anything unexpected (a bug, a lost
server) is `internal_error`: the caller's `report` logs the exception and returns the id
it logged it under, which the message names. The id comes from the caller, so this
module reads no clock and no random source, and does no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from domain.actor import Actor
from domain.commands.args import field_names, instant, shown
from domain.errors import InternalError, InvalidArgumentError, SupportlogError

#: The fields a request may have; "do" is required.
REQUEST_FIELDS = ("do", "args", "at", "command_id")

#: Logs an unexpected exception and returns the id of the log line.
Report = Callable[[BaseException], str]


def answer_json(desk: Any, line: str | bytes, clock: Callable[[], datetime],
                report: Report, actor: Actor | None = None) -> dict[str, Any]:
    """Returns the answer to one request written as JSON (bytes are decoded as UTF-8;
    invalid UTF-8 is not JSON). Never raises an Exception."""
    try:
        request = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return _refused(InvalidArgumentError(f"not JSON: {e}"))
    return answer_request(desk, request, clock, report, actor)


def answer_request(desk: Any, request: Any, clock: Callable[[], datetime],
                   report: Report, actor: Actor | None = None) -> dict[str, Any]:
    """Returns the answer to one decoded request, run as `actor`. Without "at" the
    command takes its time from `clock` (the server's), afresh on each attempt
    (`SupportDesk.execute`). Never raises an Exception."""
    try:
        if not isinstance(request, dict) or "do" not in request:
            raise InvalidArgumentError('a command is an object with "do" and "args"')
        unknown = [k for k in request if k not in REQUEST_FIELDS]
        if unknown:
            raise InvalidArgumentError(f"unknown field(s) {field_names(unknown)}")
        if not isinstance(request["do"], str):
            raise InvalidArgumentError(f'"do" must name a command, got {shown(request["do"])}')
        at = request.get("at")
        outcome = desk.execute(request["do"], request.get("args", {}),
                               instant(at, "at") if at is not None else None,
                               command_id=request.get("command_id"), actor=actor,
                               clock=clock if at is None else None)
    except SupportlogError as e:
        return _refused(e)
    except Exception as e:  # any bug or lost server: answered, logged, and the stream goes on
        return _refused(InternalError(
            f"the command could not be handled (id {_reported(report, e)}); it wrote all "
            "or nothing, and a repeat with the same command_id has no second effect"))
    return {"accepted": True, "repeated": outcome.repeated, "position": outcome.position,
            "events": [{"type": t, "aggregate_id": a, "version": v}
                       for t, a, v in outcome.events]}


def _reported(report: Report, error: Exception) -> str:
    """Returns the id `report` logged `error` under; a failing report must not stop the
    stream either, so its own failure is named in place of an id."""
    try:
        return report(error)
    except Exception as failure:  # the answer still goes out
        return f"unlogged: {type(failure).__name__}"


def _refused(error: SupportlogError) -> dict[str, Any]:
    # A message may quote input; a lone surrogate in it would make the answer unwritable.
    message = error.message.encode("utf-8", "backslashreplace").decode("utf-8")
    return {"accepted": False, "code": error.code, "message": message}
