"""The projector as a long-running worker: fold until stopped, riding out lost servers.

The stored offsets are written with the rows, so a lost server costs nothing but time:
a batch whose commit failed was rewound (`Projector.settle`), and records read again
are dropped as stale or skipped by their aggregate version. So on a lost database or
broker the worker logs the failure, waits a capped backoff (`consumers.outage`, cut
short by a stop) and goes on; after a database outage it first replaces its
connections (`Projector.reconnect`, given by the composition root). kafka-python
reconnects to a broker by itself; a rebalance callback that failed on a lost database
leaves partitions unsought, which is safe for the same reason. Anything else (a bug, a
session timeout the broker refuses) still stops it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from consumers.outage import Backoff, lost_server

if TYPE_CHECKING:
    from consumers.projector.loop import Projector

log = logging.getLogger("consumers.projector")


def replace_connection(projector: Projector) -> None:
    """Gives the projector (and its dead-letter sink) new connections after a database
    outage. Never raises: if the database is still gone, the next try fails and comes
    back here after the backoff."""
    if projector.reconnect is None:
        return
    with contextlib.suppress(Exception), projector._db:  # the lock its callbacks share
        conn = projector.reconnect()
        old, projector.conn = projector.conn, conn
        projector.writer.conn = conn
        with contextlib.suppress(Exception):  # broken already
            old.close()
        sink = projector.dead_letters
        if sink is not None and hasattr(sink, "conn"):
            old, sink.conn = sink.conn, projector.reconnect()
            with contextlib.suppress(Exception):
                old.close()


def run(projector: Projector, stop: threading.Event, timeout_ms: int) -> None:
    """Polls and writes until `stop` is set (`Projector.step`); the batch in flight is
    finished, unless the server it needs is the one that is gone."""
    backoff = Backoff()
    lost: str | None = None
    try:
        while not stop.is_set():
            try:
                projector.step(timeout_ms)
            except Exception as e:
                lost = lost_server(e)
                if lost is None or projector.reconnect is None:
                    raise
                delay = backoff.next()
                log.warning(f"projector lost the {lost}; trying again", extra={
                    "group": projector.group_id, "server": lost,
                    "attempt": backoff.attempt, "retry_in_s": delay,
                    "error": f"{type(e).__name__}: {e}"})
                if lost == "database":
                    replace_connection(projector)
                stop.wait(delay)
                continue
            if backoff.attempt:
                log.info("projector resumed", extra={"group": projector.group_id,
                                                     "attempts": backoff.attempt})
                backoff.reset()
            lost = None
    finally:
        if lost is None:
            projector.settle()
        else:
            with contextlib.suppress(Exception):  # the server may still be gone
                projector.settle()
