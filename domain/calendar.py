"""Business calendar: which days are working days, when an SLA target falls due and how much
counted time lies between two instants (R-SLA-2, R-SLA-3, R-SLA-4, R-SLA-5, R-SLA-6,
R-DSP-1), plus local dates for period boundaries (R-QTA-3, R-QTA-6), so that a due time can
be recorded with the calendar version and clock mode that produced it (R-SLA-5). It is pure:
it must never read the system clock or a random source, nor do I/O; every instant comes from
the caller. Public holidays come from the ``holidays`` package (cached per country,
subdivision and year), never from a hand-written table; extra non-working and working days
come from configuration."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache, wraps
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import holidays

from domain.calendar_config import (
    END_OF_DAY,
    CalendarError,
    calendar_fields,
    check_country,
    check_zone,
    config_error,
    parse_dates,
)

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_T = TypeVar("_T")

Interval = tuple[datetime, datetime]
_DaySets = tuple[frozenset[date], frozenset[date]]


class ClockMode(StrEnum):
    """How an SLA clock counts time (R-SLA-3). A StrEnum: a `str` and an `Enum`."""

    BUSINESS_HOURS = "business_hours"
    CALENDAR_EXCLUDING_NON_WORKING_DAYS = "calendar_excluding_non_working_days"
    CONTINUOUS = "continuous"
    BUSINESS_DAYS = "business_days"


@lru_cache(maxsize=512)
def _public_days(country: str, subdivision: str | None, year: int) -> _DaySets:
    """Returns (public days off, weekend days made working) of one country and year.

    Cached: building a ``holidays`` table is slow. The second set holds the transferred working
    Saturdays that the package knows for countries such as RU (e.g. 2024-11-02).
    """
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    workdays = getattr(table, "weekend_workdays", ()) or ()
    return frozenset(table.keys()), frozenset(d for d in workdays if d.year == year)


def _in_range(method: Callable[..., _T]) -> Callable[..., _T]:
    """Turns an OverflowError of `method` (an instant or a day stepped past the years
    1..9999 that `datetime` holds) into a CalendarError, so that no instant given to the
    calendar ends in anything but a typed error."""

    @wraps(method)
    def checked(*args: Any, **kwargs: Any) -> _T:
        try:
            return method(*args, **kwargs)
        except OverflowError:
            raise CalendarError(
                "instant", "instants whose results stay within the years datetime holds",
                args[1] if len(args) > 1 else None) from None
    return checked


@dataclass(frozen=True)
class BusinessCalendar:
    """One version of a profile's business calendar (R-SLA-2): timezone, hours, days off.

    A day is a working day when its weekday has working hours, or when it is listed in
    `extra_working_days` or is a transferred working Saturday of `holiday_country` (from the
    ``holidays`` package), unless it is in `extra_non_working_days` or is a public holiday.
    Precedence: `extra_non_working_days` > `extra_working_days` > public holiday > transferred
    working day > weekday hours. A working day whose weekday has no hours (a working Saturday)
    uses the hours of the first configured weekday in Mon..Sun order (Monday for a Mon-Fri
    calendar). Working hours are wall-clock hours of each local day; an end of
    ``END_OF_DAY`` (midnight) means the end of the day.
    """

    calendar_id: str
    version: int
    timezone: str
    working_hours: Mapping[int, tuple[time, time]]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    extra_non_working_days: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _fallback_hours: tuple[time, time] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Raises CalendarError for a malformed field; freezes hours and extra days."""
        if not (isinstance(self.calendar_id, str) and self.calendar_id):
            raise CalendarError("calendar_id", "a non-empty string", self.calendar_id)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise CalendarError("version", "a positive integer", self.version)
        object.__setattr__(self, "_zone", check_zone(self.timezone))
        if not isinstance(self.working_hours, Mapping) or not self.working_hours:
            raise CalendarError("working_hours", "hours for some weekday", self.working_hours)
        for weekday, span in self.working_hours.items():
            if weekday not in range(7):
                raise CalendarError("working_hours", "weekday keys 0 (Mon) .. 6 (Sun)", weekday)
            if not (isinstance(span, tuple) and len(span) == 2
                    and all(isinstance(t, time) and t.tzinfo is None for t in span)
                    and (span[1] == END_OF_DAY or span[0] < span[1])):
                raise CalendarError(
                    f"working_hours[{weekday}]", "(start, end) naive times, start < end", span
                )
        hours = MappingProxyType(dict(sorted(self.working_hours.items())))
        object.__setattr__(self, "working_hours", hours)
        object.__setattr__(self, "_fallback_hours", next(iter(hours.values())))
        check_country(self.holiday_country, self.holiday_subdivision)
        for name in ("extra_non_working_days", "extra_working_days"):
            object.__setattr__(self, name, parse_dates(getattr(self, name), name))
        both = self.extra_non_working_days & self.extra_working_days
        if both:
            raise CalendarError("extra_working_days", "no date also non-working", sorted(both))

    def __hash__(self) -> int:
        # Explicit because the generated hash would fail on the working-hours mapping.
        return hash((self.calendar_id, self.version, self.timezone, *self.working_hours.items()))

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Returns the calendar described by a profile's ``calendar`` section; raises
        CalendarError, naming the key as the configuration spells it
        (`domain.calendar_config`)."""
        fields = calendar_fields(data)
        try:
            return cls(**fields)
        except CalendarError as error:
            raise config_error(error) from None

    def is_working_day(self, day: date) -> bool:
        """Returns True if `day` (a local calendar date) has working hours."""
        if isinstance(day, datetime) or not isinstance(day, date):
            raise CalendarError("day", "a date (not a datetime)", day)
        return self._hours_for(day) is not None

    @_in_range
    def local_date(self, at: datetime) -> date:
        """Returns the date of `at` in the calendar's timezone (month and ISO-week boundaries,
        R-QTA-3, R-QTA-6)."""
        return _aware(at, "at").astimezone(self._zone).date()

    def _hours_for(self, day: date) -> tuple[time, time] | None:
        """Returns the working hours of `day`, or None if it is not a working day."""
        if day in self.extra_non_working_days:
            return None
        hours = self.working_hours.get(day.weekday())
        if day in self.extra_working_days:
            return hours or self._fallback_hours
        if self.holiday_country is not None:
            country, subdivision = self.holiday_country, self.holiday_subdivision
            days_off, workdays = _public_days(country, subdivision, day.year)
            if day in days_off:
                return None
            if day in workdays:
                return hours or self._fallback_hours
        return hours

    def _utc(self, day: date, at: time) -> datetime:
        """Returns the UTC instant of wall-clock time `at` on local `day` (fold=0 on DST)."""
        return datetime.combine(day, at, tzinfo=self._zone).astimezone(UTC)

    def _interval(self, day: date, mode: ClockMode) -> Interval | None:
        """Returns the counted UTC interval of local `day` under `mode`, or None."""
        if mode is ClockMode.CONTINUOUS:
            start, end = END_OF_DAY, END_OF_DAY
        else:
            hours = self._hours_for(day)
            if hours is None:
                return None
            start, end = (END_OF_DAY, END_OF_DAY) if mode is not ClockMode.BUSINESS_HOURS else hours
        # Wall-clock bounds converted to UTC: a 23- or 25-hour DST day counts its true length,
        # so no working hour is created or lost (R-SLA-6).
        lo = self._utc(day, start)
        hi = self._utc(day + _DAY, END_OF_DAY) if end == END_OF_DAY else self._utc(day, end)
        return (lo, hi) if lo < hi else None

    def _counted(
        self, start: datetime, mode: ClockMode, pauses: list[Interval], until: datetime | None
    ) -> Iterator[Interval]:
        """Yields the counted UTC intervals after `start`, in order, with `pauses` cut out.

        Steps day by day; stops before a day that begins at or after `until` (never if None).
        """
        day = start.astimezone(self._zone).date() - _DAY
        i = 0
        while until is None or self._utc(day, END_OF_DAY) < until:
            midnight = self._utc(day, END_OF_DAY)
            while i < len(pauses) and pauses[i][1] <= midnight:
                i += 1
            if i < len(pauses) and pauses[i][0] <= midnight:
                # A pause spanning many days is skipped in one step, not walked through.
                last = pauses[i][1].astimezone(self._zone).date() - _DAY
                if last > day:
                    day = last
                    continue
            span = self._interval(day, mode)
            day += _DAY
            if span is None:
                continue
            lo, hi = max(span[0], start), span[1]
            while lo < hi:
                while i < len(pauses) and pauses[i][1] <= lo:
                    i += 1
                if i == len(pauses) or pauses[i][0] >= hi:
                    yield lo, hi
                    break
                if pauses[i][0] > lo:
                    yield lo, pauses[i][0]
                lo = pauses[i][1]

    @_in_range
    def next_working_instant(self, at: datetime) -> datetime:
        """Returns `at` if it lies in working hours, else the start of the next working hours."""
        lo, _ = next(self._counted(_aware(at, "at"), ClockMode.BUSINESS_HOURS, [], None))
        return lo.astimezone(self._zone)

    @_in_range
    def elapsed(self, start: datetime, end: datetime, mode: ClockMode,
                pauses: Sequence[tuple[datetime, datetime]] = ()) -> timedelta:
        """Returns the counted time between `start` and `end` outside `pauses` (R-SLA-4).

        Returns zero when `end` is not after `start`. BUSINESS_DAYS measures working hours (as
        BUSINESS_HOURS): a count of whole days would hide the progress within a day.
        """
        start_utc, end_utc = _aware(start, "start"), _aware(end, "end")
        mode = _mode(mode)
        if mode is ClockMode.BUSINESS_DAYS:
            mode = ClockMode.BUSINESS_HOURS
        total = _ZERO
        if end_utc <= start_utc:
            return total
        for lo, hi in self._counted(start_utc, mode, _merge(pauses), end_utc):
            if lo >= end_utc:
                break
            total += min(hi, end_utc) - lo
        return total

    def due(self, start: datetime, duration: timedelta, mode: ClockMode) -> datetime:
        """Returns the earliest instant at which `duration` of counted time has elapsed after
        `start`, in the calendar's timezone (R-SLA-3). A zero duration returns `start`. Under
        BUSINESS_DAYS the duration must be whole days: see `due_business_days`."""
        return self.due_with_pauses(start, duration, mode, ())

    @_in_range
    def due_with_pauses(self, start: datetime, duration: timedelta, mode: ClockMode,
                        pauses: Sequence[tuple[datetime, datetime]]) -> datetime:
        """Returns the due time when the clock stood still during `pauses` (R-SLA-4).

        Guarantees ``elapsed(start, result, mode, pauses) == duration`` for every mode but
        BUSINESS_DAYS. Under BUSINESS_DAYS the working hours between `start` and the unpaused
        business-day due time form a budget, and paused working hours push the due time back.
        """
        start_utc = _aware(start, "start")
        mode = _mode(mode)
        if not isinstance(duration, timedelta) or duration < _ZERO:
            raise CalendarError("duration", "a non-negative timedelta", duration)
        merged = _merge(pauses)
        if mode is ClockMode.BUSINESS_DAYS:
            if duration % _DAY:
                raise CalendarError("duration", "whole days in BUSINESS_DAYS mode", duration)
            deadline = self.due_business_days(start, duration // _DAY)
            if not merged:
                return deadline
            mode = ClockMode.BUSINESS_HOURS
            duration = self.elapsed(start, deadline, mode)
        if not duration:
            return start_utc.astimezone(self._zone)
        remaining = duration
        for lo, hi in self._counted(start_utc, mode, merged, None):
            if hi - lo >= remaining:
                return (lo + remaining).astimezone(self._zone)
            remaining -= hi - lo
        raise AssertionError("unreachable: a calendar always has working hours ahead")

    @_in_range
    def due_business_days(self, start: datetime, days: int) -> datetime:
        """Returns the end of working hours of the `days`-th working day after the start day.

        The start day is the local date of ``next_working_instant(start)``: a ticket opened on
        Friday 15:00 with 2 business days is due at Tuesday's closing time; one opened Friday
        19:00 or on Saturday counts from Monday and is due at Wednesday's closing time (R-DSP-1,
        R-SLA-1). The start day itself never counts. Zero days returns `start`.
        """
        start_utc = _aware(start, "start")
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise CalendarError("days", "a non-negative integer", days)
        if days == 0:
            return start_utc.astimezone(self._zone)
        day = self.local_date(self.next_working_instant(start_utc))
        while True:
            day += _DAY
            span = self._interval(day, ClockMode.BUSINESS_HOURS)
            if span is not None:
                days -= 1
                if days == 0:
                    return span[1].astimezone(self._zone)


def _aware(at: object, key: str) -> datetime:
    """Returns `at` in UTC; raises CalendarError unless it is a timezone-aware datetime
    that `datetime` can hold in UTC."""
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise CalendarError(key, "a timezone-aware datetime", at)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise CalendarError(key, "an instant that datetime can hold in UTC", at) from None


def _mode(mode: object) -> ClockMode:
    """Returns `mode` as a ClockMode; raises CalendarError for an unknown mode."""
    try:
        return ClockMode(mode)
    except ValueError:
        raise CalendarError("mode", f"one of {[m.value for m in ClockMode]}", mode) from None


def _merge(pauses: Sequence[tuple[datetime, datetime]]) -> list[Interval]:
    """Returns `pauses` in UTC, sorted, with overlapping and touching intervals merged."""
    spans = []
    for index, pause in enumerate(pauses):
        if not (isinstance(pause, tuple | list) and len(pause) == 2):
            raise CalendarError(f"pauses[{index}]", "a (start, end) pair", pause)
        lo, hi = _aware(pause[0], f"pauses[{index}]"), _aware(pause[1], f"pauses[{index}]")
        if hi < lo:
            raise CalendarError(f"pauses[{index}]", "an end not before its start", pause)
        if lo < hi:
            spans.append((lo, hi))
    merged: list[Interval] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
