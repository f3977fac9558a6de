"""The relay as a long-running worker: relay until stopped, riding out lost servers.

A broker or a database that goes away (a restart, a kill -9, a network cut) does not
stop the relay: its position is in PostgreSQL and moves only with acknowledged
batches, so it logs the failure, replaces the client that broke (`Clients`, made by the
composition root: a new producer, a new connection), waits a capped backoff
(`consumers.outage.Backoff`, cut short by a stop) and tries again from its stored
position, on and on, until the server is back. After a broker outage it first makes
sure the topic exists and still holds what was published (a memory-only broker comes
back empty; a persistent one, such as Apache Kafka, comes back whole and nothing is
republished). A batch that was sent but not acknowledged before the outage is sent
again: if the old producer had in fact delivered it, consumers skip the duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from consumers.outage import Backoff, lost_server
from eventlog.kafka_config import close_producer

if TYPE_CHECKING:
    from consumers.relay import Relay, _Batch

log = logging.getLogger("consumers.relay")

#: How long the batch in flight may still wait for the broker's acknowledgement once a
#: stop is asked for; then it is dropped unconfirmed (and published again next time).
STOP_GRACE_S = 1.5
_ACK_POLL_S = 0.25
#: How often a relay still waiting for an acknowledgement says so in its log.
WAIT_NOTE_S = 5.0


class Stopped(Exception):
    """A stop came while the batch in flight was still unacknowledged."""


def acknowledged(relay: Relay, batch: _Batch, flush: bool, stop: threading.Event | None
                 ) -> dict[int, int]:
    """Waits until the broker acknowledged every record of `batch` (with `flush`,
    sending what the producer holds back at once, without waiting out `linger_ms`);
    returns the next offset produced to per partition. Raises if a record failed (the
    producer gave up after `delivery_timeout_ms`), or Stopped once `stop` has been set
    for STOP_GRACE_S. Every wait is short, so a stop is seen; a long one (an outage the
    producer is riding out) is logged every WAIT_NOTE_S."""
    next_offsets: dict[int, int] = {}
    give_up: float | None = None
    note = time.monotonic() + WAIT_NOTE_S
    for future in batch.futures:
        while not future.is_done:
            if time.monotonic() > note:
                note = time.monotonic() + WAIT_NOTE_S
                log.warning("waiting for the broker to acknowledge", extra={
                    "topic": relay.topic, "first_position": batch.first,
                    "waited_s": round(time.monotonic() - batch.started, 1)})
            if stop is not None and stop.is_set():
                give_up = give_up or time.monotonic() + STOP_GRACE_S
                if time.monotonic() > give_up:
                    raise Stopped
            try:
                if flush:
                    relay.producer.flush(timeout=_ACK_POLL_S)
                else:
                    future.get(timeout=_ACK_POLL_S)
            except KafkaTimeoutError:
                pass  # not yet; a failed record is told by its future below
            except KafkaError as e:
                raise relay._unacknowledged(batch, e) from e
        try:
            metadata = future.get(timeout=0)  # done: its metadata, or its failure
        except KafkaError as e:
            raise relay._unacknowledged(batch, e) from e
        next_offsets[metadata.partition] = max(
            next_offsets.get(metadata.partition, 0), metadata.offset + 1)
    return next_offsets


@dataclass(frozen=True)
class Clients:
    """How the relay replaces what an outage broke (the composition root's factories):
    a producer, a connection, and making sure the topic exists (as at start)."""

    producer: Callable[[], KafkaProducer]
    connection: Callable[[], psycopg.Connection]
    topic: Callable[[], None]


def replace_clients(relay: Relay, server: str) -> None:
    """After an outage of `server` ("broker" or "database"): closes the client that
    broke and makes a new one. Never raises: a client that cannot be made yet fails the
    next try, which comes back here after the backoff."""
    if relay.clients is None:
        return
    with contextlib.suppress(Exception):  # the old client is broken anyway
        if server == "broker":
            close_producer(relay.producer, 0.5)
        else:
            relay.conn.close()
    with contextlib.suppress(Exception):  # told by the next try, and retried
        if server == "broker":
            relay.producer = relay.clients.producer()
        else:
            relay.conn = relay.clients.connection()


def run(relay: Relay, stop: threading.Event, idle_wait_s: float) -> None:
    """Refills the topic if it lost what was published, then relays until `stop` is
    set; when the store has nothing new it looks again after `idle_wait_s`. A lost
    server is retried (if the relay has `clients`); any other failure raises."""
    backoff = Backoff()
    started = False
    check_topic = True
    while not stop.is_set():
        try:
            if check_topic:
                if started and relay.clients is not None:
                    relay.clients.topic()
                refilled = relay.refill_if_topic_lost()
                if not started:
                    log.info("relay started", extra={
                        "topic": relay.topic, "position": relay.position(),
                        "store_head": relay.head(), "refilled": refilled,
                        "batch_size": relay.batch_size})
                    started = True
                check_topic = False
            if relay.pump(stop=stop).published == 0:
                stop.wait(idle_wait_s)
            if backoff.attempt:
                log.info("relay resumed", extra={"topic": relay.topic,
                                                 "attempts": backoff.attempt})
                backoff.reset()
        except Exception as e:
            server = lost_server(e)
            if server is None or relay.clients is None:
                raise
            delay = backoff.next()
            log.warning(f"relay lost the {server}; trying again", extra={
                "topic": relay.topic, "server": server, "attempt": backoff.attempt,
                "retry_in_s": delay, "error": f"{type(e).__name__}: {e}"})
            replace_clients(relay, server)
            check_topic = check_topic or server == "broker"
            stop.wait(delay)
    try:
        position: int | None = relay.position()
    except Exception:  # the database may be the server that is gone
        position = None
    log.info("relay stopped", extra={"topic": relay.topic, "position": position})
