"""The limits of every PostgreSQL connection the program opens, set by the composition
root (`supportlog.bootstrap`): a server that is gone is noticed in seconds, not minutes
(issue #16: with PostgreSQL stopped, `supportlog command` hung for more than 2 minutes),
and a password never reaches a message.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from consumers.outage import DatabaseUnavailableError
from domain.desk import SupportDesk

#: The limits of every connection: a server that is gone is noticed in seconds (connect
#: timeout; TCP keepalives and a user timeout for one that vanished without a word), and
#: no statement runs past two minutes.
PG_LIMITS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
}
_STATEMENT_TIMEOUT = "-c statement_timeout=120000"


def pg_limits(url: str) -> dict[str, Any]:
    """`PG_LIMITS` plus the statement timeout, added to any options `url` sets."""
    with contextlib.suppress(psycopg.ProgrammingError):
        options = str(conninfo_to_dict(url).get("options", ""))
        return {**PG_LIMITS, "options": f"{options} {_STATEMENT_TIMEOUT}".strip()}
    return {**PG_LIMITS, "options": _STATEMENT_TIMEOUT}


def redacted(url: str) -> str:
    """Returns `url` without its password, for messages and logs."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database (its URL does not parse)"
    if "password" not in info:
        return url
    info.pop("password")
    return make_conninfo("", **info)


def pg_connect(url: str, **kwargs: Any) -> psycopg.Connection:
    """Opens a connection with the limits of `pg_limits`; raises DatabaseUnavailableError
    (exit 3) naming the server without its password if it does not answer."""
    try:
        return psycopg.connect(url, **{**pg_limits(url), **kwargs})
    except psycopg.OperationalError as e:
        raise DatabaseUnavailableError(
            f"PostgreSQL does not answer at {redacted(url)}: {str(e).strip()}") from e


def limit_pool(desk: SupportDesk) -> SupportDesk:
    """Gives the desk's pooled connections `PG_LIMITS` (eventsourcing passes only the
    address to its pool, whose `kwargs` are public) and reopens those already made."""
    pool = getattr(getattr(desk.recorder, "datastore", None), "pool", None)
    if pool is not None and isinstance(pool.kwargs, dict):
        pool.kwargs.update(pg_limits(""))
        pool.drain()
    return desk
