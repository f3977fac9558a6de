"""Latency: replay reads whose cost must not grow with the log (a charge audit, one
customer as of an instant), and how long a command takes to reach the read models
against the broker's own produce-to-consume time.

The audit and as-of probes are taken on two logs of one workload seed, the full one and
one of a hundredth of its size: the generator builds customers one after another from
one random stream, so the first customers (and their charges) are the same in both, and
only the size of the log around them differs. Each probe is the median of repeated
calls, with a fresh auditor each time, as `supportlog audit charge` builds one per call.

Command-to-projection runs the relay and the projector as `supportlog run` does (each
in its own thread, the relay reading the store every 20 ms when idle) and issues
commands one at a time, each when the previous one is projected: the time from the
call to the commit of the projector's batch holding its last event. The broker baseline
is the same closed loop with a bare producer (send, flush) and a bare consumer thread
polling with the projector's settings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from consumers.projector import BatchResult
from domain.errors import SupportlogError
from eventlog.kafka_config import ensure_topic, make_producer
from projections.planning import Incoming
from replay.as_of import customer_as_of
from replay.charge_audit import ChargeAuditor
from replay.streams import envelopes
from supportlog.bench.measure import median_ms, ms, percentile
from supportlog.bench.projection import reader
from supportlog.bootstrap import System
from supportlog.workload import START, Workload

Advance = Callable[[int], None]
_WAIT_S = 30.0
_WARM_UP = 2


class LatencyTimeoutError(SupportlogError):
    """Raised when a command or a probe record is not seen downstream in time."""

    code = "timeout"
    retriable = True


# --- audit and as-of -------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """A customer (and its first charge, if the log has one), present in both logs."""

    customer: str
    charge_id: str | None
    at: datetime


def find_probe(system: System, days: int) -> Probe | None:
    """Returns the log's first charge and its customer, or, with no charge in the log,
    its first customer; None for a log without customers. `at` is after the last day."""
    at = START + timedelta(days=days + 7)
    for e in envelopes(system.desk, topics=["ticket.work_logged"]):
        charge = e.data.get("charge")
        if charge:
            return Probe(e.customer, charge["charge_id"], at)
    for e in envelopes(system.desk, topics=["customer.registered"]):
        return Probe(e.customer, None, at)
    return None


def replay_latency(system: System, probe: Probe, repeats: int) -> dict[str, float | None]:
    """Returns the median ms of auditing the probe's charge (None without one) and of
    its customer as of `probe.at`, on `system`'s log."""
    conn = system.connect()
    charge_id = probe.charge_id
    return {
        "audit_ms": None if charge_id is None else median_ms(
            lambda: ChargeAuditor(system.desk).receipt(charge_id), repeats),
        "as_of_ms": median_ms(lambda: customer_as_of(system.desk, probe.customer, probe.at,
                                                     conn), repeats),
    }


# --- command to projection ---------------------------------------------------------------

class Arrivals:
    """When each key was seen downstream; waiters block until theirs arrives."""

    def __init__(self) -> None:
        self._seen: dict[Any, float] = {}
        self._changed = threading.Condition()

    def mark(self, keys: Iterable[Any]) -> None:
        now = time.perf_counter()
        with self._changed:
            for key in keys:
                self._seen.setdefault(key, now)
            self._changed.notify_all()

    def wait(self, key: Any, timeout_s: float = _WAIT_S) -> float:
        """Returns when `key` was seen; raises LatencyTimeoutError after `timeout_s`."""
        with self._changed:
            if not self._changed.wait_for(lambda: key in self._seen, timeout_s):
                raise LatencyTimeoutError(f"{key} was not seen downstream in {timeout_s}s")
            return self._seen[key]


def marking(arrivals: Arrivals) -> Callable[[list[Incoming], BatchResult], None]:
    """Returns a projector's `on_committed` that marks each event's (aggregate id,
    version) in `arrivals` once its batch's commit is confirmed (only then is it
    called)."""
    def on_committed(items: list[Incoming], result: BatchResult) -> None:
        arrivals.mark((dict(i.record.headers).get("aggregate_id", b"").decode(),
                       int(dict(i.record.headers).get("aggregate_version", b"0")))
                      for i in items)

    return on_committed


def _summary(samples: list[float]) -> dict[str, Any]:
    return {"samples": len(samples), "p50_ms": ms(percentile(samples, 50)),
            "p99_ms": ms(percentile(samples, 99)), "max_ms": ms(max(samples, default=None))}


def command_to_projection(system: System, samples: int, seed: int, days: int,
                          advance: Advance | None = None) -> dict[str, Any]:
    """Issues commands one at a time through a running relay and projector; returns the
    latency percentiles from the call to the projector's commit."""
    arrivals = Arrivals()
    projector = system.projector(client_id="supportlog-bench-projector",
                                 on_committed=marking(arrivals))
    relay = system.relay()
    stop = threading.Event()
    threads = [threading.Thread(target=relay.run, args=(stop,), daemon=True),
               threading.Thread(target=projector.run, args=(stop,), daemon=True)]
    for thread in threads:
        thread.start()
    steps = Workload(seed, max(1, samples // 40 + 1), days, prefix="lat-").build()
    latencies: list[float] = []
    try:
        for step in steps:
            if len(latencies) >= samples + _WARM_UP:
                break
            started = time.perf_counter()
            try:
                outcome = system.desk.execute(step.do, step.args, step.at)
            except SupportlogError:
                continue
            if not outcome.events:
                continue
            done = max(arrivals.wait((aggregate, version))
                       for _topic, aggregate, version in outcome.events)
            latencies.append(done - started)
            if advance and len(latencies) > _WARM_UP:
                advance(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        projector.consumer.close()
    return _summary(latencies[_WARM_UP:])


def broker_round_trip(system: System, samples: int, value: bytes,
                      advance: Advance | None = None) -> dict[str, Any]:
    """Sends `samples` records one at a time with a bare producer (send, flush) and
    returns the percentiles of their arrival at a bare consumer polling in a thread."""
    topic = f"{system.settings.topic}.latency"
    ensure_topic(system.kafka_bootstrap, topic, system.settings.partitions)
    producer = make_producer(system.kafka_bootstrap)
    consumer = reader(system, topic, client_id="supportlog-bench-probe")
    arrivals, stop = Arrivals(), threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=200).values():
                arrivals.mark(r.key for r in records)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    latencies: list[float] = []
    try:
        for i in range(samples + _WARM_UP):
            key = f"probe-{i}".encode()
            started = time.perf_counter()
            producer.send(topic, key=key, value=value)
            producer.flush()
            latencies.append(arrivals.wait(key) - started)
            if advance and i >= _WARM_UP:
                advance(1)
    finally:
        stop.set()
        thread.join(timeout=10)
        consumer.close()
        producer.close()
    return _summary(latencies[_WARM_UP:])
