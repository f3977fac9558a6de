"""Folding into tables that start empty and that nobody else writes: the final rows in
memory, each table written once with COPY.

`apply_changes` writes a batch's changes as upserts, updates and deletes, because the
live tables already hold rows and other batches come after. A rebuild's shadow schema
is different: it is private and empty when the rebuild starts, so the state of every
row is known in memory without asking the database, and the changes of the whole log
can be played there into final rows, which `COPY` then writes in one pass per table and
column set (no index probes for conflicts, no row versions for updates).

The rows are played exactly as `apply_changes` would play them in the database, one
change after another: an upsert inserts the key and values (omitted columns take their
defaults) or sets its values on the existing row, an update sets values on an existing
row and does nothing to a missing one, a delete removes the row. Rows are named by the
table's primary key, as the database finds them. A table is held in memory only while
that is exact; each table leaves memory ("spills") and from then on receives its
changes through `apply_changes`, page by page, when:

- a change names its row by other columns than the primary key, or sets a key column,
  or names it by a value whose equality the database decides differently (only text
  and integer key columns, with Python `str` and `int` values, are compared here),
- a change names a column the table does not have, an upsert lacks a NOT NULL column
  that has no default, or a change sets such a column to NULL (the database refuses
  each change on its own; the spilled path lets it),
- the table has a `json` column (COPY would keep the text as given, while the
  upsert's `jsonb` parameter normalises it), or
- the rows held in memory exceed `max_rows`: the largest table spills.

A spilling table's rows are first written with COPY (its shadow table is still empty),
then its remaining changes go through `apply_changes` in order. Tables are independent
(no triggers or foreign keys between read models, as `apply_changes` also assumes), so
only the order of each table's own changes matters. Values are written as
`apply_changes` sends them: `str(value)`, parsed by the column type's input function,
and JSON as orjson text. The database checks each final row (types, NOT NULL, CHECK)
when it is copied, rather than each intermediate version of it.

Memory: one dict per final row of the tables held (key and the columns set so far),
bounded by `max_rows`; nothing per event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql

from projections.changes import Change, Delete, Upsert

#: Rows held in memory before the largest table spills. A row costs about 0.5 KiB of
#: Python objects (measured on the bench's 20,000-event log: 16,355 rows, 7.4 MB), so
#: the bound is about 100 MiB; the bench's 100,000 events make about 80,000 rows.
MAX_ROWS = 200_000

_UNCHECKED: Any = object()
_NO_VALUES: dict[str, Any] = {}
_TEXT_TYPES = {"text", "character varying"}
_INT_TYPES = {"integer", "bigint", "smallint"}


@dataclass
class _Column:
    type: str
    not_null: bool
    has_default: bool


@dataclass
class _Table:
    """One table held in memory: its catalog facts and its rows so far."""

    name: str
    columns: dict[str, _Column]
    primary_key: tuple[str, ...]
    #: Python type each key column's values must have to be compared here.
    key_types: tuple[type, ...]
    #: Rows by key value (by the tuple of key values for a key of several columns).
    rows: dict[Any, dict[str, Any]] = field(default_factory=dict)
    #: Change shapes checked once: (kind, key columns, None, value columns) -> the NOT
    #: NULL columns among the values (to check per change), or None if refused.
    shapes: dict[tuple[Any, ...], tuple[str, ...] | None] = field(default_factory=dict)
    #: The key column when the key has only one (rows are then keyed by its value).
    single: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.single = self.primary_key[0] if len(self.primary_key) == 1 else None


class FinalRows:
    """The final rows of the tables of `schema`, folded in memory (see module doc)."""

    def __init__(self, conn: psycopg.Connection, schema: str, max_rows: int = MAX_ROWS):
        self.conn = conn
        self.schema = schema
        self.max_rows = max_rows
        self.held = 0
        self._tables: dict[str, _Table] = {}
        #: Tables that left memory: their changes go through `apply_changes`.
        self.spilled: set[str] = set()
        #: Rows written with COPY, by table.
        self.copied: dict[str, int] = {}

    # --- playing changes ----------------------------------------------------------------

    def absorb(self, cursor: psycopg.Cursor, changes: Iterable[Change]) -> list[Change]:
        """Plays `changes` in order on the rows held; returns, in order, those of tables
        that are (or just were) spilled, for the caller to apply with `apply_changes`.
        A table spilling here is first written with COPY on `cursor`."""
        out: list[Change] = []
        spilled = self.spilled
        for change in changes:
            name = change.table
            if name in spilled:
                out.append(change)
                continue
            table = self._tables.get(name) or self._load(name)
            if table is None or not self._play(table, change):
                self._spill(cursor, name)
                out.append(change)
            elif self.held > self.max_rows:
                self._spill(cursor, max(self._tables.values(), key=lambda t: len(t.rows)).name)
        return out

    def _play(self, table: _Table, change: Change) -> bool:
        """Plays one change; False (nothing changed) if it cannot be played exactly.
        (The hot loop of a rebuild: one call per row change of the whole log.)"""
        kind = type(change)
        values = change.values if kind is not Delete else _NO_VALUES  # type: ignore
        shape = (kind, *change.key, None, *values)
        not_null = table.shapes.get(shape, _UNCHECKED)
        if not_null is _UNCHECKED:
            not_null = table.shapes[shape] = self._check_shape(
                table, kind, tuple(change.key), tuple(values))
        if not_null is None:
            return False
        if table.single is not None:
            key = change.key[table.single]
            if type(key) is not table.key_types[0]:
                return False  # (None too: the database finds no row by NULL, inserts none)
        else:
            key = tuple(change.key[c] for c in table.primary_key)
            for v, t in zip(key, table.key_types, strict=True):
                if type(v) is not t:
                    return False
        if not_null and None in values.values():
            for column in not_null:
                if values[column] is None:
                    return False
        rows = table.rows
        row = rows.get(key)
        if row is not None:
            if kind is Delete:
                del rows[key]
                self.held -= 1
            else:
                row.update(values)
        elif kind is Upsert:
            rows[key] = {**change.key, **values}
            self.held += 1
        return True

    @staticmethod
    def _check_shape(table: _Table, kind: type, key: tuple[str, ...],
                     values: tuple[str, ...]) -> tuple[str, ...] | None:
        """Returns the NOT NULL columns a change of this shape sets (its values are
        checked per change), or None if such a change cannot be played here at all."""
        columns, primary_key = table.columns, table.primary_key
        if set(key) != set(primary_key) or len(key) != len(primary_key) or \
                any(c in primary_key for c in values):
            return None
        if any(c not in columns for c in (*key, *values)):
            return None
        if kind is Upsert and any(c.not_null and not c.has_default and n not in key
                                  and n not in values for n, c in columns.items()):
            return None
        return tuple(c for c in values if columns[c].not_null)

    # --- tables -------------------------------------------------------------------------

    def _load(self, name: str) -> _Table | None:
        """Reads the table's catalog facts; None (spilled) if it cannot be held."""
        rows = self.conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.atthasdef, coalesce((SELECT k.n FROM pg_index i, unnest(i.indkey) "
            "WITH ORDINALITY AS k (attnum, n) WHERE i.indrelid = a.attrelid AND "
            "i.indisprimary AND k.attnum = a.attnum), 0) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (sql.Identifier(self.schema, name).as_string(self.conn),)).fetchall()
        columns = {n: _Column(t, bool(nn), bool(d)) for n, t, nn, d, _ in rows}
        key = [n for n, *_, pos in sorted((r for r in rows if r[4]), key=lambda r: r[4])]
        types = [columns[c].type for c in key]
        if not key or any(t not in _TEXT_TYPES | _INT_TYPES for t in types) or \
                any(c.type == "json" for c in columns.values()):
            self.spilled.add(name)
            return None
        table = _Table(name, columns, tuple(key),
                       tuple(str if t in _TEXT_TYPES else int for t in types))
        self._tables[name] = table
        return table

    def _spill(self, cursor: psycopg.Cursor, name: str) -> None:
        """Writes the table's rows with COPY and sends its later changes the page way."""
        table = self._tables.pop(name, None)
        self.spilled.add(name)
        if table is not None:
            self.held -= len(table.rows)
            self._copy(cursor, table)

    # --- writing ------------------------------------------------------------------------

    def write(self, cursor: psycopg.Cursor) -> dict[str, int]:
        """Writes every table still held with COPY (inside the caller's transaction) and
        empties memory; returns the rows copied per table, spilled tables included."""
        for table in list(self._tables.values()):
            self._copy(cursor, table)
        self._tables.clear()
        self.held = 0
        return self.copied

    def _copy(self, cursor: psycopg.Cursor, table: _Table) -> None:
        """COPYs the table's rows, one statement per set of columns the rows have."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in table.rows.values():
            groups.setdefault(tuple(row), []).append(row)
        target = sql.Identifier(self.schema, table.name)
        for names, rows in groups.items():
            json = [table.columns[c].type == "jsonb" for c in names]
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                target, sql.SQL(", ").join(map(sql.Identifier, names)))
            with cursor.copy(statement) as copy:
                if any(json):
                    for row in rows:
                        copy.write_row([_text(v, j) for v, j in zip(row.values(), json,
                                                                      strict=True)])
                else:  # the common case, inlined: text as is, NULL, or str(value)
                    for row in rows:
                        copy.write_row([v if v is None or type(v) is str else str(v)
                                        for v in row.values()])
        self.copied[table.name] = self.copied.get(table.name, 0) + len(table.rows)
        table.rows = {}


def _text(value: Any, json: bool) -> str | None:
    """A value as `apply_changes` sends it: text for the column's input function (JSON
    as orjson text), or NULL."""
    if value is None:
        return None
    if json:
        return orjson.dumps(value).decode()
    return value if type(value) is str else str(value)
