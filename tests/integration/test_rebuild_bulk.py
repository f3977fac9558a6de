"""The rebuild's fast paths give exactly what the general ones give: hash-free envelopes
decoded straight from the stored JSON equal the mapper's `from_event` envelopes but for
the hash, and final rows played in memory and COPYed equal `apply_changes` played in
the database, including when a table must leave memory half way."""

from __future__ import annotations

import dataclasses
import functools
import random
import uuid
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from eventsourcing.persistence import Notification

import replay.rebuild as rebuild_module
from eventlog.envelope import Envelope, event_id
from projections.bulk_write import FinalRows
from projections.changes import Change, Delete, Update, Upsert, apply_changes
from replay.decode import EnvelopeDecoder, event_id_text
from replay.rebuild import rebuild
from replay.streams import notification_batches
from supportlog.bootstrap import bootstrap
from supportlog.demo import play
from supportlog.workload import START
from tests.integration.test_rebuild import played


def general(desk: Any, notification: Any) -> Envelope:
    return Envelope.from_event(desk.mapper.to_domain_event(notification), notification.id)


def test_event_ids_are_uuid5_of_the_aggregate_and_version():
    rng = random.Random(3)
    for _ in range(2000):
        aggregate = uuid.UUID(int=rng.getrandbits(128))
        version = rng.randint(1, 10**9)
        assert event_id_text(aggregate, version) == str(event_id(aggregate, version))


def test_hash_free_envelopes_of_a_whole_log_equal_the_general_ones_but_for_the_hash(
        settings):
    system = bootstrap(settings)
    try:
        play(system, seed=11, customers=12, days=10, end=START + timedelta(days=10))
        desk = system.desk
        fast = [e for batch in notification_batches(desk, with_hash=False) for e in batch]
        full = [e for batch in notification_batches(desk) for e in batch]
    finally:
        system.close()
    assert len(fast) == len(full) > 300
    assert len({e.type for e in fast}) > 20
    assert all(e.hash == "" for e in fast) and all(e.hash for e in full)
    assert [dataclasses.replace(e, hash="") for e in full] == fast
    assert [e.encode() for e in fast] == [dataclasses.replace(e, hash="").encode()
                                          for e in full]


def _edited(notification: Notification, **fields: Any) -> Notification:
    state = orjson.loads(notification.state)
    state.update(fields)
    return Notification(notification.originator_id, notification.originator_version,
                        notification.topic, orjson.dumps(state), notification.id)


def test_values_the_fast_path_cannot_reproduce_go_the_general_way(settings):
    """Transcoded UUIDs, decimals and instants inside the payload come out as the
    general path makes them; a float (orjson reads an integer beyond 64 bits as one),
    an unknown transcoding or an upcast event go the general way and so fail as it
    fails."""
    system, _ = played(settings)
    try:
        desk = system.desk
        decoder = EnvelopeDecoder(desk.mapper)
        [sample] = desk.recorder.select_notifications(0, 1, inclusive_of_start=False)
        uid = uuid.UUID(int=7)
        cases = [
            _edited(sample, extra={"a": [{"_type_": "uuid_hex", "_data_": uid.hex}],
                                   "b": {"_type_": "decimal_str", "_data_": "1.50"},
                                   "c": {"_type_": "datetime_iso",
                                         "_data_": "2026-03-02T05:00:00.250000+03:00"}}),
            _edited(sample, ratio=0.5, nested={"x": [1.25, "y"]}),
            _edited(sample, text="\\u00e9 \\\\ \t", empty={}, nothing=None, yes=True),
        ]
        for case in cases:
            [fast] = decoder.envelopes([case])
            assert fast == dataclasses.replace(general(desk, case), hash="")
        big = Notification(sample.originator_id, sample.originator_version, sample.topic,
                           sample.state[:-1] + b',"big":' + str(2**70).encode() + b"}",
                           sample.id)
        with pytest.raises(TypeError):
            general(desk, big)
        with pytest.raises(TypeError):  # not read as the float 1.18e21
            decoder.envelopes([big])
        unknown = _edited(sample, odd={"_type_": "no_such", "_data_": "x"})
        with pytest.raises(Exception) as general_error:
            general(desk, unknown)
        with pytest.raises(type(general_error.value)):
            decoder.envelopes([unknown])
    finally:
        system.close()


# --- final rows in memory, against apply_changes in the database --------------------------

TABLES = """
CREATE TABLE {s}.one (k text PRIMARY KEY, a integer NOT NULL, b text,
                      n integer NOT NULL DEFAULT 7, doc jsonb, flag boolean);
CREATE TABLE {s}.two (x text NOT NULL, y integer NOT NULL, v text,
                      PRIMARY KEY (x, y));
"""

CHANGES: list[Change] = [
    Upsert("one", {"k": "r1"}, {"a": 1, "b": "first"}),
    Update("one", {"k": "r1"}, {"b": "second", "flag": True}),
    Update("one", {"k": "missing"}, {"b": "never"}),
    Upsert("one", {"k": "r2"}, {"a": 2, "doc": {"z": [1, "2"], "a": None}}),
    Upsert("one", {"k": "r2"}, {"a": 2}),
    Delete("one", {"k": "r1"}),
    Upsert("one", {"k": "r1"}, {"a": 3}),  # back with defaults: n = 7, b NULL
    Upsert("one", {"k": "r3"}, {"a": 4, "b": "tab\there\nnewline \\ back"}),
    Delete("one", {"k": "gone"}),
    Upsert("two", {"y": 1, "x": "p"}, {"v": "a"}),
    Upsert("two", {"x": "p", "y": 2}, {"v": None}),
    Update("two", {"x": "p", "y": 1}, {"v": "b"}),
    Upsert("two", {"x": "p", "y": 1}, {}),  # exists: nothing
    Delete("two", {"x": "p", "y": 2}),
    Upsert("one", {"k": "r4"}, {"a": 5, "n": 9}),
]


@pytest.fixture
def two_schemas(settings):
    conn = psycopg.connect(settings.database_url, autocommit=True)
    for schema in ("bulk", "paged"):
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(TABLES.format(s=schema))
    yield conn
    conn.close()


def rows(conn: psycopg.Connection, schema: str) -> dict[str, list[tuple]]:
    return {t: conn.execute(f"SELECT * FROM {schema}.{t} ORDER BY 1, 2").fetchall()
            for t in ("one", "two")}


def play_both(conn: psycopg.Connection, pages: list[list[Change]],
              max_rows: int = 1000) -> FinalRows:
    """Plays the pages into `bulk` as the rebuild does and into `paged` with
    `apply_changes`, one transaction per page each."""
    final = FinalRows(conn, "bulk", max_rows=max_rows)
    for page in pages:
        with conn.transaction(), conn.cursor() as cur:
            rest = final.absorb(cur, page)
            if rest:
                apply_changes(cur, rest, schema="bulk")
        with conn.transaction(), conn.cursor() as cur:
            apply_changes(cur, page, schema="paged")
    with conn.transaction(), conn.cursor() as cur:
        final.write(cur)
    return final


def test_final_rows_written_with_copy_equal_the_changes_applied_in_order(two_schemas):
    final = play_both(two_schemas, [CHANGES[:5], CHANGES[5:]])
    assert final.spilled == set()
    assert final.copied == {"one": 4, "two": 1}
    assert rows(two_schemas, "bulk") == rows(two_schemas, "paged")
    one = dict((r[0], r) for r in rows(two_schemas, "bulk")["one"])
    assert one["r1"] == ("r1", 3, None, 7, None, None)


def test_a_change_memory_cannot_play_exactly_spills_its_table_and_only_it(two_schemas):
    odd = [Update("one", {"b": "second"}, {"a": 10}),  # not by the key: many rows
           Upsert("one", {"k": "r5"}, {"a": 11}),
           Upsert("two", {"x": "q", "y": 3}, {"v": "c"})]
    final = play_both(two_schemas, [CHANGES[:3], odd, CHANGES[3:]])
    assert final.spilled == {"one"}
    assert final.copied == {"one": 1, "two": 2}
    assert rows(two_schemas, "bulk") == rows(two_schemas, "paged")


def test_too_many_rows_spill_the_largest_table(two_schemas):
    final = play_both(two_schemas, [CHANGES], max_rows=2)
    assert final.spilled == {"one"}
    assert rows(two_schemas, "bulk") == rows(two_schemas, "paged")


def test_a_change_the_database_refuses_is_refused_as_before(two_schemas):
    """A NULL in a NOT NULL column (or an upsert without one) spills the table, so the
    database refuses the change itself, as `apply_changes` would have."""
    for bad in (Upsert("one", {"k": "r9"}, {"b": "no a"}),
                Update("one", {"k": "r1"}, {"a": None})):
        final = FinalRows(two_schemas, "bulk")
        with pytest.raises(psycopg.errors.NotNullViolation), \
                two_schemas.transaction(), two_schemas.cursor() as cur:
            apply_changes(cur, final.absorb(cur, [CHANGES[0], bad]), schema="bulk")
        assert final.spilled == {"one"}


# --- the rebuild itself -----------------------------------------------------------------

def test_a_rebuild_writes_the_shadow_with_copy_and_equals_live(settings, monkeypatch):
    paged: list[int] = []
    original = rebuild_module.apply_changes

    def counting(cur: Any, changes: Any, schema: str | None = None) -> int:
        paged.append(1)
        return original(cur, changes, schema=schema)

    monkeypatch.setattr(rebuild_module, "apply_changes", counting)
    system, _ = played(settings, "imagecms-paid-work.json")
    try:
        result = rebuild(system, compare=True)
    finally:
        system.close()
    assert paged == []  # every table held in memory and COPYed
    assert result.failures == [] and not result.differs


def test_a_rebuild_whose_tables_spill_still_equals_live(settings, monkeypatch):
    monkeypatch.setattr(rebuild_module, "FinalRows",
                        functools.partial(FinalRows, max_rows=3))
    system, _ = played(settings, "imagecms-paid-work.json")
    try:
        result = rebuild(system, compare=True)
    finally:
        system.close()
    assert result.failures == [] and not result.differs


def test_the_collector_pause_ends_with_the_fold_even_when_it_fails() -> None:
    import gc

    from replay.rebuild import cyclic_gc_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("a fold failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled(), "a caller's own pause is left as it was"
    finally:
        gc.enable()
