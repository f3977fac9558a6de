"""The hash-chain link of an event (R-AUD-3): pure, deterministic, no I/O.

Each event stores the hash of the previous event of its aggregate (`prev_hash`), and its
own hash is computed from its content, so altering a stored event breaks the link to the
next one. The encoding is canonical (sorted keys, tuples as lists, decimals as text,
instants in UTC) so that an event decoded from the store hashes exactly as when it was
created.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

GENESIS = "0" * 64


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return value


def event_hash(type_name: str, state: dict[str, Any]) -> str:
    """Returns the hex SHA-256 of an event's type and canonical state."""
    body = orjson.dumps(
        {"type": type_name, "state": _canonical(state)}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(body).hexdigest()
