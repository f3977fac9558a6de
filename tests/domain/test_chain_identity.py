"""Stored hash chains depend on `event_hash` never changing its bytes: the faster
encoding must hash every value exactly as the original implementation did, which this
test keeps as the reference. It compares the two over generated values (every type the
canonical form treats specially, nested, as values and as keys) and over every event of a
played demo workload, both as the desk created it and as decoded from the store."""

from __future__ import annotations

import contextlib
import hashlib
import string
from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.chain import event_hash
from domain.desk import SupportDesk
from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from supportlog.workload import START, Workload

# --- the reference: domain/chain.py as it was when the first chains were stored ---------


def _reference_canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_reference_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _reference_canonical(v) for k, v in value.items()}
    return value


def reference_event_hash(type_name: str, state: dict[str, Any]) -> str:
    body = orjson.dumps(
        {"type": type_name, "state": _reference_canonical(state)}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(body).hexdigest()


# --- generated values --------------------------------------------------------------------


class Colour(StrEnum):
    RED = "red"


class Mode(str, Enum):  # noqa: UP042 (on purpose:) str() of a member is "Mode.FAST", not its value
    FAST = "fast"


class Level(IntEnum):
    HIGH = 3


class Tag(str):
    """A str subclass."""


Pair = namedtuple("Pair", "left right")


@dataclass(frozen=True)
class Window:
    start: datetime
    hours: int


ZONES = [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-7, minutes=-30)), None]
texts = st.text(alphabet=string.printable + "éж€😀\x00\u2028", max_size=12)
instants = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(ZONES))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), texts,
    st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=False, places=4),
    st.decimals(), instants, st.dates(), st.times(), st.times(timezones=st.just(UTC)),
    st.uuids(), st.sampled_from([Colour.RED, Mode.FAST, Level.HIGH]), st.builds(Tag, texts),
    st.builds(Window, instants, st.integers(0, 9)))
keys = st.one_of(
    texts, texts, st.integers(-5, 5), st.booleans(), st.none(), st.uuids(),
    st.decimals(allow_nan=False, places=2), instants, st.dates(), st.builds(Tag, texts),
    st.sampled_from([Colour.RED, Mode.FAST, Level.HIGH]), st.floats(allow_nan=False))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.builds(Pair, inner, inner),
        st.dictionaries(texts, inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20)


def outcome(hash_function, type_name: str, state: dict[str, Any]) -> tuple[str, str]:
    """The hash, or the kind of error: an unencodable state must fail the same way."""
    try:
        return "ok", hash_function(type_name, state)
    except (TypeError, ValueError) as e:
        return "error", type(e).__name__


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(type_name=texts, state=st.dictionaries(texts, values, max_size=6))
def test_the_hash_of_any_state_is_the_reference_hash(type_name, state):
    assert outcome(event_hash, type_name, state) == \
        outcome(reference_event_hash, type_name, state)


@pytest.mark.parametrize("value", [
    datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))),
    datetime(2026, 3, 1, 12, 0),
    date(2026, 3, 1), time(9, 30), time(9, 30, 0, 500), Decimal("1.50"), Decimal("-0"),
    Decimal("1E+3"), UUID(int=7), (1, (2, 3)), Pair(1, Decimal("2")), [Decimal("3")],
    {"b": 1, "a": {"d": (), "c": [UUID(int=1)]}}, {1: "x", "1": "y"}, {True: 1, None: 2},
    {Mode.FAST: 1, Colour.RED: 2}, {datetime(2026, 1, 1, tzinfo=UTC): 1}, {Decimal("1.0"): 0},
    Window(datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=2))), 3), 2**63,
])
def test_values_the_canonical_form_treats_specially_hash_as_the_reference(value):
    state = {"value": value, "nested": {"in": [value, (value,)]}}
    assert event_hash("T", state) == reference_event_hash("T", state)


@pytest.mark.parametrize("value", [2**64, {1, 2}, object(), time(9, tzinfo=UTC)])
def test_what_the_reference_cannot_encode_still_fails(value):
    assert outcome(event_hash, "T", {"v": value})[0] == "error"
    assert outcome(event_hash, "T", {"v": value}) == \
        outcome(reference_event_hash, "T", {"v": value})


# --- a played demo workload --------------------------------------------------------------


def played_desk() -> tuple[SupportDesk, list[Any]]:
    """A desk in memory that played the demo's workload; and every event as the desk
    created it (before it was stored)."""
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    created: list[Any] = []
    save = desk.save

    def saving(*objs: Any, **kwargs: Any) -> Any:
        recordings = save(*objs, **kwargs)
        created.extend(r.domain_event for r in recordings)
        return recordings

    desk.save = saving  # type: ignore[method-assign]
    for profile_id in PROFILE_IDS:
        desk.adopt(builtin_profile(profile_id), START)
    for step in Workload(11, 40, 30).build():
        with contextlib.suppress(SupportlogError):  # the workload includes rejected commands
            desk.execute(step.do, step.args, step.at)
    return desk, created


def as_stored(event: Any) -> dict[str, Any]:
    """What the hash covers: the event's fields and, above version 1, its version
    (`domain.base`): an event of version 1 hashes exactly as before versions existed."""
    version = type(event).class_version
    return vars(event) if version == 1 else {**vars(event), "class_version": version}


def test_every_event_of_a_demo_log_hashes_as_the_reference_created_and_stored():
    desk, created = played_desk()
    stored = [desk.mapper.to_domain_event(n)
              for n in desk.recorder.select_notifications(1, 100_000)]
    assert len(stored) == len(created) > 500
    assert {type(e).class_version for e in created} == {1, 2}
    for fresh, decoded in zip(created, stored, strict=True):
        expected = reference_event_hash(fresh.TOPIC, as_stored(fresh))
        assert event_hash(fresh.TOPIC, as_stored(fresh)) == expected, fresh.TOPIC
        assert event_hash(decoded.TOPIC, as_stored(decoded)) == expected, decoded.TOPIC
        assert decoded.hash == fresh.hash == expected
