"""Command argument specs: which fields each command takes, and their checks.

Unknown fields, missing fields and malformed values are rejected with
`invalid_argument` naming the field, before anything is loaded or decided. The limits:

- an id (customer, ticket, agent, plan, reason, command id, ...) is a string of 1 to
  200 characters, not only spaces; a text (subject, body, name, e-mail, a dispute's
  reason) is a string of at most 1000 characters. Neither may hold a NUL character
  (PostgreSQL text cannot store it) or a lone surrogate (U+D800 to U+DFFF: not
  encodable as UTF-8, so no JSON or database could carry it);
- a whole number is an integer from 0 to 1,000,000,000 (`minutes`: 1 to 100,000), a
  number (`estimate_hours`) a finite one from 0 to 100,000; a boolean is not a number;
- an instant is an ISO-8601 string of at most 64 characters with an offset, from
  2000-01-01T00:00Z up to (not including) 2100-01-01T00:00Z (`domain.instants`);
- `do` is a string naming one of the commands below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain.errors import InvalidArgumentError
from domain.instants import within_range

MAX_TEXT = 1000
MAX_ID = 200
MAX_INSTANT = 64
MAX_WHOLE = 1_000_000_000
MAX_NUMBER = 100_000


def shown(value: Any) -> str:
    """Returns a short rendering of `value` for a message: at most 60 characters of its
    repr (which escapes NULs and surrogates), or its type if it has no repr (an integer
    of more than 4300 digits)."""
    if isinstance(value, (list, dict, tuple, set)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)}>"
    try:
        return repr(value)[:60]
    except Exception:  # any repr failure: name the type instead
        return f"<{type(value).__name__}>"


def field_names(names: Any) -> str:
    """Returns field names for a message, sorted: each as written if it is a storable
    string (cut to 60 characters), else as `shown` renders it."""
    return ", ".join(sorted(name[:60] if isinstance(name, str) and not _unstorable(name)
                            else shown(name) for name in names))


def _unstorable(value: str) -> str | None:
    """Returns what makes `value` unstorable (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate"
    return None


def ident(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise InvalidArgumentError(f"{name} must be a non-empty id of at most {MAX_ID} "
                                   f"characters, got {shown(value)}")
    flaw = _unstorable(value)
    if flaw:
        raise InvalidArgumentError(f"{name} must not contain {flaw}, got {shown(value)}")
    return value


_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def name(value: Any, field: str) -> str:
    """Checks a name a profile defines (a notice): lower-case letters, digits, `_`, `-`."""
    if not isinstance(value, str) or len(value) > MAX_ID or not _NAME.fullmatch(value):
        raise InvalidArgumentError(f"{field} must be a name of lower-case letters, digits, "
                                   f"'_' and '-', got {value!r:.60}")
    return value


def text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidArgumentError(f"{name} must be text of at most {MAX_TEXT} characters")
    flaw = _unstorable(value)
    if flaw:
        raise InvalidArgumentError(f"{name} must not contain {flaw}")
    return value


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be true or false, got {shown(value)}")
    return value


def whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 0 <= value <= MAX_WHOLE:
        raise InvalidArgumentError(f"{name} must be a whole number from 0 to {MAX_WHOLE}, "
                                   f"got {shown(value)}")
    return value


def positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise InvalidArgumentError(f"{name} must be a whole number between 1 and 100000, "
                                   f"got {shown(value)}")
    return value


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not (math.isfinite(value) and 0 <= value <= MAX_NUMBER):
        raise InvalidArgumentError(f"{name} must be a number from 0 to {MAX_NUMBER}, "
                                   f"got {shown(value)}")
    return float(value)


def instant(value: Any, name: str) -> datetime:
    """Returns the instant written in `value`, with its offset; raises
    InvalidArgumentError unless it is an ISO-8601 instant with an offset inside the
    supported range, checked before any arithmetic on it (`domain.instants`)."""
    if not isinstance(value, str) or len(value) > MAX_INSTANT:
        raise InvalidArgumentError(f"{name} must be an ISO-8601 instant with an offset")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidArgumentError(f"{name} is not an ISO-8601 instant: {shown(value)}") from e
    if parsed.tzinfo is None:
        raise InvalidArgumentError(f"{name} must carry a timezone offset: {shown(value)}")
    within_range(parsed, name)
    return parsed


def one_of(*choices: Any) -> Callable[[Any, str], Any]:
    def check(value: Any, name: str) -> Any:
        if value not in choices:
            raise InvalidArgumentError(
                f"{name} must be one of {', '.join(map(str, choices))}; got {shown(value)}")
        return value
    return check


Spec = tuple[dict[str, Callable[[Any, str], Any]], dict[str, Callable[[Any, str], Any]]]

SPECS: dict[str, Spec] = {
    "register_customer": ({"customer": ident},
                          {"email": text, "name": text, "anonymous": flag, "desk": ident}),
    "buy_license": ({"customer": ident, "license": ident, "product": ident}, {"domain": ident}),
    "start_subscription": ({"customer": ident, "subscription": ident, "plan": ident,
                            "term": ident}, {"domain": ident}),
    "change_plan": ({"subscription": ident, "plan": ident}, {}),
    "cancel_subscription": ({"subscription": ident}, {}),
    "buy_package": ({"customer": ident, "purchase": ident, "package": ident}, {}),
    "purchase_credits": ({"customer": ident, "purchase": ident, "package": whole}, {}),
    "grant_addon_credits": ({"customer": ident, "addon": ident, "paid": flag},
                            {"in_package": flag}),
    "open_ticket": ({"customer": ident, "ticket": ident, "department": ident,
                     "channel": ident, "subject": text},
                    {"category": ident, "domain": ident, "body": text}),
    "agent_reply": ({"ticket": ident, "agent": ident}, {"waiting_on_customer": flag}),
    "customer_reply": ({"ticket": ident}, {}),
    "log_work": ({"ticket": ident, "agent": ident, "minutes": positive,
                  "kind": one_of("investigation", "modification", "consultation")},
                 {"classification": one_of("own_addon_bug", "third_party_addon",
                                           "third_party_software", "customization",
                                           "configuration", "question")}),
    # The notice names are the profile's (R-CRD-5): the handler checks them against it.
    "notify_customer": ({"ticket": ident, "agent": ident, "notice": name}, {}),
    "solve_ticket": ({"ticket": ident, "agent": ident}, {}),
    "decline_ticket": ({"ticket": ident, "agent": ident, "reason": ident}, {}),
    "forward_ticket": ({"ticket": ident, "agent": ident,
                        "to": one_of("custom_development", "sales")},
                       {"estimate_hours": number}),
    "mark_duplicate": ({"ticket": ident, "of": ident}, {"technical_fault": flag}),
    "ban": ({"customer": ident, "agent": ident, "reason": ident}, {"until": instant}),
    "lift_ban": ({"customer": ident, "agent": ident}, {}),
    "open_dispute": ({"customer": ident, "dispute": ident, "charge": ident}, {}),
    "resolve_dispute": ({"dispute": ident, "agent": ident,
                         "outcome": one_of("upheld", "rejected"), "reason": text}, {}),
    "erase_customer": ({"customer": ident, "by": ident, "reason": text}, {}),
}


def parse_args(command: str, args: Any) -> dict[str, Any]:
    """Returns checked arguments; raises InvalidArgumentError naming the bad field."""
    if not isinstance(command, str) or command not in SPECS:
        raise InvalidArgumentError(f"unknown command {shown(command)}")
    if not isinstance(args, Mapping):
        raise InvalidArgumentError(f"{command}: args must be an object")
    required, optional = SPECS[command]
    unknown = [name for name in args if name not in required and name not in optional]
    if unknown:
        raise InvalidArgumentError(f"{command}: unknown field(s) {field_names(unknown)}")
    out: dict[str, Any] = {}
    for name, check in required.items():
        if name not in args:
            raise InvalidArgumentError(f"{command}: missing field {name!r}")
        out[name] = check(args[name], name)
    for name, check in optional.items():
        if name in args and args[name] is not None:
            out[name] = check(args[name], name)
        else:
            out[name] = None
    return out


#: What each check accepts, as data for the command reference (`supportlog commands`,
#: docs/commands.md): a type name and its limits (`max_length`, `minimum`, `maximum`).
#: `one_of` checks carry their values themselves. A check missing here fails the
#: reference loudly, and a test holds every limit against the check's behaviour.
CHECK_KINDS: dict[Callable[[Any, str], Any], tuple[str, dict[str, int]]] = {
    ident: ("id", {"max_length": MAX_ID}),
    name: ("name", {"max_length": MAX_ID}),
    text: ("text", {"max_length": MAX_TEXT}),
    flag: ("boolean", {}),
    whole: ("integer", {"minimum": 0, "maximum": MAX_WHOLE}),
    positive: ("integer", {"minimum": 1, "maximum": 100_000}),
    number: ("number", {"minimum": 0, "maximum": MAX_NUMBER}),
    instant: ("instant", {}),
}
