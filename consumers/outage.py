"""Riding out a lost server: which failures mean PostgreSQL or the broker is gone, and
the capped backoff a long-running worker waits between tries.

A worker (the relay, the projector) that loses a server keeps its place: its position
lives in PostgreSQL with what it wrote, so nothing is lost by trying again. It logs each
retry, waits 0.5 s, 1 s, 2 s, 4 s, then 5 s between tries for as long as the outage
lasts, replaces the client that broke, and carries on by itself once the server is
back. A stop request cuts the wait short. Anything else (a bug, a record the broker will
never take) still stops the worker, loudly.
"""

from __future__ import annotations

import random

import psycopg
from kafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
)

from domain.errors import SupportlogError

#: Kafka errors that no retry can heal: the worker stops on them.
_PERMANENT = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError,
              TopicAuthorizationFailedError)


class DatabaseUnavailableError(SupportlogError):
    """Raised when PostgreSQL does not answer at the configured address."""

    code = "database_unavailable"
    retriable = True


def lost_server(error: BaseException) -> str | None:
    """Returns "database" or "broker" if `error` (or an error that caused it) means that
    server did not answer or broke a connection, else None. A Kafka error counts if the
    client calls it retriable; the relay wraps every failed produce as the broker's
    (`broker_unavailable`: a producer whose state a broker restart lost is replaced).
    A refused session timeout or a record too large is not an outage."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__
    if any(isinstance(e, _PERMANENT) for e in chain):
        return None
    for e in chain:
        if isinstance(e, DatabaseUnavailableError | psycopg.OperationalError
                      | psycopg.InterfaceError):
            return "database"
        if (isinstance(e, KafkaError) and e.retriable) or (
                isinstance(e, SupportlogError) and e.retriable
                and e.code in ("broker_unavailable", "timeout")):
            return "broker"
    return None


class Backoff:
    """Capped exponential waits with a little jitter: 0.5, 1, 2, 4, then 5 s."""

    def __init__(self, first_s: float = 0.5, cap_s: float = 5.0):
        self.first_s = first_s
        self.cap_s = cap_s
        self.attempt = 0

    def next(self) -> float:
        """Returns how long to wait before the next try, and counts it."""
        self.attempt += 1
        base = min(self.cap_s, self.first_s * 2 ** (self.attempt - 1))
        return round(base * random.uniform(0.9, 1.0), 3)

    def reset(self) -> None:
        """Called after a success: the next outage starts from the first wait."""
        self.attempt = 0
