"""Business calendars as profiles write them: parsing and checking a ``calendar``
section (R-SLA-2) into the fields of `domain.calendar.BusinessCalendar`.

Every mistake is reported as a CalendarError naming the key as the configuration
spells it and what was expected. Pure: it reads no clock and does no I/O (the
``holidays`` package's country list is data shipped with it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from domain.errors import InvalidArgumentError

#: As the end of working hours, midnight means the end of the day ("24:00" in configuration).
END_OF_DAY = time(0, 0)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONFIG_KEYS = frozenset({"id", "version", "timezone", "working_hours", "holidays",
                          "extra_non_working_days", "extra_working_days"})
_HOLIDAY_KEYS = frozenset({"country", "subdivision"})
_FIELD_TO_CONFIG_KEY = {
    "calendar_id": "id", "holiday_country": "holidays.country",
    "holiday_subdivision": "holidays.subdivision",
}
_NOTHING = object()


class CalendarError(InvalidArgumentError, ValueError):
    """Raised for a malformed calendar setting or argument; names the key and what was expected
    (error code ``invalid_argument``; also a ValueError)."""

    def __init__(self, key: str, expected: str, got: object = _NOTHING) -> None:
        self.key, self.expected, self.got = key, expected, got
        message = f"calendar: {key!s}: expected {expected}"
        if got is not _NOTHING:
            message += f", got {got!r:.80}"
        super().__init__(message)


@lru_cache(maxsize=1)
def _supported_countries() -> Mapping[str, Sequence[str]]:
    """Returns the ``holidays`` package's countries and their subdivisions."""
    return holidays.list_supported_countries()


def check_zone(name: object) -> ZoneInfo:
    """Returns the zone named `name`; raises CalendarError unless it is an IANA name."""
    with suppress(ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo(name)  # type: ignore[arg-type]
    raise CalendarError("timezone", 'an IANA timezone name such as "Europe/Moscow"', name)


def check_country(country: object, subdivision: object) -> None:
    """Raises CalendarError unless the country and subdivision are known to ``holidays``."""
    supported = _supported_countries()
    if country is not None and (not isinstance(country, str) or country not in supported):
        raise CalendarError("holiday_country", 'a country code known to holidays ("RU")', country)
    allowed = list(supported[country]) if country is not None else []
    if subdivision is not None and subdivision not in allowed:
        raise CalendarError("holiday_subdivision", f"null or one of {allowed}", subdivision)


def _parse_hhmm(text: object, key: str, *, allow_24: bool) -> time:
    """Returns the time written as "HH:MM"; "24:00" (END_OF_DAY) only if `allow_24`."""
    if allow_24 and text == "24:00":
        return END_OF_DAY
    match = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(key, '"HH:MM" (00:00..23:59, or "24:00" as an end)', text)
    return time(int(match[1]), int(match[2]))


def parse_dates(raw: object, key: str) -> frozenset[date]:
    """Returns the set of dates listed as "YYYY-MM-DD" strings (or date objects)."""
    if not isinstance(raw, list | tuple | set | frozenset):
        raise CalendarError(key, 'a list of "YYYY-MM-DD" dates', raw)
    days = set()
    for item in raw:
        day = item
        if isinstance(item, str) and _ISO_DATE.fullmatch(item):
            with suppress(ValueError):
                day = date.fromisoformat(item)
        if not isinstance(day, date) or isinstance(day, datetime):
            raise CalendarError(key, 'a list of "YYYY-MM-DD" dates', item)
        days.add(day)
    return frozenset(days)


def _parse_working_hours(raw: object) -> dict[int, tuple[time, time]]:
    """Returns weekday -> (start, end) from {"mon": ["09:00", "18:00"], ...}; null = day off."""
    if not isinstance(raw, Mapping):
        raise CalendarError("working_hours", 'a mapping like {"mon": ["09:00", "18:00"]}', raw)
    hours: dict[int, tuple[time, time]] = {}
    for name, span in raw.items():
        key = f"working_hours.{name}"
        if name not in WEEKDAYS:
            raise CalendarError("working_hours", f"weekday keys among {list(WEEKDAYS)}", name)
        if span is None:
            continue
        if not (isinstance(span, list | tuple) and len(span) == 2):
            raise CalendarError(key, '["HH:MM", "HH:MM"] (start, end) or null', span)
        start = _parse_hhmm(span[0], key, allow_24=False)
        end = _parse_hhmm(span[1], key, allow_24=True)
        if end != END_OF_DAY and end <= start:
            raise CalendarError(key, "an end after the start", span)
        hours[WEEKDAYS.index(name)] = (start, end)
    return hours




def calendar_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the BusinessCalendar fields of a profile's ``calendar`` section.

    Keys: ``id``, ``version``, ``timezone``, ``working_hours`` (required); ``holidays``
    ({"country": "RU", "subdivision": ...} or null/missing for none),
    ``extra_non_working_days`` and ``extra_working_days`` (lists of "YYYY-MM-DD").
    Raises CalendarError, naming the key and what was expected, for a missing required
    key, an unknown key or any malformed value.
    """
    if not isinstance(data, Mapping):
        raise CalendarError("calendar", "a mapping of settings", data)
    for key in data:
        if key not in _CONFIG_KEYS:
            raise CalendarError(str(key), f"no unknown key (known: {sorted(_CONFIG_KEYS)})")
    for key in ("id", "version", "timezone", "working_hours"):
        if key not in data:
            raise CalendarError(key, "a value: the key is required")
    spec = data.get("holidays")
    spec = {"country": None} if spec is None else spec
    if not isinstance(spec, Mapping) or "country" not in spec:
        raise CalendarError("holidays", 'null or {"country": "RU"}', spec)
    for key in spec:
        if key not in _HOLIDAY_KEYS:
            raise CalendarError(f"holidays.{key}", f"a key among {sorted(_HOLIDAY_KEYS)}")
    try:
        return {"calendar_id": data["id"], "version": data["version"],
                "timezone": data["timezone"],
                "working_hours": _parse_working_hours(data["working_hours"]),
                "holiday_country": spec["country"],
                "holiday_subdivision": spec.get("subdivision"),
                "extra_non_working_days": data.get("extra_non_working_days", []),
                "extra_working_days": data.get("extra_working_days", [])}
    except CalendarError as error:
        raise config_error(error) from None


def config_error(error: CalendarError) -> CalendarError:
    """Returns `error` with its key named as the configuration spells it."""
    if error.key not in _FIELD_TO_CONFIG_KEY:
        return error
    return CalendarError(_FIELD_TO_CONFIG_KEY[error.key], error.expected, error.got)
