"""How every write is answered: once per idempotency key, with the desk's outcome.

`answer_write` runs a write under its `Idempotency-Key` (if any; `idempotency`), turns
a refusal into its problem response, and gives the same answer to every retry. A
command runs under a command id derived from the principal and the key, so even a
retry whose first answer was lost (the process died between the command and keeping
its answer) has no second effect: the desk's receipt answers it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import Header, Request
from starlette.responses import Response

from domain.actor import Actor
from domain.errors import SupportlogError
from supportlog.http.idempotency import Stored, fingerprint
from supportlog.http.problems import PROBLEM_JSON, error_response

IdempotencyKey = Header(
    alias="Idempotency-Key", min_length=1, max_length=255,
    description="Makes the write safe to retry: the same key answers the first response "
                "again and writes nothing (kept at least 24 hours); the same key with "
                "another request is refused with 422 `idempotency_key_reused`.")

#: `Idempotent-Replayed: true` marks an answer given again for a repeated key.
REPLAYED = "Idempotent-Replayed"


def command_id_for(actor: Actor, key: str | None) -> str | None:
    """The desk's command id for a request's key: the principal's own namespace."""
    if key is None:
        return None
    return f"http:{actor.id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def replayed(stored: Stored) -> Response:
    media = PROBLEM_JSON if stored.status >= 400 else "application/json"
    return Response(stored.body, status_code=stored.status, media_type=media,
                    headers={REPLAYED: "true"})


def answer_write(request: Request, actor: Actor, key: str | None, body: Any,
                 run: Callable[[str | None], Response],
                 kept: Callable[[bytes], bytes] | None = None) -> Response:
    """Runs `run(command_id)` once per (principal, key) and returns its response, or the
    response the key answered first; a typed refusal becomes its problem response.
    `kept` turns a successful answer into what is kept for retries (a new token is
    never kept: a retry gets the principal without it)."""
    services = request.app.state.services
    if key is not None:
        stored = services.keys.claim(actor.id, key,
                                     fingerprint(request.method, request.url.path, body))
        if stored is not None:
            return replayed(stored)
    try:
        response = run(command_id_for(actor, key))
    except SupportlogError as e:
        response = error_response(e)
    except BaseException:
        if key is not None:
            services.keys.release(actor.id, key)
        raise
    if key is not None:
        # Kept before the answer leaves, so a retry, however quick, finds it. (Without a
        # disk flush: see `idempotency`. If the process dies first, the claim goes stale
        # and the retry runs again, which the command id makes harmless.)
        stored = bytes(response.body)
        if kept is not None and response.status_code < 400:
            stored = kept(stored)
        services.keys.finish(actor.id, key, response.status_code, stored)
    return response
