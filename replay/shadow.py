"""The shadow schema a rebuild folds into, which tables are read models, and the swap.

Which live tables are read models is taken from the folds, not from a list that goes
stale: a table is a read model if a fold module names it (its code holds the table's
name as a constant). Pipeline bookkeeping (offsets, the relay's position, the log's
hash chain, quarantine) is never named by a fold, so it is never rebuilt, compared or
replaced. Each shadow table is `CREATE TABLE ... (LIKE live INCLUDING ALL)`: the same
columns, defaults, constraints and indexes as the live one, whatever migrations made it.
The migrations themselves are not run again: some create objects outside their own
schema (the analysts' views), which a shadow run would redirect and its drop would take
with it. The swap replaces live rows in one transaction; the live tables keep their
identity, so views, grants and the projector's connections are undisturbed.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterable
from types import CodeType
from typing import Any

import psycopg
from psycopg import sql

from projections.changes import FOLDS

LIVE_SCHEMA = "public"
SHADOW_SCHEMA = "rebuild_shadow"
#: Serialises rebuilds of one database: two would share the shadow schema.
_LOCK_KEY = 0x5E1F_0B1D


def lock_rebuilds(conn: psycopg.Connection) -> None:
    """Takes the session lock that keeps two rebuilds of this database apart; it is
    released when `conn` closes."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))


def create_shadow(conn: psycopg.Connection, tables: Iterable[str],
                  schema: str = SHADOW_SCHEMA, live: str = LIVE_SCHEMA) -> None:
    """(Re)creates `schema` with an empty copy of each live table in `tables`."""
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table in tables:
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier(schema, table), sql.Identifier(live, table)))


def drop_shadow(conn: psycopg.Connection, schema: str = SHADOW_SCHEMA) -> None:
    """Drops the shadow schema and everything in it."""
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def base_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    """Returns the names of the ordinary tables of `schema`, sorted."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' ORDER BY table_name", (schema,)).fetchall()
    return [r[0] for r in rows]


def _constants(code: CodeType) -> Iterable[str]:
    for const in code.co_consts:
        if isinstance(const, str):
            yield const
        elif isinstance(const, CodeType):
            yield from _constants(const)


def _import_projections() -> None:
    """Imports every module of the `projections` package, so every fold is registered."""
    package = importlib.import_module("projections")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"projections.{module.name}")


def names_in_fold_modules() -> set[str]:
    """Returns every string constant in the modules that register folds."""
    _import_projections()
    names: set[str] = set()
    modules = {fold.__module__ for folds in FOLDS.values() for fold in folds}
    for module_name in modules:
        spec = importlib.util.find_spec(module_name)
        code = spec.loader.get_code(module_name) if spec and spec.loader else None
        if code is not None:
            names.update(_constants(code))
    return names


def read_model_tables(conn: psycopg.Connection, live: str = LIVE_SCHEMA) -> list[str]:
    """Returns the live tables that are read models: those a fold module names."""
    named = names_in_fold_modules()
    return [t for t in base_tables(conn, live) if t in named]


def columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """Returns (name, type) of the table's columns in order."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum", (f'"{schema}"."{table}"',)).fetchall()
    return [(r[0], r[1]) for r in rows]


def primary_key(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """Returns the primary key's columns (empty if the table has none)."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey, a.attnum)", (f'"{schema}"."{table}"',)).fetchall()
    return [r[0] for r in rows]


class SchemaMismatchError(Exception):
    """Raised when a live table changed shape while it was rebuilt (swap refuses)."""


def replace_live(cur: Any, tables: Iterable[str], shadow: str = SHADOW_SCHEMA,
                 live: str = LIVE_SCHEMA) -> dict[str, int]:
    """Replaces the rows of each live table with the shadow's, inside the caller's
    transaction; returns the rows now in each. Readers see the old rows until commit."""
    counts: dict[str, int] = {}
    for table in tables:
        live_cols = columns(cur.connection, live, table)
        if live_cols != columns(cur.connection, shadow, table):
            raise SchemaMismatchError(
                f"{live}.{table} changed shape during the rebuild; run it again")
        names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in live_cols)
        cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(live, table)))
        cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            sql.Identifier(live, table), names, names, sql.Identifier(shadow, table)))
        counts[table] = cur.rowcount
    return counts


def lock_live(cur: Any, tables: Iterable[str], live: str = LIVE_SCHEMA) -> None:
    """Locks the live tables against writers (readers go on) until the transaction ends."""
    names = sql.SQL(", ").join(sql.Identifier(live, t) for t in tables)
    cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names))
