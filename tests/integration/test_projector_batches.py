"""The projector's batch write, as made cheaper for `projection_vs_raw_consume`: rows named
by their key values (no `repr`), a group's rows sent as one JSON document, statements
composed once per connection and schema, the batch sent in pipeline mode, applied
versions recorded in one statement, and the aggregate id checked by its canonical text
instead of a `UUID`.
Each test fails on a plausible mistake in one of those."""

from __future__ import annotations

import uuid
from decimal import Decimal

import orjson
import psycopg
import pytest

from consumers.projector.batch_writer import record_applied
from consumers.projector.records import Record, decode_record
from eventlog.envelope import Envelope
from projections.changes import Delete, Update, Upsert, apply_changes
from projections.planning import Apply, Incoming

_TABLE = """CREATE TABLE {name} (
    k numeric PRIMARY KEY, a text, j jsonb, t timestamptz, b boolean, n bigint)"""


def _envelope(aggregate_id: str, version: int = 1) -> Envelope:
    return Envelope(id=str(uuid.uuid4()), type="customer.registered", schema_version=1,
                    time="2026-05-04T09:00:00Z", customer="c9", tenant="cart-power",
                    ref="c9", aggregate_id=aggregate_id, aggregate_version=version,
                    position=1, prev_hash="", hash="",
                    data={"email": None, "name": None, "anonymous": False})


def test_keys_that_compare_equal_name_one_row_and_collapse(settings):
    """`Decimal("1.0")` and `Decimal("1.00")` are one row to PostgreSQL: named by their
    `repr` they were two, and the second upsert landed in the same statement as the
    first, which PostgreSQL refuses (ON CONFLICT cannot touch a row twice)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(_TABLE.format(name="eq"))
        with conn.transaction(), conn.cursor() as cur:
            apply_changes(cur, [Upsert("eq", {"k": Decimal("1.0")}, {"a": "first"}),
                                Upsert("eq", {"k": Decimal("1.00")}, {"a": "second"}),
                                Update("eq", {"k": Decimal("1")}, {"n": 7})])
        assert conn.execute("SELECT k, a, n FROM eq").fetchall() == [(Decimal("1.0"),
                                                                      "second", 7)]


@pytest.mark.parametrize("text", ["", "it's, {odd} \"quoted\"", "back\\slash", "NULL",
                                  "ünïcødé ✓", "[1, 2]", " lead and trail "])
def test_awkward_values_arrive_unchanged_through_the_json_rows(settings, text):
    """The JSON rows carry every value unchanged: no quoting rule (quotes, braces,
    backslashes, the word NULL, spaces, JSON-looking text) can change what is stored,
    JSON columns keep their JSON, and None is NULL in both kinds of column."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(_TABLE.format(name="odd"))
        with conn.transaction(), conn.cursor() as cur:
            apply_changes(cur, [
                Upsert("odd", {"k": 1}, {"a": text, "j": {"v": text, "l": [text, None]},
                                         "t": "2026-05-04T12:30:00+04:00", "b": True,
                                         "n": 2**62}),
                Upsert("odd", {"k": 2}, {"a": None, "j": None, "t": None, "b": False,
                                         "n": None})])
        rows = conn.execute("SELECT k, a, j, t::text, b, n FROM odd ORDER BY k").fetchall()
        assert rows[0][1:3] == (text, {"v": text, "l": [text, None]})
        assert rows[0][4:] == (True, 2**62)
        assert rows[1][1:] == (None, None, None, False, None)


def test_statements_are_cached_per_schema_not_only_per_shape(settings):
    """Two schemas with the same table on one connection: each change lands in its own
    schema (a cache keyed by shape alone would send the second to the first)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
        conn.execute(_TABLE.format(name="public.twin"))
        conn.execute(_TABLE.format(name="other.twin"))
        for schema, value in ((None, "public"), ("other", "other")):
            with conn.transaction(), conn.cursor() as cur:
                apply_changes(cur, [Upsert("twin", {"k": 1}, {"a": value})], schema=schema)
        assert conn.execute("SELECT a FROM public.twin").fetchall() == [("public",)]
        assert conn.execute("SELECT a FROM other.twin").fetchall() == [("other",)]
        with conn.transaction(), conn.cursor() as cur:
            apply_changes(cur, [Delete("twin", {"k": 1})], schema="other")
        assert conn.execute("SELECT count(*) FROM other.twin").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM public.twin").fetchone() == (1,)


def test_a_refused_batch_in_pipeline_mode_still_falls_back_to_event_by_event(settings):
    """In pipeline mode the error surfaces at the commit, not at the statement: the
    transaction must still roll back as a whole, leaving the connection usable."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE strict (k int PRIMARY KEY, v text NOT NULL)")
        with pytest.raises(psycopg.errors.NotNullViolation), conn.pipeline(), \
                conn.transaction(), conn.cursor() as cur:
            apply_changes(cur, [Upsert("strict", {"k": 1}, {"v": "kept?"}),
                                Upsert("strict", {"k": 2}, {"v": None})])
        assert conn.execute("SELECT count(*) FROM strict").fetchone() == (0,)


def test_applied_versions_are_recorded_in_one_statement_and_never_go_back(settings):
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE projector_applied "
                     "(aggregate_id uuid PRIMARY KEY, version bigint NOT NULL)")
        ids = sorted(str(uuid.uuid4()) for _ in range(300))

        def steps(version_of: dict[str, int]) -> list[Apply]:
            return [Apply(Incoming(Record("t", 0, 0, None, b""), _envelope(a, v)), [])
                    for a, v in version_of.items()]

        with conn.transaction(), conn.cursor() as cur:
            record_applied(cur, steps({a: 5 for a in ids}))
        with conn.transaction(), conn.cursor() as cur:
            record_applied(cur, steps({ids[0]: 3, ids[1]: 9}))
        stored = dict(conn.execute(
            "SELECT aggregate_id::text, version FROM projector_applied").fetchall())
        assert stored == {**{a: 5 for a in ids}, ids[1]: 9}


@pytest.mark.parametrize("aggregate_id", [
    "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "{6f9619ff-8b86-d011-b42d-00cf4fc964ff}",
    "urn:uuid:6f9619ff-8b86-d011-b42d-00cf4fc964ff", "6f9619ff8b86d011b42d00cf4fc964ff",
    "6f9619ff-8b86-d011-b42d-00cf4fc964f", "6f9619ff-8b86-d011-b42d-00cf4fc964ffa",
    "6f9619ff-8b86-d011-b42d-00cf4fc964fg", "not-a-uuid", 12345])
def test_only_the_canonical_uuid_text_is_a_stream_id(aggregate_id):
    """The applied versions come back from PostgreSQL as canonical text, so any other
    spelling of an id would escape the duplicate check: it is quarantined as malformed
    (a `UUID(...)` check let upper case, braces, `urn:` and bare hex through, and
    crashed on a number)."""
    value = _envelope("00000000-0000-0000-0000-000000000000").encode().replace(
        b'"00000000-0000-0000-0000-000000000000"', orjson.dumps(aggregate_id))
    item = decode_record(Record("t", 0, 0, None, value))
    assert item.envelope is None
    assert item.error is not None and item.error.startswith("malformed envelope: aggregateid")


def test_a_canonical_uuid_is_accepted():
    agg = str(uuid.uuid4())
    item = decode_record(Record("t", 0, 0, None, _envelope(agg).encode()))
    assert item.error is None and item.envelope is not None
    assert item.envelope.aggregate_id == agg
