"""The `timers` read model as a source of due timers (`domain.due_timers.DueTimers`).

The folds in `readmodels` keep one row per pending timer (its id, kind, subject and due
time, all recorded in events); this reads the ones due at an instant, in due order.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql

from domain.due_timers import DueTimer


class TimersTable:
    """The due timers of the `timers` table of `conn`'s database (its `schema`)."""

    def __init__(self, conn: psycopg.Connection, schema: str = "public"):
        self.conn = conn
        self.schema = schema

    def due(self, now: datetime, limit: int = 500) -> list[DueTimer]:
        """Returns the timers due at `now`, by due time, then id."""
        rows = self.conn.execute(
            sql.SQL("SELECT timer_id, kind, subject, due_at FROM {}.timers "
                            "WHERE due_at <= %s ORDER BY due_at, timer_id LIMIT %s").format(
                sql.Identifier(self.schema)), (now, limit)).fetchall()
        return [DueTimer(*row) for row in rows]
