"""The hash-chain link of an event (R-AUD-3): pure, deterministic, no I/O.

Each event stores the hash of the previous event of its aggregate (`prev_hash`), and its
own hash is computed from its content, so altering a stored event breaks the link to the
next one. The encoding is canonical (sorted keys, tuples as lists, decimals as text,
instants in UTC, every dict key as its `str()`) so that an event decoded from the store
hashes exactly as when it was created.

Stored chains depend on these bytes never changing. `_canonical` is the definition;
`event_hash` reaches the same bytes faster by letting orjson walk the state itself
(UUIDs, lists, tuples, nested dicts) and handing it only what it cannot encode the
canonical way (`_fast_default`). Where the two could differ (a dict key that is not a
plain `str`, a dataclass, anything else orjson refuses) it falls back to `_canonical`;
`tests/domain/test_chain_identity.py` holds the original implementation and checks both
agree over generated values and a played demo log.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

GENESIS = "0" * 64

#: orjson options of the fast path: datetimes, dates and times go through
#: `_fast_default` (orjson's own datetime format is not `isoformat()` in UTC), and so do
#: dataclasses (orjson would encode the datetimes inside them natively).
_FAST_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                 | orjson.OPT_PASSTHROUGH_DATACLASS)


class _NotCanonical(TypeError):
    """A value the fast path leaves to `_canonical`."""


def _canonical(value: Any) -> Any:
    """Returns `value` in the canonical form that `orjson.dumps` then encodes: the
    reference definition of the hashed bytes."""
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


def _fast_default(value: Any) -> Any:
    """Encodes, for orjson, what the canonical form treats specially and orjson does not
    encode the same way by itself; refuses the rest (then `_canonical` decides)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):  # a tuple subclass (a namedtuple): orjson refuses them
        return list(value)
    if isinstance(value, (date, time)):
        # Dates and times stay as the reference left them, to orjson's own format.
        return orjson.Fragment(orjson.dumps(value))
    raise _NotCanonical(type(value).__name__)


def _canonical_bytes(type_name: str, state: dict[str, Any]) -> bytes:
    body = {"type": type_name, "state": state}
    try:
        return orjson.dumps(body, default=_fast_default, option=_FAST_OPTIONS)
    except orjson.JSONEncodeError:
        # A non-str dict key, a dataclass or a value orjson refuses: the reference path
        # gives the canonical bytes (or raises as it always did).
        return orjson.dumps({"type": type_name, "state": _canonical(state)},
                            option=orjson.OPT_SORT_KEYS)


def event_hash(type_name: str, state: dict[str, Any]) -> str:
    """Returns the hex SHA-256 of an event's type and canonical state."""
    return hashlib.sha256(_canonical_bytes(type_name, state)).hexdigest()
