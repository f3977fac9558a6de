"""No input crashes the desk: hostile values of every kind in every field of every
command, in `do`, `at`, `command_id` and the request itself, as decoded objects and as
JSON lines. Every request gets an answer, with a code from the documented list
(`ERRORS_BY_CODE`) and never `internal_error` (bad input is caught by the checks, not
by the last resort), and a refused request leaves the store byte for byte as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.base import utc
from domain.calendar import CalendarError
from domain.commands.args import MAX_ID, MAX_TEXT, SPECS, instant, parse_args
from domain.commands.request import REQUEST_FIELDS, answer_json, answer_request
from domain.desk import SupportDesk
from domain.errors import ERRORS_BY_CODE, InvalidArgumentError
from domain.instants import EARLIEST, LATEST, within_range
from domain.policy.profile import builtin_profile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)

# --- the lines of the incident: each ended `supportlog command` with a traceback -------

INCIDENT = [
    '{"do": "register_customer", "args": {"customer": "x"}, "at": "9999-12-31T23:59:59-12:00"}',
    '{"do": "register_customer", "args": {"customer": "x"}, "at": "0001-01-01T00:30:00+14:00"}',
    '{"do": "ban", "args": {"customer": "c1", "agent": "a1", "reason": "spam", '
    '"until": "9999-12-31T23:59:59-12:00"}}',
    '{"do": []}',
    '{"do": {}}',
]


def world(profile: str = "cart-power") -> SupportDesk:
    """A desk with a customer, credits, a ticket and a charge t1/1 to aim at."""
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile(profile), T0)
    desk.default_profile = profile
    for n, (command, args) in enumerate([
            ("register_customer", {"customer": "c1"}),
            ("purchase_credits", {"customer": "c1", "purchase": "p1", "package": 80}),
            ("open_ticket", {"customer": "c1", "ticket": "t1", "department": "technical",
                             "channel": "helpdesk", "subject": "Checkout fails"}),
            ("log_work", {"ticket": "t1", "agent": "a1", "minutes": 20,
                          "kind": "investigation", "classification": "third_party_addon"}),
    ]):
        desk.execute(command, args, T0 + timedelta(minutes=n))
    return desk


def stored(desk: SupportDesk) -> list:
    return [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
            for n in desk.recorder.select_notifications(1, 100_000)]


def no_report(error: BaseException) -> str:
    raise AssertionError(f"a hostile input reached the last resort: {error!r}") from error


def clock() -> datetime:
    return NOW


@pytest.mark.parametrize("line", INCIDENT)
def test_the_incident_lines_are_refused_as_invalid_arguments(line):
    desk = world()
    before = stored(desk)
    answer = answer_json(desk, line, clock, no_report)
    assert answer["accepted"] is False and answer["code"] == "invalid_argument", answer
    assert stored(desk) == before


def test_a_nul_in_an_id_or_text_is_refused_before_anything_is_stored():
    desk = world()
    before = stored(desk)
    for args in ({"customer": "nul\x00cust"}, {"customer": "c9", "name": "a\x00b"},
                 {"customer": "sur\ud800"}, {"customer": "c9", "email": "\udfff@x"}):
        with pytest.raises(InvalidArgumentError, match=r"NUL|surrogate"):
            desk.execute("register_customer", args, NOW)
    assert stored(desk) == before


@pytest.mark.parametrize("text", [
    "1999-12-31T23:59:59.999999Z", "2100-01-01T00:00:00Z", "2099-12-31T23:30:00-14:00",
    "2000-01-01T13:59:59+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:30:00+14:00"])
def test_instants_outside_2000_to_2100_are_refused_before_any_arithmetic(text):
    with pytest.raises(InvalidArgumentError, match="must lie from 2000-01-01T00:00Z"):
        instant(text, "at")


def test_instants_at_the_edges_of_the_range_are_accepted():
    assert utc(instant("2000-01-01T14:00:00+14:00", "at")) == EARLIEST
    assert utc(instant("2099-12-31T23:59:59.999999Z", "at")) == LATEST - timedelta(
        microseconds=1)


def test_the_desk_refuses_a_now_outside_the_range_and_utc_never_overflows():
    desk = world()
    far = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12)))
    with pytest.raises(InvalidArgumentError):
        desk.execute("register_customer", {"customer": "c9"}, far)
    with pytest.raises(InvalidArgumentError):
        utc(far)
    with pytest.raises(InvalidArgumentError):
        within_range(datetime(2026, 1, 1), "now")  # naive
    with pytest.raises(CalendarError):
        builtin_profile("cart-power").calendar.due_business_days(far, 3)


def test_do_must_be_a_string_naming_a_command():
    for do in ([], {}, None, 1, 1.5, True, "drop_table"):
        with pytest.raises(InvalidArgumentError):
            parse_args(do, {})  # type: ignore[arg-type]


# --- the property ----------------------------------------------------------------------

OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
INSTANT_TEXTS = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:30:00+14:00",
                     "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2026-03-03T09:00:00",
                     "2026-13-45T99:00Z", "2026-03-03T09:00:00+24:00", "Z", "",
                     "2026-03-03T09:00:00\x00Z", "2026-03-03T09:00:00+04:00" + " " * 100]),
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(),
              st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
              OFFSETS),
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(),
              st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 3, 5)),
              OFFSETS))
STRINGS = st.one_of(
    st.sampled_from(["", " ", "nul\x00cust", "\x00", "\ud800", "a\udfffb", "\udbff\udc00",
                     "t1/\u00b2", "t1/\u0661", "t1/0", "t1/" + "9" * 150, "c1", "t1", "t1/1", "a1",
                     "\u202e\u0301", "line\nbreak", "\ufeff"]),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc"]), min_size=1,
            max_size=5),
    st.integers(MAX_ID - 2, MAX_ID + 2).map(lambda n: "x" * n),
    st.integers(MAX_TEXT - 2, MAX_TEXT + 2).map(lambda n: "y" * n),
    st.just("z" * 100_000))
WRONG_TYPES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80),
    st.sampled_from([0, -1, 10**30, 2**63, -(2**63) - 1, 10**5000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e308, 80.0]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=2), max_leaves=30))
HOSTILE = st.one_of(STRINGS, INSTANT_TEXTS, WRONG_TYPES)

GOOD = {
    "customer": "c1", "ticket": "t1", "of": "t1", "agent": "a1", "license": "l1",
    "product": "cs-cart", "subscription": "s1", "plan": "premium", "term": "1m",
    "purchase": "p2", "package": 80, "addon": "ad1", "paid": True, "in_package": False,
    "department": "technical", "channel": "helpdesk", "subject": "Broken", "body": "text",
    "category": "technical", "minutes": 15, "kind": "investigation",
    "classification": "third_party_addon", "notice": "charge_over_40",
    "reason": "cannot_reproduce", "to": "custom_development", "estimate_hours": 3,
    "technical_fault": False, "until": "2026-04-01T00:00:00Z", "dispute": "d1",
    "charge": "t1/1", "outcome": "upheld", "email": "a@b.c", "name": "N",
    "anonymous": False, "desk": "cart-power", "domain": "shop.example",
    "waiting_on_customer": True,
}
DO = st.one_of(st.sampled_from(sorted(SPECS)), st.sampled_from(sorted(SPECS)),
               st.sampled_from(sorted(SPECS)), HOSTILE,
               st.sampled_from(["REGISTER_CUSTOMER", "register_customer\x00", "__init__",
                                "fire", "execute", "handlers", "_claim_domain"]))


@st.composite
def requests(draw) -> object:
    """A request object: one in four well formed (so that accepted commands and the
    rules' refusals come up too), the others with one to three hostile parts."""
    clean = draw(st.integers(0, 3)) == 0
    do = draw(st.sampled_from(sorted(SPECS)) if clean else DO)
    required, optional = SPECS.get(do, ({}, {})) if isinstance(do, str) else ({}, {})
    fields = list(required) + [f for f in optional if draw(st.booleans())]
    args: object = {f: GOOD.get(f, "x") for f in fields}
    request: dict = {"do": do, "args": args}
    if clean:
        if draw(st.booleans()):
            request["at"] = "2026-03-03T12:00:00+04:00"
        if draw(st.booleans()):
            request["command_id"] = draw(st.sampled_from(["r1", "r2"]))
        return request
    names = [*fields, "unexpected", "\x00", "\ud800"]
    for _ in range(draw(st.integers(1, 3))):
        args[draw(st.sampled_from(names))] = draw(HOSTILE)  # type: ignore[index]
    if draw(st.integers(0, 19)) == 0:
        request["args"] = draw(HOSTILE)
    choice = draw(st.integers(0, 3))
    if choice == 1:
        request["at"] = draw(st.one_of(INSTANT_TEXTS, HOSTILE))
    elif choice == 2:
        request["command_id"] = draw(st.one_of(STRINGS, WRONG_TYPES))
    elif choice == 3:
        request[draw(st.sampled_from(["extra", "\x00", *REQUEST_FIELDS]))] = draw(HOSTILE)
    if draw(st.integers(0, 29)) == 0:
        return draw(st.one_of(HOSTILE, st.just({"args": {}})))
    return request


RAW_LINES = st.one_of(
    st.binary(max_size=40), st.sampled_from([
        b"\xff\xfe{}", b'{"do": "register_customer"', b"[" * 5000 + b"]" * 5000, b"null",
        b'{"do": "register_customer", "args": {"customer": "\\ud800"}}',
        b'{"do": "register_customer", "args": {"customer": "c9"}, "at": 1e999}',
        b'{"do": "purchase_credits", "args": {"customer": "c1", "purchase": "p9", '
        b'"package": 123456789012345678901234567890}}',
        b'{"do": "register_customer", "args": {"customer": "a\\u0000b"}}']))


def as_line(request: object) -> bytes | None:
    """The request as a client would write it (NaN as `NaN`, surrogates escaped), or
    None if no JSON can say it (an integer of more than 4300 digits)."""
    try:
        return json.dumps(request, allow_nan=True).encode()
    except (ValueError, TypeError):
        return None


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(st.tuples(st.integers(0, 2), requests(), RAW_LINES),
                      min_size=1, max_size=8))
def test_every_hostile_request_gets_a_coded_answer_and_a_refusal_writes_nothing(batch):
    desk = world()
    for path, request, raw in batch:
        before = stored(desk)
        if path == 0:
            answer = answer_request(desk, request, clock, no_report)
        elif path == 1 and (line := as_line(request)) is not None:
            answer = answer_json(desk, line, clock, no_report)
        else:
            answer = answer_json(desk, raw, clock, no_report)
        orjson.dumps(answer)  # writable as a JSON line, whatever the input quoted
        event(f"path {path}: {answer.get('code', 'accepted')}")
        assert isinstance(answer, dict) and isinstance(answer.get("accepted"), bool)
        if not answer["accepted"]:
            assert answer["code"] in ERRORS_BY_CODE and answer["code"] != "internal_error"
            assert answer["message"]
            assert stored(desk) == before, f"refused ({answer}) but the store changed"
