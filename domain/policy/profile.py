"""Policy profiles: each desk's rules as versioned data, validated on load.

A profile file (`profiles/<id>.v<version>.json`) holds everything a desk could vary:
plans and their ranks, quotas, prices, SLA targets and clock modes, calendars,
auto-close days, the reopen window, request limits, the spam threshold. Next to a value
whose source document is vague, a `readings` object says how the value was read. The
domain asks the profile; no such number is a constant in code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from domain.calendar import BusinessCalendar, CalendarError, ClockMode
from domain.errors import InvalidArgumentError

PROFILE_IDS = ("cs-cart", "cart-power", "imagecms", "prem-site", "insales")


class ProfileError(InvalidArgumentError):
    """Raised when a profile file is malformed: names the file, the key and what was expected."""

    def __init__(self, source: str, key: str, expected: str):
        super().__init__(f"{source}: {key}: expected {expected}")
        self.source, self.key, self.expected = source, key, expected


@dataclass(frozen=True)
class Money:
    """An amount in a currency; written "500 RUB", "7.5 USD" (no trailing zeros)."""

    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, text: str) -> Money:
        amount, _, currency = str(text).strip().partition(" ")
        try:
            value = Decimal(amount)
        except InvalidOperation as e:
            raise ValueError(f"not money: {text!r}") from e
        if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
            raise ValueError(f"not an ISO currency in {text!r}")
        return cls(value, currency)

    def times(self, factor: Decimal) -> Money:
        return Money(self.amount * factor, self.currency)

    def __str__(self) -> str:
        text = format(self.amount.normalize(), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return f"{text} {self.currency}"


def _require(data: Mapping[str, Any], source: str, path: str, key: str, kind: Any,
             expected: str) -> Any:
    full = f"{path}.{key}" if path else key
    if key not in data:
        raise ProfileError(source, full, f"{expected} (missing)")
    value = data[key]
    if (kind is not None and not isinstance(value, kind)) or (isinstance(value, bool) and kind in (
            int, (int, type(None)))):
        raise ProfileError(source, full, expected)
    return value


def validate(data: Any, source: str) -> None:
    """Checks a profile's shape; raises ProfileError naming the first bad key."""
    if not isinstance(data, dict):
        raise ProfileError(source, "(top)", "a JSON object")
    _require(data, source, "", "id", str, "the profile id, a string")
    _require(data, source, "", "version", int, "a whole version number")
    _require(data, source, "", "currency", str, "an ISO currency code")
    for key in ("channels", "departments", "categories"):
        values = _require(data, source, "", key, list, "a list of names")
        if not all(isinstance(v, str) for v in values):
            raise ProfileError(source, key, "a list of names")
    try:
        BusinessCalendar.from_config(_require(data, source, "", "calendar", dict, "an object"))
        if data.get("admin_calendar") is not None:
            BusinessCalendar.from_config(data["admin_calendar"])
    except CalendarError as e:
        raise ProfileError(source, f"calendar.{e.key}", e.expected) from e
    plans = _require(data, source, "", "plans", dict, "an object of plans")
    for name, plan in {"no_plan": data.get("no_plan"), **plans}.items():
        path = "no_plan" if name == "no_plan" else f"plans.{name}"
        if not isinstance(plan, dict):
            raise ProfileError(source, path, "an object")
        _require(plan, source, path, "rank", int, "a whole rank (higher is served first)")
        _require(plan, source, path, "departments", list, "a list of departments")
        _require(plan, source, path, "requests_per_month", (int, type(None)),
                 "a whole number or null (unlimited)")
        _require(plan, source, path, "free_modifications", int, "a whole number")
        _require(plan, source, path, "covers_work", bool, "true or false")
        for dep in plan["departments"]:
            if dep not in data["departments"]:
                raise ProfileError(source, f"{path}.departments", "departments of the profile")
    for name, product in _require(data, source, "", "products", dict, "an object").items():
        _require(product, source, f"products.{name}", "plan", str, "a plan name")
        _require(product, source, f"products.{name}", "support_days", int, "whole days")
        if product["plan"] not in plans:
            raise ProfileError(source, f"products.{name}.plan", "a plan of this profile")
    credits = _require(data, source, "", "credits", dict, "an object")
    _require(credits, source, "credits", "enabled", bool, "true or false")
    if credits["enabled"]:
        for key in ("unit_minutes", "credits_per_unit", "notice_over_credits",
                    "replenish_notice_after_minutes", "addon_credits_paid",
                    "addon_credits_in_package", "addon_credits_free"):
            _require(credits, source, "credits", key, int, "a whole number")
        _require(credits, source, "credits", "packages", list, "a list of credit packages")
    pricing = _require(data, source, "", "pricing", dict, "an object")
    mode = _require(pricing, source, "pricing", "mode", str, "free, credits or paid_after_period")
    if mode not in ("free", "credits", "paid_after_period"):
        raise ProfileError(source, "pricing.mode", "free, credits or paid_after_period")
    for key in ("modification_price", "hourly_rate"):
        if pricing.get(key) is not None:
            try:
                Money.parse(pricing[key])
            except ValueError as e:
                raise ProfileError(source, f"pricing.{key}", 'money like "500 RUB"') from e
    sla = _require(data, source, "", "sla", dict, "an object")
    try:
        ClockMode(_require(sla, source, "sla", "default_clock", str, "a clock mode"))
    except ValueError as e:
        raise ProfileError(source, "sla.default_clock", "a clock mode of R-SLA-3") from e
    for i, target in enumerate(_require(sla, source, "sla", "targets", list, "a list")):
        path = f"sla.targets[{i}]"
        if not isinstance(target, dict) or not isinstance(target.get("when"), dict):
            raise ProfileError(source, path, "an object with a 'when' object")
        if not isinstance(target.get("hours", target.get("business_days")), int):
            raise ProfileError(source, path, "'hours' or 'business_days', a whole number")
    tickets = _require(data, source, "", "tickets", dict, "an object")
    for key in ("auto_close_solved_days", "auto_close_silent_days", "reopen_window_days"):
        _require(tickets, source, "tickets", key, int, "whole days")
    if tickets.get("queue_order") not in ("arrival", "last_customer_comment"):
        raise ProfileError(source, "tickets.queue_order", "arrival or last_customer_comment")
    _require(tickets, source, "tickets", "decline_reasons", list, "a list of reason codes")
    bans = _require(data, source, "", "bans", dict, "an object")
    _require(bans, source, "bans", "reasons", list, "a list of reason codes")
    _require(bans, source, "bans", "spam_duplicates", int, "a whole number")
    _require(bans, source, "bans", "spam_window_hours", int, "whole hours")
    disputes = _require(data, source, "", "disputes", dict, "an object")
    _require(disputes, source, "disputes", "review_business_days", int, "whole business days")


@dataclass(frozen=True)
class PolicyProfile:
    """One version of one desk's policy, validated. Read-only."""

    data: Mapping[str, Any] = field(repr=False)
    source: str = "<memory>"

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def version(self) -> int:
        return self.data["version"]

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the canonical profile: what exactly was adopted."""
        return hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()

    @cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_config(self.data["calendar"])

    def named_calendar(self, name: str) -> BusinessCalendar:
        """Returns the calendar under key `name` ("calendar" or "admin_calendar")."""
        config = self.data.get(name) or self.data["calendar"]
        return BusinessCalendar.from_config(config)

    def section(self, name: str) -> Mapping[str, Any]:
        return self.data[name]

    def plan(self, name: str | None) -> Mapping[str, Any]:
        """Returns the plan `name`, or the no-plan entitlements for None."""
        if name is None:
            return self.data["no_plan"]
        return self.data["plans"][name]

    @classmethod
    def from_data(cls, data: Any, source: str = "<memory>") -> PolicyProfile:
        validate(data, source)
        return cls(data, source)

    @classmethod
    def from_file(cls, path: Path) -> PolicyProfile:
        """Loads and validates a profile file; raises ProfileError naming the file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ProfileError(str(path), "(file)", f"a readable JSON file ({e})") from e
        return cls.from_data(data, str(path))


def builtin_profile(profile_id: str, version: int = 1) -> PolicyProfile:
    """Returns a profile shipped in `domain/policy/profiles/`."""
    name = f"{profile_id}.v{version}.json"
    folder = resources.files("domain.policy") / "profiles"
    entry = folder / name
    if not entry.is_file():
        raise InvalidArgumentError(
            f"no profile {profile_id!r} version {version}; known: {', '.join(PROFILE_IDS)}")
    return PolicyProfile.from_data(json.loads(entry.read_text()), f"profiles/{name}")
