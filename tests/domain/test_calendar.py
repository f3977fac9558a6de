"""Tests of the business calendar (R-SLA-1, R-SLA-2, R-SLA-3, R-SLA-4, R-SLA-5, R-SLA-6,
R-DSP-1, R-QTA-3, R-QTA-6): fixed instants only."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domain.calendar as calendar_module
from domain.calendar import BusinessCalendar, CalendarError, ClockMode

MSK = ZoneInfo("Europe/Moscow")
SAMARA = ZoneInfo("Europe/Samara")  # UTC+4, no DST
BERLIN = ZoneInfo("Europe/Berlin")

BH = ClockMode.BUSINESS_HOURS
CEX = ClockMode.CALENDAR_EXCLUDING_NON_WORKING_DAYS
CONT = ClockMode.CONTINUOUS
BD = ClockMode.BUSINESS_DAYS
COUNTING_MODES = [BH, CEX, CONT]

MON_FRI = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*MON_FRI, "sat", "sun")


def config(cid: str, tz: str, start: str, end: str, days=MON_FRI, country="RU", **extra) -> dict:
    """Returns a calendar config section as a profile file holds it."""
    return {
        "id": cid,
        "version": 1,
        "timezone": tz,
        "working_hours": {d: [start, end] for d in days},
        "holidays": {"country": country} if country else None,
        "extra_non_working_days": [],
        "extra_working_days": [],
        **extra,
    }


CS_CART = BusinessCalendar.from_config(config("cs-cart", "Europe/Samara", "09:00", "18:00"))
CART_POWER = BusinessCalendar.from_config(config("cart-power", "Europe/Samara", "09:00", "18:00"))
IMAGECMS = BusinessCalendar.from_config(config("imagecms", "Europe/Moscow", "10:00", "18:00"))
PREM_SITE = BusinessCalendar.from_config(config("prem-site", "Europe/Moscow", "11:00", "20:00"))
INSALES_SUPPORT = BusinessCalendar.from_config(
    config("insales-support", "Europe/Moscow", "00:00", "24:00", days=ALL_DAYS, country=None)
)
INSALES_ADMIN = BusinessCalendar.from_config(
    config("insales-admin", "Europe/Moscow", "10:00", "19:00")
)
BERLIN_ALL_DAY = BusinessCalendar.from_config(
    config("berlin-24-7", "Europe/Berlin", "00:00", "24:00", days=ALL_DAYS, country=None)
)
BERLIN_OFFICE = BusinessCalendar.from_config(
    config("berlin-office", "Europe/Berlin", "09:00", "18:00", days=ALL_DAYS, country="DE")
)
CALENDARS = [
    CS_CART, IMAGECMS, PREM_SITE, INSALES_SUPPORT, INSALES_ADMIN, BERLIN_ALL_DAY, BERLIN_OFFICE
]


def at(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


# -- R-SLA-2: the profiles' calendars --------------------------------------------------------


def test_r_sla_2_ru_new_year_holidays_2026_are_non_working():
    for day in range(1, 9):
        assert not CS_CART.is_working_day(date(2026, 1, day))
    assert not CS_CART.is_working_day(date(2026, 1, 9))  # day off transferred from Jan 3
    assert CS_CART.is_working_day(date(2026, 1, 12))


def test_r_sla_2_ru_transferred_working_saturday_counts_with_monday_hours():
    # The holidays package knows 2025-11-01 (a Saturday) was a working day in Russia.
    assert CS_CART.is_working_day(date(2025, 11, 1))
    assert CS_CART.elapsed(at(SAMARA, 2025, 11, 1), at(SAMARA, 2025, 11, 2), BH) == timedelta(
        hours=9
    )
    assert not CS_CART.is_working_day(date(2025, 11, 3))  # the day off it paid for


def test_r_sla_2_cs_cart_and_cart_power_work_9_to_18_utc_plus_4_mon_fri():
    for cal in (CS_CART, CART_POWER):
        monday = at(SAMARA, 2026, 3, 16)
        assert cal.next_working_instant(monday) == at(SAMARA, 2026, 3, 16, 9)
        assert cal.next_working_instant(monday).utcoffset() == timedelta(hours=4)
        week = cal.elapsed(monday, monday + timedelta(days=7), BH)
        assert week == timedelta(hours=45)


def test_r_sla_3_business_hours_skip_nights_and_weekends():
    # 2 h on Friday 2026-03-13, 2 h on Monday 2026-03-16: Monday 11:00 (UTC+4).
    due = CS_CART.due(at(SAMARA, 2026, 3, 13, 16), timedelta(hours=4), BH)
    assert due == at(SAMARA, 2026, 3, 16, 11)
    assert due.tzinfo == SAMARA


def test_r_sla_2_imagecms_works_10_to_18_moscow():
    due = IMAGECMS.due(at(MSK, 2026, 3, 16, 10), timedelta(hours=24), BH)
    assert due == at(MSK, 2026, 3, 18, 18)
    assert IMAGECMS.next_working_instant(at(MSK, 2026, 3, 16, 9, 59)) == at(MSK, 2026, 3, 16, 10)


def test_r_sla_2_prem_site_premium_3_hours_in_its_11_to_20_day():
    due = PREM_SITE.due(at(MSK, 2026, 3, 13, 19), timedelta(hours=3), BH)
    assert due == at(MSK, 2026, 3, 16, 13)


def test_r_sla_2_insales_support_is_24_7_and_its_admin_queue_mon_fri_10_to_19():
    friday_noon = at(MSK, 2026, 3, 13, 12)
    assert INSALES_SUPPORT.due(friday_noon, timedelta(hours=24), CONT) == at(MSK, 2026, 3, 14, 12)
    assert INSALES_SUPPORT.due(friday_noon, timedelta(hours=24), BH) == at(MSK, 2026, 3, 14, 12)
    # R-SLA-3: weekend waiting time is not counted on the administrative calendar.
    assert INSALES_ADMIN.due(friday_noon, timedelta(hours=24), CEX) == at(MSK, 2026, 3, 16, 12)
    assert INSALES_ADMIN.due(friday_noon, timedelta(hours=36), CEX) == at(MSK, 2026, 3, 17)
    assert INSALES_ADMIN.due(friday_noon, timedelta(hours=9), BH) == at(MSK, 2026, 3, 16, 12)


def test_r_sla_1_insales_complaints_are_due_in_7_business_days():
    due = INSALES_ADMIN.due(at(MSK, 2026, 3, 16, 11), timedelta(days=7), BD)
    assert due == at(MSK, 2026, 3, 25, 19)


def test_r_sla_2_config_hours_may_end_at_24_00():
    assert INSALES_SUPPORT.working_hours[0] == (time(0), time(0))
    day = INSALES_SUPPORT.elapsed(at(MSK, 2026, 3, 16), at(MSK, 2026, 3, 17), BH)
    assert day == timedelta(hours=24)


def test_r_sla_2_extra_working_day_uses_monday_hours_and_extra_day_off_has_none():
    cal = BusinessCalendar.from_config(
        config("x", "Europe/Samara", "09:00", "18:00",
               extra_working_days=["2026-03-21"], extra_non_working_days=["2026-03-18"])
    )
    assert cal.is_working_day(date(2026, 3, 21))  # a Saturday
    assert cal.next_working_instant(at(SAMARA, 2026, 3, 21)) == at(SAMARA, 2026, 3, 21, 9)
    assert cal.elapsed(at(SAMARA, 2026, 3, 21), at(SAMARA, 2026, 3, 22), BH) == timedelta(hours=9)
    assert not cal.is_working_day(date(2026, 3, 18))


# -- R-DSP-1 and business days ----------------------------------------------------------------


def test_r_dsp_1_dispute_opened_friday_afternoon_is_due_tuesday_closing_time():
    due = CART_POWER.due_business_days(at(SAMARA, 2026, 3, 13, 15), 2)
    assert due == at(SAMARA, 2026, 3, 17, 18)
    assert CART_POWER.due(at(SAMARA, 2026, 3, 13, 15), timedelta(days=2), BD) == due


@pytest.mark.parametrize("opened", [at(SAMARA, 2026, 3, 13, 19), at(SAMARA, 2026, 3, 14, 12)])
def test_r_dsp_1_dispute_opened_outside_working_hours_counts_from_next_working_day(opened):
    assert CART_POWER.due_business_days(opened, 2) == at(SAMARA, 2026, 3, 18, 18)


def test_r_dsp_1_business_days_skip_public_holidays():
    # 2026-06-12 (Friday) is Russia Day.
    due = CART_POWER.due_business_days(at(SAMARA, 2026, 6, 11, 12), 2)
    assert due == at(SAMARA, 2026, 6, 16, 18)


def test_r_dsp_1_business_days_must_be_whole_days():
    with pytest.raises(CalendarError, match="duration"):
        CART_POWER.due(at(SAMARA, 2026, 3, 13, 15), timedelta(days=1, hours=1), BD)


# -- R-SLA-6: holidays and DST ------------------------------------------------------------------


def test_r_sla_6_holiday_adds_no_hours():
    # 2026-02-23 (Monday) is Defender of the Fatherland Day: a 36-hour week.
    week = CS_CART.elapsed(at(SAMARA, 2026, 2, 23), at(SAMARA, 2026, 3, 2), BH)
    assert week == timedelta(hours=36)
    assert CS_CART.elapsed(at(SAMARA, 2026, 2, 23), at(SAMARA, 2026, 2, 24), CEX) == timedelta(0)


def test_r_sla_6_new_year_holidays_push_due_to_january_12():
    # 2025-12-31 and 2026-01-01..09 are days off in Russia.
    due = CS_CART.due(at(SAMARA, 2025, 12, 30, 16), timedelta(hours=4), BH)
    assert due == at(SAMARA, 2026, 1, 12, 11)


def test_r_sla_6_dst_shift_creates_no_working_hour():
    # Berlin moves to CEST on 2026-03-29 and back on 2026-10-25 (both Sundays).
    for day, hours in ((date(2026, 3, 29), 23), (date(2026, 10, 25), 25)):
        start = datetime.combine(day, time(0), tzinfo=BERLIN)
        end = start + timedelta(days=1)  # wall-clock arithmetic: next local midnight
        for mode in COUNTING_MODES:
            assert BERLIN_ALL_DAY.elapsed(start, end, mode) == timedelta(hours=hours)
        assert BERLIN_OFFICE.elapsed(start, end, BH) == timedelta(hours=9)
    due = BERLIN_OFFICE.due(at(BERLIN, 2026, 3, 28, 17), timedelta(hours=2), BH)
    assert due == at(BERLIN, 2026, 3, 29, 10)


# -- R-SLA-4: pauses --------------------------------------------------------------------------


def test_r_sla_4_pause_while_waiting_on_customer_extends_due():
    start = at(SAMARA, 2026, 3, 16, 10)
    assert CS_CART.due(start, timedelta(hours=4), BH) == at(SAMARA, 2026, 3, 16, 14)
    pause = (at(SAMARA, 2026, 3, 16, 11), at(SAMARA, 2026, 3, 16, 13))
    due = CS_CART.due_with_pauses(start, timedelta(hours=4), BH, [pause])
    assert due == at(SAMARA, 2026, 3, 16, 16)
    assert CS_CART.elapsed(start, due, BH, [pause]) == timedelta(hours=4)


def test_r_sla_4_pause_outside_working_hours_changes_nothing():
    start = at(SAMARA, 2026, 3, 13, 16)
    weekend = (at(SAMARA, 2026, 3, 13, 18), at(SAMARA, 2026, 3, 16, 9))
    due = CS_CART.due_with_pauses(start, timedelta(hours=4), BH, [weekend])
    assert due == at(SAMARA, 2026, 3, 16, 11)


def test_r_sla_4_pause_extends_a_business_days_target_by_the_paused_working_hours():
    start = at(SAMARA, 2026, 3, 13, 15)
    pause = (at(SAMARA, 2026, 3, 16, 9), at(SAMARA, 2026, 3, 16, 18))  # all of Monday
    due = CART_POWER.due_with_pauses(start, timedelta(days=2), BD, [pause])
    assert due == at(SAMARA, 2026, 3, 18, 18)


def test_r_sla_4_a_pause_lasting_years_is_skipped_quickly():
    start = at(SAMARA, 2026, 3, 16, 10)
    pause = (start, at(SAMARA, 2036, 3, 17, 10))  # a Monday
    due = CS_CART.due_with_pauses(start, timedelta(hours=1), BH, [pause])
    assert due == at(SAMARA, 2036, 3, 17, 11)


# -- R-SLA-5: a due time is a function of the calendar's data ---------------------------------


def test_r_sla_5_calendar_is_frozen_versioned_data():
    assert CS_CART.calendar_id == "cs-cart" and CS_CART.version == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        CS_CART.version = 2  # type: ignore[misc]
    assert hash(CS_CART) == hash(BusinessCalendar.from_config(config(
        "cs-cart", "Europe/Samara", "09:00", "18:00")))


def test_r_sla_5_calendar_module_never_reads_the_clock_or_randomness():
    source = inspect.getsource(calendar_module)
    forbidden_calls = (".now(", ".today(", "utcnow", "time.time(", "time.monotonic(",
                       "import random", "from random", "import secrets", "os.environ")
    for forbidden in forbidden_calls:
        assert forbidden not in source


def test_r_qta_3_local_date_is_taken_in_the_calendar_timezone():
    # 2026-03-31 21:30 UTC is already April 1 in UTC+4: the month's counters have reset.
    assert CS_CART.local_date(datetime(2026, 3, 31, 21, 30, tzinfo=UTC)) == date(2026, 4, 1)
    assert IMAGECMS.local_date(datetime(2026, 3, 31, 20, 30, tzinfo=UTC)) == date(2026, 3, 31)


# -- configuration and arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"id": ""}, "id"),
        ({"version": "1"}, "version"),
        ({"version": True}, "version"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"working_hours": {"monday": ["09:00", "18:00"]}}, "working_hours"),
        ({"working_hours": {"mon": ["9:00", "18:00"]}}, "working_hours.mon"),
        ({"working_hours": {"mon": ["18:00", "09:00"]}}, "working_hours.mon"),
        ({"working_hours": {"mon": ["09:00"]}}, "working_hours.mon"),
        ({"working_hours": {}}, "working_hours"),
        ({"holidays": {"country": "XX"}}, "holidays.country"),
        ({"holidays": "RU"}, "holidays"),
        ({"holidays": {}}, "holidays"),
        ({"holidays": {"country": "RU", "region": "MOW"}}, "holidays.region"),
        ({"extra_non_working_days": ["31.12.2026"]}, "extra_non_working_days"),
        ({"extra_working_days": "2026-12-31"}, "extra_working_days"),
        ({"extra_working_days": ["2026-12-31"], "extra_non_working_days": ["2026-12-31"]},
         "extra_working_days"),
        ({"timezon": "Europe/Moscow"}, "timezon"),
    ],
)
def test_r_sla_2_malformed_calendar_config_names_the_key(change, key):
    data = {**config("bad", "Europe/Moscow", "09:00", "18:00"), **change}
    with pytest.raises(CalendarError) as error:
        BusinessCalendar.from_config(data)
    assert error.value.key == key
    assert key in str(error.value) and "expected" in str(error.value)
    assert error.value.code == "invalid_argument" and isinstance(error.value, ValueError)


def test_r_sla_2_missing_required_key_is_named():
    data = config("bad", "Europe/Moscow", "09:00", "18:00")
    del data["timezone"]
    with pytest.raises(CalendarError, match="timezone"):
        BusinessCalendar.from_config(data)


def test_r_sla_2_direct_construction_is_validated_too():
    with pytest.raises(CalendarError, match="working_hours"):
        BusinessCalendar("x", 1, "Europe/Moscow", {0: (time(9, tzinfo=UTC), time(18))})
    with pytest.raises(CalendarError, match="holiday_country"):
        BusinessCalendar("x", 1, "Europe/Moscow", {0: (time(9), time(18))}, "Narnia")
    cal = BusinessCalendar("x", 1, "Europe/Moscow", {0: (time(9), time(18))},
                           extra_working_days=frozenset({date(2026, 3, 21)}))
    assert cal.is_working_day(date(2026, 3, 21)) and not cal.is_working_day(date(2026, 3, 17))


def test_r_sla_3_unknown_clock_mode_is_rejected():
    with pytest.raises(CalendarError, match="mode"):
        CS_CART.due(at(SAMARA, 2026, 3, 16), timedelta(hours=1), "wall_clock")
    assert CS_CART.due(at(SAMARA, 2026, 3, 16), timedelta(hours=1), "business_hours") == at(
        SAMARA, 2026, 3, 16, 10
    )


def test_r_sla_6_naive_datetimes_are_rejected():
    naive = datetime(2026, 3, 16, 10)
    with pytest.raises(CalendarError, match="start"):
        CS_CART.due(naive, timedelta(hours=1), BH)
    with pytest.raises(CalendarError, match="end"):
        CS_CART.elapsed(at(SAMARA, 2026, 3, 16), naive, BH)
    with pytest.raises(CalendarError, match="pauses"):
        CS_CART.elapsed(at(SAMARA, 2026, 3, 16), at(SAMARA, 2026, 3, 17), BH, [(naive, naive)])
    with pytest.raises(CalendarError, match="day"):
        CS_CART.is_working_day(naive)


# -- properties ----------------------------------------------------------------------------------

ZONES = st.sampled_from([UTC, MSK, SAMARA, BERLIN])
instants = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31), timezones=ZONES
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=120))
calendars = st.sampled_from(CALENDARS)
modes = st.sampled_from(COUNTING_MODES)
pause_lists = st.lists(
    st.tuples(st.timedeltas(timedelta(0), timedelta(days=10)),
              st.timedeltas(timedelta(0), timedelta(days=2))),
    max_size=3,
)
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def utc(moment: datetime) -> datetime:
    """Returns `moment` in UTC: aware datetimes sharing a tzinfo compare by wall clock."""
    return moment.astimezone(UTC)


def as_pauses(start: datetime, offsets) -> list[tuple[datetime, datetime]]:
    """Pauses at elapsed-time offsets from `start`: counted in UTC, since Python adds a
    timedelta to an aware datetime on the wall clock, which could put a pause's start
    in a DST gap (Berlin, 29 March 2026, 02:39) after its end."""
    start = utc(start)
    return [(start + a, start + a + length) for a, length in offsets]


@PROPERTY
@given(cal=calendars, start=instants, duration=durations, mode=modes, offsets=pause_lists)
def test_r_sla_3_elapsed_until_due_is_the_duration(cal, start, duration, mode, offsets):
    assert cal.elapsed(start, cal.due(start, duration, mode), mode) == duration
    pauses = as_pauses(start, offsets)
    due = cal.due_with_pauses(start, duration, mode, pauses)
    assert cal.elapsed(start, due, mode, pauses) == duration
    assert utc(due) >= utc(cal.due(start, duration, mode))  # R-SLA-4: never brought forward


@PROPERTY
@given(cal=calendars, start=instants, gap=durations, duration=durations, more=durations,
       mode=modes)
def test_r_sla_3_due_is_monotonic_in_start_and_duration(cal, start, gap, duration, more, mode):
    due = utc(cal.due(start, duration, mode))
    assert due >= utc(start)
    assert due <= utc(cal.due(utc(start) + gap, duration, mode))
    assert due <= utc(cal.due(start, duration + more, mode))


@PROPERTY
@given(cal=calendars, start=instants, gap=durations, days=st.integers(0, 10),
       more=st.integers(0, 5), offsets=pause_lists)
def test_r_dsp_1_business_days_due_is_monotonic(cal, start, gap, days, more, offsets):
    due = utc(cal.due_business_days(start, days))
    assert due == utc(cal.due(start, timedelta(days=days), BD))
    assert due <= utc(cal.due_business_days(utc(start) + gap, days))
    assert due <= utc(cal.due_business_days(start, days + more))
    if days:
        assert cal.is_working_day(cal.local_date(due - timedelta(microseconds=1)))
    paused = cal.due_with_pauses(start, timedelta(days=days), BD, as_pauses(start, offsets))
    assert utc(paused) >= due  # R-SLA-4


@PROPERTY
@given(start=st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2026, 4, 5),
                          timezones=ZONES) | st.datetimes(min_value=datetime(2026, 10, 18),
                          max_value=datetime(2026, 11, 1), timezones=ZONES),
       length=durations, mode=modes)
def test_r_sla_6_dst_week_creates_or_loses_no_hour(start, length, mode):
    end = utc(start) + length
    assert BERLIN_ALL_DAY.elapsed(start, end, mode) == length
    assert utc(BERLIN_ALL_DAY.due(start, length, mode)) == utc(start) + length


@PROPERTY
@given(cal=st.sampled_from([CS_CART, IMAGECMS, INSALES_ADMIN, BERLIN_OFFICE]), start=instants,
       length=durations, day=st.dates(date(2025, 12, 1), date(2026, 12, 31)), mode=modes)
def test_r_sla_6_a_day_made_a_holiday_adds_zero_elapsed_time(cal, start, length, day, mode):
    closed = dataclasses.replace(cal, extra_non_working_days=frozenset({day}))
    tz = ZoneInfo(cal.timezone)
    day_start = datetime.combine(day, time(0), tzinfo=tz)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    assert closed.elapsed(day_start, day_end, mode if mode is not CONT else BH) == timedelta(0)
    end = utc(start) + length
    lo, hi = max(utc(start), utc(day_start)), min(end, utc(day_end))
    in_day = cal.elapsed(lo, hi, mode) if mode is not CONT else timedelta(0)
    assert closed.elapsed(start, end, mode) == cal.elapsed(start, end, mode) - in_day


@PROPERTY
@given(cal=calendars, a=instants, ab=durations, bc=durations, mode=modes)
def test_r_sla_3_elapsed_adds_up_over_consecutive_intervals(cal, a, ab, bc, mode):
    b, c = utc(a) + ab, utc(a) + ab + bc
    assert cal.elapsed(a, c, mode) == cal.elapsed(a, b, mode) + cal.elapsed(b, c, mode)


@PROPERTY
@given(cal=calendars, moment=instants)
def test_r_sla_3_next_working_instant_is_the_first_working_moment(cal, moment):
    first = utc(cal.next_working_instant(moment))
    assert first >= utc(moment)
    assert cal.elapsed(moment, first, BH) == timedelta(0)
    assert cal.elapsed(first, first + timedelta(seconds=1), BH) == timedelta(seconds=1)
