"""Runs every stage and its baseline back to back, on throwaway databases and topics of
the configured (or embedded) servers, and assembles the one result `bench` prints.

Layout: database/topic `bench` holds the played workload (store, live read models,
topic); `bench_stages` receives the relay's copy of that log, which the projector, the
bare consumer and the naive loop then read; `bench_small` holds the same workload at a
hundredth of the size, for the latency probes; each projector run for the memory
figure gets a fresh `bench_rss` database; `bench_unsealed` replays the workload with
personal data not sealed, for what sealing costs; the HTTP comparison plays the workload
into `bench_inproc` and, through a `supportlog serve` child, into `bench_http`. All are
dropped at the end, so the user's data is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from domain.personal import UNSEALED
from supportlog.bench import http, ingest, latency, projection, rebuild, relay, rss
from supportlog.bench.environment import describe
from supportlog.bench.goals import judge
from supportlog.bench.measure import Rate, ratio
from supportlog.bootstrap import System, isolated_system
from supportlog.runtime import settled_heap
from supportlog.settings import Settings

#: Starts a task of `total` steps named `description`; returns its advance function.
Tracker = Callable[[str, int], Callable[[int], None]]


def _silent(_description: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


@dataclass(frozen=True)
class BenchPlan:
    """How big each part of a run is; every default follows from `events`."""

    events: int = 100_000
    seed: int = 7
    #: Length of the generated month; shorter only to keep the smoke test quick.
    days: int = ingest.DAYS
    #: The naive loop's sample: one commit per event is a WAL flush each.
    naive_limit: int = 10_000
    latency_samples: int | None = None
    repeats: int = 15

    @property
    def samples(self) -> int:
        if self.latency_samples is not None:
            return self.latency_samples
        return max(20, min(200, self.events // 500))


@contextmanager
def _systems(settings: Settings, *labels: str) -> Iterator[list[System]]:
    with ExitStack() as stack:
        yield [stack.enter_context(isolated_system(settings, label)) for label in labels]


def _rss(settings: Settings, stages: System, events: int, track: Tracker) -> dict[str, Any]:
    """Peak RSS of a projector folding the first N/10 records of the full topic, and of
    one folding all N, each in a child process on a fresh database."""
    advance = track("projector memory, N/10 then N (child processes)", 2)
    runs = {}
    for label, records in (("at_n_10", max(1, events // 10)), ("at_n", events)):
        with isolated_system(settings, "bench_rss") as fresh:
            runs[label] = rss.run_child(fresh.database_url, stages.kafka_bootstrap,
                                        stages.settings.topic, records)
        advance(1)
    growth = None
    if runs["at_n_10"]["peak_rss_bytes"]:
        growth = round(runs["at_n"]["peak_rss_bytes"] / runs["at_n_10"]["peak_rss_bytes"] - 1,
                       3)
    return {"growth": growth, **runs}


def _growth(at_n: float | None, at_small: float | None) -> float | None:
    """Returns the larger of two costs over the smaller (1 = no growth), None if unknown."""
    if not at_n or not at_small:
        return None
    return round(max(at_n, at_small) / min(at_n, at_small), 3)


def _replay_probes(settings: Settings, plan: BenchPlan, main: System,
                   track: Tracker) -> dict[str, Any]:
    """Audit and as-of latency on the main log and on one of a hundredth of its size."""
    out: dict[str, Any] = {"audit": None, "as_of": None}
    small_customers = max(2, ingest.customers_for(plan.events // 100, plan.days))
    with isolated_system(settings, "bench_small") as small:
        ingest.play(small, seed=plan.seed, customers=small_customers, days=plan.days,
                    track=lambda steps: track("playing the N/100 log", steps))
        out["events_small_log"] = small.desk.recorder.max_notification_id() or 0
        probe = latency.find_probe(small, plan.days)
        if probe is None:
            return out
        advance = track("audit and as-of probes", 2)
        at_small = latency.replay_latency(small, probe, plan.repeats)
        advance(1)
        at_n = latency.replay_latency(main, probe, plan.repeats)
        advance(1)
    for name in ("audit", "as_of"):
        a, b = at_n[f"{name}_ms"], at_small[f"{name}_ms"]
        out[name] = {"at_n_ms": a, "at_n_100_ms": b, "ratio": _growth(a, b)}
    out["probe"] = {"charge_id": probe.charge_id, "customer": probe.customer,
                    "as_of": probe.at.isoformat()}
    return out


def _latency(settings: Settings, plan: BenchPlan, main: System, sample_value: bytes,
             track: Tracker) -> dict[str, Any]:
    out = _replay_probes(settings, plan, main, track)
    samples = plan.samples
    out["command_to_projection"] = latency.command_to_projection(
        main, samples, plan.seed + 1, plan.days, track("command to projection", samples))
    out["broker_produce_to_consume"] = latency.broker_round_trip(
        main, samples, sample_value, track("broker produce to consume", samples))
    ours = out["command_to_projection"]["p99_ms"]
    broker = out["broker_produce_to_consume"]["p99_ms"]
    out["command_to_projection_vs_broker_p99"] = (round(ours / broker, 3)
                                                  if ours and broker else None)
    return out


def run_bench(settings: Settings, plan: BenchPlan, track: Tracker = _silent) -> dict[str, Any]:
    """Runs every stage and baseline and returns the result (see `docs/performance.md`).

    Each stage and its baselines run with the heap as it was before them frozen
    (`supportlog.runtime.settled_heap`), as the long-running commands freeze theirs after
    start-up, so that a stage's garbage collection pays for what it allocates, not for
    what earlier stages of the run left alive."""
    started = time.perf_counter()
    embedded = settings.embedded
    customers = ingest.customers_for(plan.events, plan.days)
    with _systems(settings, "bench", "bench_stages") as (main, stages):
        with settled_heap():
            played = ingest.play(main, seed=plan.seed, customers=customers, days=plan.days,
                                 track=lambda steps: track(
                                     "ingest: commands through the domain", steps))
            events = main.desk.recorder.max_notification_id() or 0
            es_save = ingest.es_save_baseline(main, played, track(
                "ingest baseline: bare eventsourcing saves", sum(played.batches)))

        # What sealing personal data costs (R-PRV-1): the same workload again with the
        # desk given no cipher, its personal fields stored unprotected. Played second, so
        # what the first play warmed up flatters the unsealed run, not the sealed one.
        with settled_heap(), isolated_system(settings, "bench_unsealed") as plain:
            plain.desk.personal = UNSEALED
            unsealed = ingest.play(plain, seed=plan.seed, customers=customers,
                                   days=plan.days, track=lambda steps: track(
                                       "ingest, personal data not sealed", steps))

        with settled_heap():
            relayed = relay.run_relay(main, stages, track("relay: store to Kafka", events))
            encoded = relay.encoded_log(main)
            sample_value = encoded[len(encoded) // 2].value
            produced = relay.raw_produce(stages, encoded, track(
                "relay baseline: raw produce", len(encoded)))
            del encoded

        with settled_heap():
            projected = projection.run_projector(stages, relayed.items,
                                                 track("projection: the projector", events))
            consumed = projection.raw_consume(stages, relayed.items, track(
                "projection baseline: raw consume", events))
            naive_n = min(plan.naive_limit, relayed.items)
            naive = projection.naive(stages, naive_n, track(
                "projection baseline: one transaction per event", naive_n))

        with settled_heap():
            rebuilt = rebuild.run_rebuild(main, track("rebuild: full, from the store", events))
            read = rebuild.raw_read(main, track("rebuild baseline: decoded read", events))

        memory = _rss(settings, stages, relayed.items, track)
        latencies = _latency(settings, plan, main, sample_value, track)
        environment = describe(main, embedded)
    with settled_heap():
        over_http = http.run_http(settings, plan.seed, customers, plan.days, track)
    latencies["http_write"] = over_http["latency"]

    figures: dict[str, dict[str, Rate]] = {
        "ingest": {"domain": played.domain, "es_save": es_save,
                   "unsealed": unsealed.domain},
        "relay": {"relay": relayed, "raw_produce": produced},
        "projection": {"projector": projected, "naive": naive, "raw_consume": consumed},
        "rebuild": {"rebuild": rebuilt, "raw_read": read},
    }
    result: dict[str, Any] = {
        "events": events,
        "requested_events": plan.events,
        "workload": {"seed": plan.seed, "customers": customers, "days": plan.days,
                     "commands": played.commands, "rejected": played.rejected,
                     "timers_fired": played.timers_fired,
                     "setup_events": played.setup_events,
                     "unsaved_calls_s": round(played.idle_calls_s, 3)},
        "ratios": {
            "ingest_vs_es_save": ratio(played.domain, es_save),
            "ingest_sealed_vs_unsealed": ratio(played.domain, unsealed.domain),
            "relay_vs_raw_produce": ratio(relayed, produced),
            "projection_vs_naive": ratio(projected, naive),
            "projection_vs_raw_consume": ratio(projected, consumed),
            "rebuild_vs_raw_read": ratio(rebuilt, read),
            "http_vs_ingest": over_http["ratio"],
        },
        "rss_growth": memory["growth"],
        "figures": {**{stage: {name: r.to_dict() for name, r in rates.items()}
                       for stage, rates in figures.items()}, "http": over_http["figures"]},
        "rss": memory,
        "latency": latencies,
        "environment": environment,
    }
    result["goals"] = judge(result)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
