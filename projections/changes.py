"""Row changes: what a fold returns, and the one place that turns them into SQL.

A fold is pure: from one event envelope it returns `Upsert`s and `Delete`s. Because
events carry their decisions (balances after, counters after, due times), the changes
set values rather than add to them, so folding an event twice gives the same rows.
The projector applies a whole batch's changes in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg import sql
from psycopg.types.json import Jsonb


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


def folds(*event_types: str) -> Callable[[Fold], Fold]:
    """Registers a fold for the given event types."""

    def register(fold: Fold) -> Fold:
        for event_type in event_types:
            FOLDS.setdefault(event_type, []).append(fold)
        return fold

    return register


def changes_for(envelope: Any) -> list[Change]:
    """Returns every projection's changes for one event, in registration order."""
    out: list[Change] = []
    for fold in FOLDS.get(envelope.type, ()):
        out.extend(fold(envelope))
    return out


def _adapt(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return Jsonb(value, dumps=lambda v: orjson.dumps(v).decode())
    return value


def _statement(change: Change, schema: str | None) -> tuple[sql.Composed, list[Any]]:
    table = sql.Identifier(schema, change.table) if schema else sql.Identifier(change.table)
    if isinstance(change, Delete):
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in change.key
        )
        return sql.SQL("DELETE FROM {} WHERE {}").format(table, where), list(change.key.values())
    if isinstance(change, Update):
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                                  for c in change.values)
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in change.key)
        params = [_adapt(v) for v in (*change.values.values(), *change.key.values())]
        return sql.SQL("UPDATE {} SET {} WHERE {}").format(table, sets, where), params
    columns = [*change.key, *change.values]
    params = [_adapt(v) for v in (*change.key.values(), *change.values.values())]
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO ").format(
        table,
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        sql.SQL(", ").join(map(sql.Identifier, change.key)),
    )
    if change.values:
        action = sql.SQL("UPDATE SET {}").format(sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in change.values
        ))
    else:
        action = sql.SQL("NOTHING")
    return insert + action, params


def apply_changes(cursor: Any, changes: Iterable[Change], schema: str | None = None) -> int:
    """Executes `changes` in order on `cursor` (inside the caller's transaction).

    Consecutive changes of the same shape are sent with one `executemany`, so a batch
    of a thousand events costs a handful of round trips.
    """
    count = 0
    pending_sql: sql.Composed | None = None
    pending_params: list[list[Any]] = []
    pending_shape: tuple[Any, ...] | None = None
    for change in changes:
        statement, params = _statement(change, schema)
        shape = (type(change), change.table, tuple(change.key),
                 tuple(getattr(change, "values", {})))
        if shape != pending_shape and pending_sql is not None:
            cursor.executemany(pending_sql, pending_params)
            pending_params = []
        pending_sql, pending_shape = statement, shape
        pending_params.append(params)
        count += 1
    if pending_sql is not None:
        cursor.executemany(pending_sql, pending_params)
    return count
