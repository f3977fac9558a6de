"""Row-level difference between a rebuilt table and the live one (R-AUD-2).

Rows are compared whole, as `to_jsonb` of the row, with PostgreSQL's `EXCEPT ALL`, so
every column type compares by its own equality (timestamps as instants, JSON as
documents) and duplicate rows count. Only the rows that differ come back to Python,
where they are paired by primary key to say which columns changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from replay.shadow import LIVE_SCHEMA, SHADOW_SCHEMA, columns, primary_key


@dataclass(frozen=True)
class RowDiff:
    """One row that differs: `missing` from live, `extra` in live, or `changed`."""

    kind: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    @property
    def changed_columns(self) -> list[str]:
        if self.live is None or self.rebuilt is None:
            return []
        return sorted(c for c in self.live if self.live.get(c) != self.rebuilt.get(c))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key}
        if self.kind == "changed":
            assert self.live is not None and self.rebuilt is not None
            out["columns"] = {c: {"live": self.live.get(c), "rebuilt": self.rebuilt.get(c)}
                              for c in self.changed_columns}
        else:
            out["row"] = self.live if self.kind == "extra" else self.rebuilt
        return out


@dataclass
class TableDiff:
    """The differences of one table; `schema` says if its columns differ."""

    table: str
    live_rows: int
    rebuilt_rows: int
    schema: str | None = None
    rows: list[RowDiff] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.schema is None and not self.rows

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "equal": self.equal, "live_rows": self.live_rows,
                "rebuilt_rows": self.rebuilt_rows, "schema": self.schema,
                "rows": [r.to_dict() for r in self.rows]}


def _rows_only_in(conn: psycopg.Connection, table: str, first: str,
                  second: str) -> list[dict[str, Any]]:
    query = sql.SQL("SELECT to_jsonb(t) FROM {} t EXCEPT ALL SELECT to_jsonb(t) FROM {} t"
                    ).format(sql.Identifier(first, table), sql.Identifier(second, table))
    return [row[0] for row in conn.execute(query).fetchall()]


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _key_of(row: dict[str, Any], key_columns: list[str]) -> tuple[str, ...]:
    return tuple(repr(row.get(c)) for c in key_columns)


def compare_table(conn: psycopg.Connection, table: str, shadow: str = SHADOW_SCHEMA,
                  live: str = LIVE_SCHEMA) -> TableDiff:
    """Returns how the live `table` differs from the rebuilt one."""
    diff = TableDiff(table, count_rows(conn, live, table), count_rows(conn, shadow, table))
    live_cols, shadow_cols = columns(conn, live, table), columns(conn, shadow, table)
    if live_cols != shadow_cols:
        diff.schema = f"live columns {live_cols} differ from the rebuilt {shadow_cols}"
        return diff
    only_live = _rows_only_in(conn, table, live, shadow)
    only_rebuilt = _rows_only_in(conn, table, shadow, live)
    key_columns = primary_key(conn, shadow, table) or [c for c, _ in shadow_cols]
    rebuilt_by_key = {_key_of(r, key_columns): r for r in only_rebuilt}
    for row in only_live:
        key = {c: row.get(c) for c in key_columns}
        rebuilt = rebuilt_by_key.pop(_key_of(row, key_columns), None)
        diff.rows.append(RowDiff("changed" if rebuilt is not None else "extra", key, row,
                                 rebuilt))
    for row in rebuilt_by_key.values():
        diff.rows.append(RowDiff("missing", {c: row.get(c) for c in key_columns}, None, row))
    diff.rows.sort(key=lambda r: (repr(sorted(r.key.items())), r.kind))
    return diff


def compare_tables(conn: psycopg.Connection, tables: list[str], shadow: str = SHADOW_SCHEMA,
                   live: str = LIVE_SCHEMA) -> list[TableDiff]:
    """Returns the difference of every table, in the order given."""
    return [compare_table(conn, t, shadow, live) for t in tables]
