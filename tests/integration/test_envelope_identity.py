"""The envelope encodes an event's payload once and reuses those bytes in the record
value; every record value, key and header must stay byte for byte what the original
envelope code produced (kept here as the reference), over every event of a played demo
log and over generated payloads. An envelope built without its hash differs only in the
empty hash."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.envelope import Envelope, event_id, event_id_text
from tests.domain.test_chain_identity import played_desk

# --- the reference: eventlog/envelope.py's encoding before payload bytes were reused ----


def _reference_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def reference_record(event: Any, position: int) -> tuple[bytes, bytes, list]:
    """(key, value, headers) as the original `Envelope.from_event(...)` made them."""
    data = orjson.loads(orjson.dumps(event.payload, default=_reference_default))
    time = event.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    ident = str(uuid5(event.originator_id, str(event.originator_version)))
    value = orjson.dumps({
        "specversion": "1.0", "id": ident, "source": f"supportlog/{event.tenant}",
        "type": event.TOPIC, "schemaversion": event.SCHEMA_VERSION, "subject": event.ref,
        "time": time, "datacontenttype": "application/json", "customer": event.customer,
        "tenant": event.tenant, "aggregateid": str(event.originator_id),
        "aggregateversion": event.originator_version, "position": position,
        "prevhash": event.prev_hash, "hash": event.hash, "data": data})
    headers = [(name, str(v).encode()) for name, v in zip(
        ("ce_type", "ce_id", "customer", "tenant", "aggregate_id", "aggregate_version",
         "position", "schema_version"),
        (event.TOPIC, ident, event.customer, event.tenant, str(event.originator_id),
         event.originator_version, position, event.SCHEMA_VERSION), strict=True)]
    return event.customer.encode(), value, headers


def record(envelope: Envelope) -> tuple[bytes, bytes, list]:
    return envelope.key(), envelope.encode(), envelope.headers()


def test_every_record_of_a_demo_log_is_byte_identical_to_the_reference():
    desk, created = played_desk()
    stored = [(n.id, desk.mapper.to_domain_event(n))
              for n in desk.recorder.select_notifications(1, 100_000)]
    assert len(stored) == len(created) > 500
    for (position, decoded), fresh in zip(stored, created, strict=True):
        expected = reference_record(decoded, position)
        envelope = Envelope.from_event(decoded, position)
        assert record(envelope) == expected, decoded.TOPIC
        assert record(Envelope.from_event(fresh, position)) == expected, fresh.TOPIC
        assert Envelope.decode(envelope.encode()) == envelope
        assert orjson.dumps(envelope.to_dict()) == expected[1]


class FakeEvent:
    """What `from_event` reads of a domain event, with any payload."""

    TOPIC = "test.happened"
    SCHEMA_VERSION = 2
    actor = None  # as every event stored before principals existed

    def __init__(self, payload: dict[str, Any], version: int, at: datetime):
        self.payload = payload
        self.originator_id = UUID(int=version * 7919)
        self.originator_version = version
        self.timestamp = at
        self.customer, self.tenant, self.ref = "cs-cart-c0001", "cs-cart", "t-1"
        self.prev_hash, self.hash = "0" * 64, "f" * 64


json_texts = st.text(max_size=10)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), json_texts,
    st.floats(allow_nan=True, allow_infinity=True), st.floats(width=32),
    st.decimals(allow_nan=False), st.uuids(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])),
    st.frozensets(st.integers(0, 9), max_size=3), st.sets(json_texts, max_size=3))
payloads = st.dictionaries(json_texts, st.recursive(
    leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                    st.lists(inner, max_size=3).map(tuple),
                                    st.dictionaries(json_texts, inner, max_size=4)),
    max_leaves=16), max_size=6)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, version=st.integers(1, 10**6), position=st.integers(1, 2**40),
       at=st.datetimes(timezones=st.just(UTC)))
def test_any_payload_encodes_byte_identically_to_the_reference(payload, version, position,
                                                               at):
    event = FakeEvent(payload, version, at)
    assert record(Envelope.from_event(event, position)) == reference_record(event, position)


@given(aggregate=st.uuids(), version=st.integers(0, 10**12))
def test_the_event_id_text_is_the_uuid5_text(aggregate, version):
    assert event_id_text(aggregate, version) == str(event_id(aggregate, version))


def test_an_envelope_without_hash_differs_only_by_its_empty_hash():
    desk, _ = played_desk()
    for n in desk.recorder.select_notifications(1, 300):
        event = desk.mapper.to_domain_event(n)
        full = Envelope.from_event(event, n.id)
        bare = Envelope.from_event(event, n.id, with_hash=False)
        assert bare.hash == "" and full.hash == event.hash
        assert dataclasses.replace(bare, hash=full.hash) == full


def test_an_event_with_an_actor_adds_it_to_the_envelope_and_changes_nothing_else():
    """R-ACL-1: who acted travels in the envelope's `actor`; the rest of the record is
    the reference's, and an event without one encodes exactly as before."""
    event = FakeEvent({"credits": 3}, 4, datetime(2026, 3, 1, tzinfo=UTC))
    event.actor = {"role": "agent", "id": "agent-1"}
    key, value, headers = record(Envelope.from_event(event, 9))
    reference_key, reference_value, reference_headers = reference_record(event, 9)
    decoded = orjson.loads(value)
    assert decoded.pop("actor") == {"role": "agent", "id": "agent-1"}
    assert decoded == orjson.loads(reference_value)
    assert (key, headers) == (reference_key, reference_headers)
    assert Envelope.decode(value).actor == event.actor


def test_a_replaced_payload_is_encoded_not_the_bytes_built_from_the_event():
    event = FakeEvent({"credits": 3}, 1, datetime(2026, 3, 1, tzinfo=UTC))
    altered = dataclasses.replace(Envelope.from_event(event, 1), data={"credits": 30})
    assert Envelope.decode(altered.encode()).data == {"credits": 30}


def test_a_decoded_envelope_has_exactly_the_fields_the_class_declares() -> None:
    """`decode` sets the fields itself, bypassing `__init__`: a field added to the class
    and forgotten there fails here."""
    envelope = Envelope.decode(_sample_value())
    assert set(vars(envelope)) == {f.name for f in dataclasses.fields(Envelope)}
    assert envelope.data_json is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        envelope.hash = "changed"  # type: ignore[misc]


def _sample_value() -> bytes:
    return Envelope(id="e", type="credit.charged", schema_version=1,
                    time="2026-01-05T10:00:00Z", customer="c1", tenant="cs-cart", ref="t1",
                    aggregate_id="6f1d6b52-63a5-4a0e-9a51-2c8f3e0d9b11", aggregate_version=2,
                    position=7, prev_hash="0" * 64, hash="1" * 64,
                    data={"credits": 3}).encode()
