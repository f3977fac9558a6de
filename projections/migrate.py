"""Schema migrations: plain numbered SQL files, applied once each, in order, at start.

An advisory lock serialises concurrent starters (two projectors, a relay and a CLI
command), so each file runs exactly once; the applied names are kept in
`schema_migrations`. No ORM: analysts read the same tables the files create.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg

_LOCK_KEY = 0x5E1F_106  # any constant shared by every supportlog process


def migration_files() -> list[tuple[str, str]]:
    """Returns (name, sql) of every migration, in name order."""
    folder = resources.files("projections") / "schema"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name, p.read_text()) for p in files]


@contextmanager
def schema_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Holds the lock every supportlog process takes to change the schema, for work that
    cannot run inside `migrate`'s transaction (the event store creates its own tables on
    another connection: two processes starting at the same instant would otherwise race
    in PostgreSQL's catalogue, "tuple concurrently updated")."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def migrate(conn: psycopg.Connection) -> list[str]:
    """Applies the migrations not yet applied; returns their names."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied_now.append(name)
    return applied_now
