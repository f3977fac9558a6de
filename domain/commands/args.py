"""Command argument specs: which fields each command takes, and their checks.

Unknown fields, missing fields and malformed values are rejected with
`invalid_argument` naming the field, before anything is loaded or decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain.errors import InvalidArgumentError

_MAX_TEXT = 1000
_MAX_ID = 200


def ident(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID:
        raise InvalidArgumentError(f"{name} must be a non-empty id of at most {_MAX_ID} "
                                   f"characters, got {value!r:.60}")
    return value


def text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise InvalidArgumentError(f"{name} must be text of at most {_MAX_TEXT} characters")
    return value


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be true or false, got {value!r:.60}")
    return value


def whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be a whole number, got {value!r:.60}")
    return value


def positive(value: Any, name: str) -> int:
    number = whole(value, name)
    if number <= 0 or number > 100_000:
        raise InvalidArgumentError(f"{name} must be between 1 and 100000, got {number}")
    return number


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidArgumentError(f"{name} must be a number >= 0, got {value!r:.60}")
    return float(value)


def instant(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be an ISO-8601 instant with an offset")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidArgumentError(f"{name} is not an ISO-8601 instant: {value!r:.60}") from e
    if parsed.tzinfo is None:
        raise InvalidArgumentError(f"{name} must carry a timezone offset: {value!r:.60}")
    return parsed


def one_of(*choices: Any) -> Callable[[Any, str], Any]:
    def check(value: Any, name: str) -> Any:
        if value not in choices:
            raise InvalidArgumentError(
                f"{name} must be one of {', '.join(map(str, choices))}; got {value!r:.60}")
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
    "notify_customer": ({"ticket": ident, "agent": ident,
                         "notice": one_of("charge_over_40", "replenish_after_60")}, {}),
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
}


def parse_args(command: str, args: Any) -> dict[str, Any]:
    """Returns checked arguments; raises InvalidArgumentError naming the bad field."""
    if command not in SPECS:
        raise InvalidArgumentError(f"unknown command {command!r}")
    if not isinstance(args, Mapping):
        raise InvalidArgumentError(f"{command}: args must be an object")
    required, optional = SPECS[command]
    unknown = set(args) - set(required) - set(optional)
    if unknown:
        raise InvalidArgumentError(f"{command}: unknown field(s) {', '.join(sorted(unknown))}")
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
    ident: ("id", {"max_length": _MAX_ID}),
    text: ("text", {"max_length": _MAX_TEXT}),
    flag: ("boolean", {}),
    whole: ("integer", {}),
    positive: ("integer", {"minimum": 1, "maximum": 100_000}),
    number: ("number", {"minimum": 0}),
    instant: ("instant", {}),
}
