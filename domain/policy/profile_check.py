"""Checks a policy profile and reports every problem at once, each with the path of its key.

The shape (which keys exist, which are required, their types, enums, money and time
formats) is `profile.schema.json`, a JSON Schema (draft 2020-12) that `supportlog schema
export` publishes, so a vendor can check a profile while writing it. jsonschema, a
well-kept validator, reports every violation with its path; the hand-written check this
replaces stopped at the first one and missed keys the rules read. What a schema cannot
say is checked here: names that must name something elsewhere in the same profile, the
calendars (their timezone and holiday country), notice names that must differ, money in
the profile's currency, readings that explain a key that exists. Pure: it reads nothing
but its packaged schema, and never stops at the first problem.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from domain.calendar import BusinessCalendar, CalendarError

SCHEMA_FILE = "profile.schema.json"

_MONEY = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])? [A-Z]{3}$")
_TYPES = {"integer": "a whole number", "string": "text", "boolean": "true or false",
          "object": "an object", "array": "a list", "null": "null", "number": "a number"}


@dataclass(frozen=True, order=True)
class ProfileProblem:
    """One mistake in a profile: the path of the bad key (`plans.plus.rank`,
    `sla.targets[0].hours`) and what was expected there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def profile_schema() -> dict[str, Any]:
    """Returns the profile JSON Schema, a fresh copy (callers may change it)."""
    return json.loads(_schema_text())


@cache
def _schema_text() -> str:
    return (resources.files("domain.policy") / SCHEMA_FILE).read_text()


def _whole_number(_checker: Any, value: Any) -> bool:
    # JSON Schema counts 1.0 as an integer; the rules want ints, as events record them.
    return isinstance(value, int) and not isinstance(value, bool)


_Validator = extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER
                    .redefine("integer", _whole_number))


@cache
def _validator() -> Draft202012Validator:
    """The validator, built once; a schema that is itself invalid fails loudly here."""
    schema = profile_schema()
    Draft202012Validator.check_schema(schema)
    return _Validator(schema)


def profile_problems(data: Any) -> list[ProfileProblem]:
    """Returns every problem of the profile `data`, sorted by path; empty if it is valid.
    A cross reference at a path the schema already faulted is not reported twice."""
    found = set(schema_problems(data))
    if isinstance(data, Mapping):
        faulted = {p.path for p in found}
        found.update(p for p in cross_reference_problems(data) if p.path not in faulted
                     and _explained(p.path) not in faulted
                     and not (p.path.startswith(_CALENDARS) and _near(p.path, faulted)))
    return sorted(found)


def _explained(path: str) -> str:
    """Returns the path of the key a reading at `path` explains (`credits.unit_minutes`
    for `credits.readings.unit_minutes`), else `path`: a reading of a key reported
    missing is not a second problem."""
    head, sep, key = path.rpartition("readings.")
    return (head + key) if sep and (not head or head.endswith(".")) else path


_CALENDARS = ("calendar.", "admin_calendar.")


def _near(path: str, others: set[str]) -> bool:
    """True if a path in `others` is `path`, inside it or around it: a calendar stops at
    its first problem, which may be one the schema has already named."""
    return any(_within(other, path) or _within(path, other) for other in others)


def _within(path: str, outer: str) -> bool:
    return path.startswith(outer) and path[len(outer):][:1] in ("", ".", "[")


# --- the schema ------------------------------------------------------------------------

def schema_problems(data: Any) -> list[ProfileProblem]:
    """Returns the profile's violations of `profile.schema.json`."""
    return [problem for error in _validator().iter_errors(data)
            for problem in _explain(error)]


def path_text(steps: Sequence[str | int]) -> str:
    """Returns `plans.plus.rank` or `sla.targets[0].hours` for a list of steps."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "(top)"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _explain(error: ValidationError) -> Iterator[ProfileProblem]:
    """Yields the problem(s) one jsonschema error stands for, at the bad key's path."""
    steps = list(error.absolute_path)
    keyword, value, schema = error.validator, error.validator_value, error.schema
    got = error.instance
    if "propertyNames" in error.relative_schema_path:
        # The instance is the key itself: report it at its own path.
        yield ProfileProblem(path_text([*steps, str(got)]), "not an allowed key: "
                             + _expected(keyword, value, schema, got))
    elif keyword == "required":
        for key in value:
            if isinstance(got, Mapping) and key not in got:
                yield ProfileProblem(path_text([*steps, key]), "missing (required)")
    elif keyword == "additionalProperties" and isinstance(got, Mapping):
        known = list(schema.get("properties", {}))
        for key in got:
            if key not in known:
                near = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {near[0]}?)" if near else f"; known: {', '.join(known)}"
                yield ProfileProblem(path_text([*steps, key]), f"unknown key{hint}")
    elif keyword == "oneOf" and all(set(alt) == {"required"} for alt in value):
        names = [name for alt in value for name in alt["required"]]
        present = [name for name in names if isinstance(got, Mapping) and name in got]
        yield ProfileProblem(path_text(steps), f"expected exactly one of {', '.join(names)}"
                             + (f", got {', '.join(present)}" if present else ", got none"))
    else:
        yield ProfileProblem(path_text(steps), _expected(keyword, value, schema, got))


def _expected(keyword: str, value: Any, schema: Mapping[str, Any], got: Any) -> str:
    """Says in words what the schema keyword wanted and what it got."""
    title = schema.get("title")
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        wanted = " or ".join(_TYPES.get(kind, kind) for kind in kinds)
    elif keyword == "enum":
        wanted = "one of " + ", ".join(str(v) for v in value)
    elif keyword == "const":
        wanted = title or _shown(value)
    elif keyword == "pattern":
        wanted = title or f"text matching {value}"
    elif keyword in ("minimum", "exclusiveMinimum"):
        wanted = f"at least {value}" if keyword == "minimum" else f"more than {value}"
    elif keyword in ("minItems", "maxItems"):
        wanted = f"{'at least' if keyword == 'minItems' else 'at most'} {value} item(s)"
    elif keyword == "minProperties":
        wanted = f"at least {value} key(s)"
    elif keyword == "minLength":
        wanted = "non-empty text"
    elif keyword == "uniqueItems":
        wanted = "no item repeated"
    else:
        return f"{keyword}: {_shown(got)} is not valid here"
    return f"expected {wanted}, got {_shown(got)}"


# --- cross references ------------------------------------------------------------------

def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def cross_reference_problems(data: Mapping[str, Any]) -> list[ProfileProblem]:
    """Returns the problems a schema cannot express. It reads defensively: the shape may
    be wrong too, and then it checks what it can."""
    found: list[ProfileProblem] = []
    found += _named_in_lists(data)
    found += _plans_and_products(data)
    found += _calendars(data)
    found += _notices(data)
    found += _currencies(data)
    found += _readings(data, [])
    return found


def _must_be_in(path: str, values: Any, allowed: Sequence[Any], what: str,
                allow_null: bool = False) -> Iterator[ProfileProblem]:
    for i, value in _items(values):
        if value not in allowed and not (allow_null and value is None):
            yield ProfileProblem(f"{path}[{i}]", f"expected one of the profile's {what} "
                                 f"({', '.join(map(str, allowed)) or 'none'}), "
                                 f"got {_shown(value)}")


def _named_in_lists(data: Mapping[str, Any]) -> Iterator[ProfileProblem]:
    """Departments, plans, channels and categories named anywhere must be the profile's
    (R-TKT-1, R-TKT-8, R-TKT-12, R-SLA-1, R-TKT-11)."""
    departments = [d for _, d in _items(data.get("departments"))]
    categories = [c for _, c in _items(data.get("categories"))]
    channels = [c for _, c in _items(data.get("channels"))]
    plans = list(_mapping(data.get("plans")))
    entitlements = [("no_plan", _mapping(data.get("no_plan")))]
    entitlements += [(f"plans.{name}", _mapping(plan))
                     for name, plan in _mapping(data.get("plans")).items()]
    for path, plan in entitlements:
        yield from _must_be_in(f"{path}.departments", plan.get("departments"),
                               departments, "departments")
        # R-TKT-12: a plan offers some of the desk's channels, never one it does not.
        yield from _must_be_in(f"{path}.channels", plan.get("channels"), channels,
                               "channels")
    for name, product in _mapping(data.get("products")).items():
        after = _mapping(_mapping(product).get("after_period"))
        yield from _must_be_in(f"products.{name}.after_period.departments",
                               after.get("departments"), departments, "departments")
    for i, target in _items(_mapping(data.get("sla")).get("targets")):
        when = _mapping(_mapping(target).get("when"))
        path = f"sla.targets[{i}].when"
        yield from _must_be_in(f"{path}.plan", when.get("plan"), plans, "plans", True)
        yield from _must_be_in(f"{path}.channel", when.get("channel"), channels, "channels")
        yield from _must_be_in(f"{path}.department", when.get("department"), departments,
                               "departments")
        if categories:
            yield from _must_be_in(f"{path}.category", when.get("category"), categories,
                                   "categories", True)
            yield from _must_be_in(f"{path}.category_not", when.get("category_not"),
                                   categories, "categories")
    if categories:
        yield from _must_be_in("tickets.account_changing_categories",
                               _mapping(data.get("tickets")).get("account_changing_categories"),
                               categories, "categories")


def _plans_and_products(data: Mapping[str, Any]) -> Iterator[ProfileProblem]:
    """A product's plan must exist (R-SUB-2); a plan is priced only for its terms (R-SUB-1)."""
    plans = _mapping(data.get("plans"))
    for name, product in _mapping(data.get("products")).items():
        plan = _mapping(product).get("plan")
        if isinstance(plan, str) and plan not in plans:
            yield ProfileProblem(f"products.{name}.plan", "expected one of the profile's "
                                 f"plans ({', '.join(plans) or 'none'}), got {_shown(plan)}")
    for name, plan in plans.items():
        terms = [t for _, t in _items(_mapping(plan).get("terms"))]
        for term in _mapping(_mapping(plan).get("prices")):
            if term not in terms:
                yield ProfileProblem(f"plans.{name}.prices.{term}", "a price for a term the "
                                     f"plan is not sold for (terms: {', '.join(terms) or 'none'})")


def _calendars(data: Mapping[str, Any]) -> Iterator[ProfileProblem]:
    """Each calendar builds (R-SLA-2: timezone, holiday country, hours), and a calendar
    named by a target or by the dispute review exists (R-SLA-1, R-DSP-1)."""
    for key in ("calendar", "admin_calendar"):
        config = data.get(key)
        if not isinstance(config, Mapping):
            continue
        try:
            BusinessCalendar.from_config(config)
        except CalendarError as e:
            yield ProfileProblem(f"{key}.{e.key}",
                                 e.message.removeprefix(f"calendar: {e.key}: "))
    named = [(f"sla.targets[{i}].calendar", _mapping(t).get("calendar"))
             for i, t in _items(_mapping(data.get("sla")).get("targets"))]
    named.append(("disputes.calendar", _mapping(data.get("disputes")).get("calendar")))
    for path, name in named:
        if name == "admin_calendar" and "admin_calendar" not in data:
            yield ProfileProblem(path, "names admin_calendar, which this profile does not have")


def _notices(data: Mapping[str, Any]) -> Iterator[ProfileProblem]:
    """The notices of R-CRD-5 must be told apart by name."""
    notices = _mapping(_mapping(data.get("credits")).get("notices"))
    if notices.get("over_credits") is not None and \
            notices.get("over_credits") == notices.get("replenish"):
        yield ProfileProblem("credits.notices.replenish",
                             "expected a name other than credits.notices.over_credits")


def _currencies(data: Mapping[str, Any]) -> Iterator[ProfileProblem]:
    """Money in the profile is in its currency (R-QTA-4, R-PAY-1)."""
    currency = data.get("currency")
    pricing = _mapping(data.get("pricing"))
    amounts = [(f"pricing.{key}", pricing.get(key))
               for key in ("modification_price", "hourly_rate")]
    for name, plan in _mapping(data.get("plans")).items():
        amounts += [(f"plans.{name}.prices.{term}", price)
                    for term, price in _mapping(_mapping(plan).get("prices")).items()]
    for path, amount in amounts:
        if isinstance(amount, str) and _MONEY.match(amount) and isinstance(currency, str) \
                and not amount.endswith(f" {currency}"):
            yield ProfileProblem(path, f"expected an amount in the profile's currency "
                                 f"{currency}, got {_shown(amount)}")


def _readings(node: Any, steps: list[str | int]) -> Iterator[ProfileProblem]:
    """Each reading explains a value next to it: its key must be a key of the same object."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "readings" and isinstance(value, Mapping):
                for explained in value:
                    if explained not in node or explained == "readings":
                        yield ProfileProblem(path_text([*steps, "readings", explained]),
                                             "explains a key this object does not have")
            else:
                yield from _readings(value, [*steps, key])
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _readings(item, [*steps, i])
