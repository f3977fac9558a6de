"""Policy profiles: each desk's rules as versioned data, validated on load.

A profile file (`profiles/<id>.v<version>.json`) holds everything a desk could vary:
plans and their ranks, quotas, prices, SLA targets and clock modes, calendars,
auto-close days, the reopen window, request limits, the spam threshold, and the names
of notices and reasons. Next to a value whose source document is vague, a `readings`
object says how the value was read. The domain asks the profile; no such number or name
is a constant in code. Its shape is `profile.schema.json`, checked with every problem
reported at once (`domain.policy.profile_check`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from domain.calendar import BusinessCalendar
from domain.errors import InvalidArgumentError
from domain.policy.profile_check import ProfileProblem, profile_problems

PROFILE_IDS = ("cs-cart", "cart-power", "imagecms", "prem-site", "insales")


class ProfileError(InvalidArgumentError):
    """Raised when a profile is malformed (code `invalid_argument`): names its source and
    lists every problem, each with the path of the bad key, sorted by path."""

    def __init__(self, source: str, problems: Sequence[ProfileProblem]):
        self.source, self.problems = source, list(problems)
        if len(self.problems) == 1:
            super().__init__(f"{source}: {self.problems[0]}")
        else:
            super().__init__(f"{source}: {len(self.problems)} problems:\n"
                             + "\n".join(f"  {p}" for p in self.problems))


#: Keys added after profiles were first recorded, with the values the code then used for
#: every desk (names were spelled in code). A profile read back from the log without them
#: was adopted before they existed and gets them, so its history is judged as it was
#: decided; a profile being adopted must state them (`profile.schema.json`).
_ADDED_SINCE_RECORDED: dict[tuple[str, str], Any] = {
    ("credits", "notices"): {"over_credits": "charge_over_40",
                             "replenish": "replenish_after_60"},
    ("tickets", "silent_close_reason"): "customer_silent_30_days",
}


def as_recorded_then(data: Any) -> Any:
    """Returns `data` with the keys added since it was recorded (`_ADDED_SINCE_RECORDED`);
    `data` itself if it has them all or is not a profile-shaped object."""
    if not isinstance(data, Mapping):
        return data
    upgraded = dict(data)
    for (section, key), value in _ADDED_SINCE_RECORDED.items():
        part = upgraded.get(section)
        if isinstance(part, Mapping) and key not in part:
            upgraded[section] = {**part, key: value}
    return upgraded if upgraded != data else data


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


@dataclass(frozen=True)
class PolicyProfile:
    """One version of one desk's policy, validated. Read-only.

    `data` is the profile as written and adopted: it is what the adoption event records
    and the digest hashes. The rules read it through `section`, `plan` and the calendars,
    which see a profile recorded before a key existed with that key's value of the time
    (`as_recorded_then`).
    """

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
    def _rules(self) -> Mapping[str, Any]:
        return as_recorded_then(self.data)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_config(self._rules["calendar"])

    def named_calendar(self, name: str) -> BusinessCalendar:
        """Returns the calendar under key `name` ("calendar" or "admin_calendar")."""
        config = self._rules.get(name) or self._rules["calendar"]
        return BusinessCalendar.from_config(config)

    def section(self, name: str) -> Mapping[str, Any]:
        return self._rules[name]

    def plan(self, name: str | None) -> Mapping[str, Any]:
        """Returns the plan `name`, or the no-plan entitlements for None."""
        if name is None:
            return self._rules["no_plan"]
        return self._rules["plans"][name]

    def notice_names(self) -> list[str]:
        """Returns the names of the notices an agent may record (R-CRD-5)."""
        return sorted(set(self.section("credits")["notices"].values()))

    @classmethod
    def from_data(cls, data: Any, source: str = "<memory>") -> PolicyProfile:
        """Returns the profile `data` (a file's, a scenario's, a changed copy); raises
        ProfileError listing every problem, with its path, if it is not a valid profile."""
        problems = profile_problems(data)
        if problems:
            raise ProfileError(source, problems)
        return cls(data, source)

    @classmethod
    def from_record(cls, data: Any, source: str) -> PolicyProfile:
        """Returns a profile as an adoption event recorded it. One adopted before a key was
        added is checked with that key's value of the time; `data` is kept as recorded."""
        problems = profile_problems(as_recorded_then(data))
        if problems:
            raise ProfileError(source, problems)
        return cls(data, source)

    @classmethod
    def from_file(cls, path: Path) -> PolicyProfile:
        """Loads and validates a profile file; raises ProfileError naming the file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ProfileError(str(path), [ProfileProblem(
                "(file)", f"expected a readable JSON file ({e})")]) from e
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
