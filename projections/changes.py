"""Row changes: what a fold returns, and the one place that turns them into SQL.

A fold is pure: from one event envelope it returns `Upsert`s and `Delete`s. Because
events carry their decisions (balances after, counters after, due times), the changes
set values rather than add to them, so folding an event twice gives the same rows.
The projector applies a whole batch's changes in one transaction.

Every module of the `projections` package registers its folds when imported;
`load_folds()` imports them all, so a caller that imported only this module still
folds with every projection. An event type with no fold must be declared with
`not_projected(type, reason)`: the projector quarantines a type that is neither.
"""

from __future__ import annotations

import importlib
import pkgutil
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg import sql
from psycopg.types.json import Json


@dataclass(frozen=True)
class Upsert:
    """Insert the row with `key`, or update its `values` if it exists."""

    table: str
    key: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Update:
    """Set `values` on the existing row with `key` (a missing row is left missing).

    Partial changes must be updates: PostgreSQL checks NOT NULL on the proposed row of an
    upsert before it looks for the conflict.
    """

    table: str
    key: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delete:
    """Delete the row with `key` if it exists."""

    table: str
    key: dict[str, Any]


Change = Upsert | Update | Delete
Fold = Callable[[Any], Iterable[Change]]

#: Folds by event type name. Several projections may fold the same event type.
FOLDS: dict[str, list[Fold]] = {}

#: Event types deliberately not projected, with the reason.
NOT_PROJECTED: dict[str, str] = {}

_loaded = False


def load_folds() -> None:
    """Imports every module of the `projections` package once, registering its folds."""
    global _loaded
    if _loaded:
        return
    package = importlib.import_module("projections")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"projections.{module.name}")
    _loaded = True


def not_projected(event_type: str, reason: str) -> None:
    """Declares that `event_type` has no fold on purpose, and why."""
    NOT_PROJECTED[event_type] = reason


def is_known(event_type: str) -> bool:
    """True if `event_type` has a fold or is declared not projected."""
    load_folds()
    return event_type in FOLDS or event_type in NOT_PROJECTED


def folds(*event_types: str) -> Callable[[Fold], Fold]:
    """Registers a fold for the given event types."""

    def register(fold: Fold) -> Fold:
        for event_type in event_types:
            FOLDS.setdefault(event_type, []).append(fold)
        return fold

    return register


def changes_for(envelope: Any) -> list[Change]:
    """Returns every projection's changes for one event, in registration order."""
    load_folds()
    out: list[Change] = []
    for fold in FOLDS.get(envelope.type, ()):
        out.extend(fold(envelope))
    return out


def holds_nul(changes: Iterable[Change]) -> bool:
    """True if a value of `changes` (a key, a column's value, or text inside JSON) holds
    a NUL character, which PostgreSQL's text and jsonb refuse: the database would refuse
    the event's rows, and the projector quarantines it. Data stored before commands were
    checked may hold one (`domain.commands.args`). Cheap: the rebuild asks it of every
    event."""
    for change in changes:
        for part in (change.key, getattr(change, "values", _NONE)):
            for value in part.values():
                kind = type(value)
                if kind is str:
                    if "\x00" in value:
                        return True
                elif (kind is dict or kind is list or kind is tuple) and \
                        b"\\u0000" in orjson.dumps(value, default=str) and _nul_inside(value):
                    return True  # (the bytes may also be a backslash written as text)
    return False


_NONE: dict[str, Any] = {}


def _nul_inside(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_inside(k) or _nul_inside(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_nul_inside(v) for v in value)
    return False


#: Column types per connection and table, read from the catalog on first use.
_TYPES: weakref.WeakKeyDictionary[Any, dict[tuple[str | None, str], dict[str, str]]] = \
    weakref.WeakKeyDictionary()
_JSON_TYPES = {"json", "jsonb"}
#: Each shape's statement text per connection and schema, composed on first use (it
#: depends only on the shape and the column types, which are read once too).
_STATEMENTS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], str]] = \
    weakref.WeakKeyDictionary()


def _column_types(cursor: Any, schema: str | None, table: str) -> dict[str, str]:
    """Returns each column's SQL type, read once per connection and table."""
    cache = _TYPES.setdefault(cursor.connection, {})
    if (schema, table) not in cache:
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        cursor.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                       (name.as_string(cursor),))
        cache[(schema, table)] = dict(cursor.fetchall())
    return cache[(schema, table)]


def _columns(change: Change) -> list[str]:
    """The statement's columns: the key's, then the values' in name order."""
    return [*change.key, *sorted(getattr(change, "values", {}))]


#: Each shape by its kind, table, key names and value names as a change lists them (the
#: columns sorted once per spelling, not once per change). Folds name their columns in
#: code, so there are a few dozen; the bound only guards against a fold that does not.
_SHAPES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_MAX_SHAPES = 4096


def _shape(change: Change) -> tuple[Any, ...]:
    """The change's kind, table and statement columns: changes of one shape are one
    statement. Key names are strings, so None separates them from the value names."""
    spelling = (type(change), change.table, *change.key, None, *getattr(change, "values", ()))
    shape = _SHAPES.get(spelling)
    if shape is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        shape = _SHAPES[spelling] = (type(change), change.table, tuple(_columns(change)))
    return shape


def _collapse(changes: Iterable[Change]) -> list[tuple[tuple[Any, ...], Change]]:
    """Returns, per row, at most a few changes with the same effect as all of its own,
    in order (rows in order of first appearance), each with its row (`_row`). An update
    or upsert after an upsert becomes one upsert, an update after an update one update,
    anything followed by a delete that delete, and an update of a row just deleted (or
    of no column) nothing. An upsert after an update stays two: if the row is missing,
    the update does nothing, while a merged upsert would insert the update's values too."""
    rows: dict[tuple[Any, ...], list[Change]] = {}
    for change in changes:
        pending = rows.setdefault(_row(change), [])
        last = pending[-1] if pending else None
        if isinstance(change, Delete):
            pending[:] = [change]
        elif isinstance(change, Update) and (isinstance(last, Delete) or not change.values):
            continue
        elif isinstance(last, Upsert) or (isinstance(change, Update)
                                          and isinstance(last, Update)):
            merged = {**last.values, **change.values}  # type: ignore[union-attr]
            pending[-1] = type(last)(last.table, last.key, merged)  # type: ignore[union-attr]
        else:
            pending.append(change)
    return [(row, change) for row, pending in rows.items() for change in pending]


def _statement(sample: Change, types: dict[str, str], schema: str | None) -> sql.Composed:
    """Returns the statement that applies a whole group shaped like `sample`: the group's
    rows arrive as one JSON parameter, an array of objects turned into typed rows by
    `json_to_recordset`, so the text is the same for every group of the shape (parsed
    and prepared once). One orjson document is far cheaper to build and send than an
    array parameter per column, whose every element the driver dumps in Python."""
    table = sql.Identifier(schema, sample.table) if schema else sql.Identifier(sample.table)
    keys = list(sample.key)
    columns = _columns(sample)
    rows = sql.SQL("json_to_recordset(%b::json) AS v ({})").format(
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c]))
                           for c in columns))
    matches = sql.SQL(" AND ").join(sql.SQL("t.{0} = v.{0}").format(sql.Identifier(k))
                                    for k in keys)
    if isinstance(sample, Delete):
        return sql.SQL("DELETE FROM {} AS t USING {} WHERE {}").format(table, rows, matches)
    if isinstance(sample, Update):
        sets = sql.SQL(", ").join(sql.SQL("{0} = v.{0}").format(sql.Identifier(c))
                                  for c in sample.values)
        return sql.SQL("UPDATE {} AS t SET {} FROM {} WHERE {}").format(
            table, sets, rows, matches)
    action = sql.SQL("NOTHING")
    if sample.values:
        action = sql.SQL("UPDATE SET {}").format(sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in sample.values))
    return sql.SQL("INSERT INTO {} ({}) SELECT * FROM {} ON CONFLICT ({}) DO {}").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)), rows,
        sql.SQL(", ").join(map(sql.Identifier, keys)), action)


def _records(group: list[Change], types: dict[str, str]) -> Json:
    """Returns the group's rows as one JSON array of objects, one per change, with the
    statement's columns. Values go as text (PostgreSQL parses each with the column's
    type, as it would a literal: a str as it is, anything else through `str`) or, in
    JSON columns, as JSON; None is NULL either way. So a column's values all reach the
    server the same way, whatever their Python types."""
    sample = group[0]
    if isinstance(sample, Delete):
        rows = [dict(change.key) for change in group]
    else:
        rows = [{**change.key, **change.values} for change in group]  # type: ignore[union-attr]
    for column in _columns(sample):
        if types[column] in _JSON_TYPES:
            continue
        for row in rows:
            value = row[column]
            if not (type(value) is str or value is None):
                row[column] = str(value)
    return Json(rows, dumps=orjson.dumps)


def _row(change: Change) -> tuple[Any, ...]:
    """The row a change touches: every change names its row by table and key, the key's
    column names with their values as they are (no `repr`: values that compare equal,
    such as `Decimal("1.0")` and `Decimal("1.00")`, are one row, as PostgreSQL too
    compares them)."""
    return (change.table, *change.key.items())


def apply_changes(cursor: Any, changes: Iterable[Change], schema: str | None = None) -> int:
    """Executes `changes` on `cursor` (inside the caller's transaction) with the effect
    of executing them in order; returns how many.

    First each row's changes collapse into the fewest with the same effect. Then changes
    of the same shape (kind, table, columns) are gathered into groups, and each group is
    one statement over one JSON parameter (INSERT ... SELECT FROM json_to_recordset ...
    ON CONFLICT, UPDATE or DELETE joined with it), so a batch of two thousand events
    costs a few dozen statements instead of one per change (the demo's 16,732 events:
    42,203 changes, 18,151 after collapsing, 28 statements). Only changes to the same
    row must keep their order (each touches one row, named by its key; the tables have
    no triggers or foreign keys between them), so a change joins the latest group of its
    shape only if that group runs after every earlier change to its row; otherwise it
    opens a new group. So a group never touches a row twice, as ON CONFLICT requires.
    """
    changes = list(changes)
    groups: list[list[Change]] = []
    latest: dict[tuple[Any, ...], int] = {}   # shape -> index of its latest group
    last_for_row: dict[tuple[Any, ...], int] = {}   # row -> group of its last change
    for row, change in _collapse(changes):
        shape = _shape(change)
        index = latest.get(shape, -1)
        if index < 0 or index <= last_for_row.get(row, -1):
            groups.append([])
            index = latest[shape] = len(groups) - 1
        groups[index].append(change)
        last_for_row[row] = index
    statements = _STATEMENTS.setdefault(cursor.connection, {})
    for group in groups:
        sample = group[0]
        types = _column_types(cursor, schema, sample.table)
        key = (schema, _shape(sample))
        if key not in statements:
            statements[key] = _statement(sample, types, schema).as_string(cursor)
        cursor.execute(statements[key], (_records(group, types),))
    return len(changes)
