"""HTTP against ingest (`http_vs_ingest`): the same commands through the API and through
the desk in process, and the latency of a write under that load.

The workload is the demo's generated month (without its timers: both runs play exactly
the same commands), split by customer into 8 lanes so each customer's commands keep
their order. In process, 8 threads call `SupportDesk.execute` as each desk's `service`
principal. Through the API, 8 clients, each on one keep-alive connection, post the same
commands to `supportlog serve --no-pipeline` (a process of its own, as a real server is;
the pipeline is left out on both sides) with a `service` bearer token, an
`Idempotency-Key` per request and `occurred_at` set to the command's instant. Each run
gets a fresh database; the rate is every command sent (accepted or refused, the same
ones on both sides) over the run's wall time; p50/p99 are each request's round trip.
A third run without idempotency keys shows what they cost (a claim, a kept answer and
the command receipt per write).
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from domain.actor import Actor
from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from supportlog.bench.measure import Rate, ms, percentile, ratio
from supportlog.bootstrap import System, isolated_system
from supportlog.settings import Settings
from supportlog.workload import START, Step, Workload

CLIENTS = 8
_CUSTOMER = re.compile(r"^(.*-c\d{4})")
_OPERATOR = Actor("operator", "bench")


def lanes(steps: list[Step], prefix: str = "") -> list[list[tuple[str, Step]]]:
    """Splits the steps into CLIENTS lanes by customer, in order, each step with its
    desk: a customer's commands stay in one lane, in the order they were generated."""
    out: list[list[tuple[str, Step]]] = [[] for _ in range(CLIENTS)]
    lane_of: dict[str, int] = {}
    for step in steps:
        subject = next(str(step.args[k]) for k in ("customer", "ticket", "subscription",
                                                   "dispute") if k in step.args)
        customer = _CUSTOMER.match(subject).group(1)  # type: ignore[union-attr]
        desk = customer[len(prefix):-6]
        lane = lane_of.setdefault(customer, len(lane_of) % CLIENTS)
        out[lane].append((desk, step))
    return out


def _prepare(system: System) -> None:
    for profile_id in PROFILE_IDS:
        system.desk.adopt(builtin_profile(profile_id), START, actor=_OPERATOR)


def in_process(system: System, work: list[list[tuple[str, Step]]]) -> Rate:
    """The commands through the desk, 8 threads, each desk's service principal."""
    _prepare(system)
    services = {desk: Actor("service", f"service-{desk}", desk=desk) for desk in PROFILE_IDS}
    rate = Rate(unit="commands")
    refused: collections.Counter[str] = collections.Counter()

    def play(lane: list[tuple[str, Step]]) -> None:
        for desk, step in lane:
            try:
                system.desk.execute(step.do, step.args, step.at, actor=services[desk])
            except SupportlogError as e:  # refusals are part of the workload, both sides
                refused[e.code] += 1

    with rate.timing():
        _threads(play, work)
    rate.items = sum(len(lane) for lane in work)
    rate.notes["refused"] = dict(sorted(refused.items()))
    return rate


def _threads(body: Callable[[Any], None], work: list[Any]) -> None:
    threads = [threading.Thread(target=body, args=(lane,)) for lane in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@contextmanager
def served(system: System) -> Iterator[str]:
    """`supportlog serve --no-pipeline` on `system`'s database, in a child process, until
    the block ends; yields its base URL."""
    settings = system.settings
    env = {**os.environ, "DATABASE_URL": system.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": system.kafka_bootstrap, "SUPPORTLOG_TOPIC": settings.topic,
           "SUPPORTLOG_GROUP": settings.group_id, "SUPPORTLOG_RATE_LIMIT": "0",
           "SUPPORTLOG_PARTITIONS": str(settings.partitions)}
    child = subprocess.Popen([sys.executable, "-m", "supportlog.cli", "serve", "--port", "0",
                              "--no-pipeline"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        assert child.stderr is not None
        for line in child.stderr:  # the first lines are the start-up's
            if '"serving"' in line:
                url = json.loads(line)["url"]
                break
        if url is None:
            raise RuntimeError(f"the API did not start (exit {child.wait()})")
        threading.Thread(target=child.stderr.read, daemon=True).start()  # keep it drained
        yield url
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def over_http(system: System, work: list[list[tuple[str, Step]]],
              keys: bool = True) -> tuple[Rate, list[float]]:
    """The commands through the API: 8 keep-alive clients, each request with a fresh
    Idempotency-Key unless `keys` is False; returns the rate and each request's round
    trip in seconds."""
    _prepare(system)
    principals = system.principals()
    tokens = {desk: principals.create(desk=desk, role="service", customer=None,
                                      name="bench", by=_OPERATOR)[1] for desk in PROFILE_IDS}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    rate = Rate(unit="commands")
    with served(system) as url:
        where = urlsplit(url)

        def play(lane: list[tuple[str, Step]]) -> None:
            connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
            mine: list[float] = []
            try:
                for desk, step in lane:
                    body = json.dumps({"do": step.do, "args": step.args,
                                       "occurred_at": step.at.isoformat()}, default=str)
                    started = time.perf_counter()
                    headers = {"Authorization": f"Bearer {tokens[desk]}",
                               "Content-Type": "application/json"}
                    if keys:
                        headers["Idempotency-Key"] = uuid.uuid4().hex
                    connection.request("POST", f"/v1/desks/{desk}/commands", body, headers)
                    response = connection.getresponse()
                    response.read()
                    mine.append(time.perf_counter() - started)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            finally:
                connection.close()
                latencies.extend(mine)

        with rate.timing():
            _threads(play, work)
    rate.items = sum(len(lane) for lane in work)
    rate.notes["statuses"] = {str(k): v for k, v in sorted(statuses.items())}
    return rate, latencies


def run_http(settings: Settings, seed: int, customers: int, days: int,
             track: Callable[[str, int], Callable[[int], None]]) -> dict[str, Any]:
    """Runs both sides on databases of their own; returns figures, ratio and latency."""
    work = lanes(Workload(seed, customers, days).build())
    commands = sum(len(lane) for lane in work)
    advance = track("http: the same commands in process, through the API, and through "
                    "the API without idempotency keys", 3)
    with isolated_system(settings, "bench_inproc") as side:
        local = in_process(side, work)
    advance(1)
    with isolated_system(settings, "bench_http") as side:
        api, latencies = over_http(side, work)
    advance(1)
    with isolated_system(settings, "bench_http") as side:
        bare, _ = over_http(side, work, keys=False)
    advance(1)
    return {
        "figures": {"api": api.to_dict(), "in_process": local.to_dict(),
                    "api_without_keys": bare.to_dict()},
        "ratio": ratio(api, local),
        "latency": {"samples": len(latencies), "clients": CLIENTS, "commands": commands,
                    "p50_ms": ms(percentile(latencies, 50)),
                    "p99_ms": ms(percentile(latencies, 99))},
    }
