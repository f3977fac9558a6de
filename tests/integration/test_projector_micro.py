"""The projector's per-record and per-change work, as made cheaper for
`projection_vs_raw_consume`: a consumed record is kept as kafka-python's
`ConsumerRecord` instead of being copied (a tombstone still quarantines as
undecodable, with its headers), and each change's shape is looked up by how the change
spells its columns instead of sorting them for every change.
Each test fails on a plausible mistake in one of those."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers.projector.batch_writer import record_quarantine
from consumers.projector.records import Record, decode_batch
from eventlog.envelope import Envelope
from projections import changes
from projections.changes import Delete, Update, Upsert, _shape
from projections.planning import Quarantine, plan_batch

_HEADERS = [("ce_type", b"customer.registered"), ("ce_id", b"id-7"), ("empty", None)]


def _consumed(value: bytes | None, offset: int = 3) -> ConsumerRecord:
    return ConsumerRecord("t", 1, -1, offset, 0, 0, b"key", value, list(_HEADERS), None,
                          3, len(value or b""), -1)


def _value() -> bytes:
    return Envelope(id=str(uuid.uuid4()), type="customer.registered", schema_version=1,
                    time="2026-05-04T09:00:00Z", customer="c9", tenant="cart-power",
                    ref="c9", aggregate_id=str(uuid.uuid4()), aggregate_version=1,
                    position=1, prev_hash="", hash="",
                    data={"email": None, "name": None, "anonymous": False}).encode()


class _Rows:
    """A cursor that keeps what `executemany` was given."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def executemany(self, _query: str, rows: list[Any]) -> None:
        self.rows.extend(rows)


def test_a_consumed_record_with_a_value_is_kept_as_it_is():
    record = _consumed(_value())
    (item,) = decode_batch({TopicPartition("t", 1): [record]})
    assert item.record is record and item.envelope is not None and item.error is None


def test_a_tombstone_is_quarantined_as_undecodable_with_its_headers():
    """A record with no value (None, not bytes) is still undecodable and quarantined
    with its key, an empty value and its headers byte for byte, read from the record
    whichever class it is."""
    (item,) = decode_batch({TopicPartition("t", 1): [_consumed(None)]})
    assert item.envelope is None and item.error
    assert item.record == Record("t", 1, 3, b"key", b"", tuple(_HEADERS))
    cur = _Rows()
    record_quarantine(cur, "g", plan_batch([item], {}, {}))  # type: ignore[arg-type]
    (row,) = cur.rows
    assert row[:4] == ("t", 1, 3, "customer.registered")
    assert row[4] == "id-7" and row[6] == b"" and row[10] == b"key"
    assert row[11].obj == [["ce_type", base64.b64encode(b"customer.registered").decode()],
                           ["ce_id", base64.b64encode(b"id-7").decode()], ["empty", ""]]


def test_an_undecodable_consumed_record_keeps_its_headers_in_the_quarantine():
    record = _consumed(b"not json")
    (item,) = decode_batch({TopicPartition("t", 1): [record]})
    assert item.record is record and item.envelope is None
    steps = plan_batch([item], {}, {})
    assert isinstance(steps[0], Quarantine)
    cur = _Rows()
    record_quarantine(cur, "g", steps)  # type: ignore[arg-type]
    assert cur.rows[0][3:5] == ("customer.registered", "id-7")
    assert cur.rows[0][6] == b"not json"


def test_a_shape_does_not_depend_on_the_order_values_are_named_in():
    a = _shape(Upsert("s", {"k": 1}, {"b": 1, "a": 2}))
    assert a == _shape(Upsert("s", {"k": 2}, {"a": 3, "b": 4})) == (Upsert, "s", ("k", "a", "b"))


@pytest.mark.parametrize("one, other", [
    (Upsert("s", {"k": 1}, {"a": 1}), Upsert("s", {"k": 1}, {"a": 1, "b": 1})),  # columns
    (Upsert("s", {"k": 1, "b": 1}, {"a": 1}), Upsert("s", {"k": 1}, {"b": 1, "a": 1})),
    (Upsert("s", {"k": 1}, {"a": 1}), Update("s", {"k": 1}, {"a": 1})),  # kind
    (Delete("s", {"k": 1}), Upsert("s", {"k": 1})),
    (Upsert("s", {"k": 1}, {"a": 1}), Upsert("r", {"k": 1}, {"a": 1})),  # table
    (Upsert("s", {"k": 1, "m": 1}), Upsert("s", {"m": 1, "k": 1})),     # key order
])
def test_changes_that_differ_in_shape_never_share_a_cached_shape(one, other):
    """Each pair differs in what its statement must be; the cached lookup must tell
    them apart as the shape itself does, whichever is seen first."""
    assert _shape(one) != _shape(other)
    assert _shape(other) != _shape(one)
    assert _shape(one)[2] == tuple(changes._columns(one))


def test_the_shape_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(changes, "_SHAPES", {})
    monkeypatch.setattr(changes, "_MAX_SHAPES", 3)
    for n in range(10):
        assert _shape(Update("s", {"k": 1}, {f"c{n}": 1})) == (Update, "s", ("k", f"c{n}"))
        assert len(changes._SHAPES) <= 3
