"""The instants the desk accepts: timezone-aware, from 2000-01-01T00:00Z (included) to
2100-01-01T00:00Z (excluded).

Every instant a command carries (its `at`, a ban's `until`) and every `now` given to the
desk is checked against this range before any arithmetic on it. Python's `datetime`
holds the years 1 to 9999 only, so an instant near either end overflows as soon as it is
moved to UTC or a period is added to it (`9999-12-31T23:59:59-12:00`,
`0001-01-01T00:30:00+14:00`: `OverflowError: date value out of range`). The range holds
every date a support desk deals with, and everything the rules add to one (a twelve-month
term, business days, a month's rollover) stays far inside `datetime`. It reads no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidArgumentError

#: The first instant accepted.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: The first instant no longer accepted.
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class InstantOutOfRangeError(InvalidArgumentError, ValueError):
    """Raised for an instant outside [EARLIEST, LATEST), or one that cannot be moved to
    UTC at all (code `invalid_argument`; also a ValueError)."""


def within_range(value: Any, name: str) -> datetime:
    """Returns `value` (a timezone-aware datetime) in UTC.

    Raises InvalidArgumentError if it is not an aware datetime, and InstantOutOfRangeError
    unless EARLIEST <= value < LATEST. The local reading's year is checked before the
    conversion to UTC, so the conversion itself can never overflow.
    """
    try:
        offset = value.utcoffset() if isinstance(value, datetime) else None
    except (ValueError, TypeError, OverflowError):  # a tzinfo that is not a real offset
        offset = None
    if offset is None:
        raise InvalidArgumentError(f"{name} must be an instant with a timezone offset")
    if not EARLIEST.year - 1 <= value.year <= LATEST.year:
        raise _out_of_range(name, value)
    at = value.astimezone(UTC)
    if not EARLIEST <= at < LATEST:
        raise _out_of_range(name, value)
    return at


def _out_of_range(name: str, value: datetime) -> InstantOutOfRangeError:
    return InstantOutOfRangeError(
        f"{name} must lie from {EARLIEST:%Y-%m-%dT%H:%MZ} up to (not including) "
        f"{LATEST:%Y-%m-%dT%H:%MZ}, got {value.isoformat()}")
