"""Crash tests of the relay: the real `supportlog relay` process, killed with SIGKILL at
its named fault points and at random moments while commands keep arriving, then
restarted. Afterwards every stored event is on the topic at least once, in store order
per key and without a version gap per aggregate, and the log-wide chain still matches
the store (R-AUD-3).

The default run is a few rounds (well under 30 s); SUPPORTLOG_CRASH_ROUNDS raises the
count and SUPPORTLOG_CRASH_SEED replays a run (the seed is printed on failure).
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from collections import Counter

from replay.verify import verify_store
from supportlog.bootstrap import bootstrap
from tests.conftest import wait_for
from tests.crash.relay_process import (
    RelayProcess,
    fill_store,
    order_violations,
    relay_position,
    stored_events,
    topic_envelopes,
)

ROUNDS = int(os.environ.get("SUPPORTLOG_CRASH_ROUNDS", "2"))
BATCH = 20
SIGKILLED = -9


def test_relay_killed_anywhere_loses_no_event_and_keeps_store_order(settings, tmp_path):
    seed = int(os.environ.get("SUPPORTLOG_CRASH_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    system = bootstrap(settings)
    kills: Counter[str] = Counter()
    more = 0

    def add_events() -> int:
        nonlocal more
        more += 1
        return fill_store(system, seed=seed + more, customers=3, days=2, prefix=f"m{more}-")

    def start(*, fault: str | None = None) -> RelayProcess:
        log_path = tmp_path / f"relay-{sum(kills.values())}.log"
        return RelayProcess(settings, log_path, "--batch-size", str(BATCH), fault=fault)

    try:
        fill_store(system, seed=seed, customers=8, days=2)
        for _ in range(ROUNDS):
            for point in ("relay.after_produce", "relay.mid_batch"):
                unrelayed = add_events() - relay_position(settings)
                passes = rng.randint(1, max(1, unrelayed // BATCH)) \
                    if point == "relay.after_produce" else rng.randint(1, unrelayed)
                relay = start(fault=f"{point}@{passes}")
                wait_for(lambda r=relay: r.exited() is not None, 30,
                         f"the relay to kill itself at {point}@{passes} (seed {seed})")
                assert relay.exited() == SIGKILLED, relay.log_path.read_text()[-2000:]
                kills[point] += 1
            before, head = relay_position(settings), add_events()
            relay = start()
            target = rng.randint(before + 1, head)
            add_events()  # commands keep arriving while the relay publishes
            wait_for(lambda r=relay, t=target: r.exited() is not None
                     or relay_position(settings) >= t, 30, f"position {target} (seed {seed})")
            with contextlib.suppress(subprocess.TimeoutExpired):  # the random moment
                relay.process.wait(timeout=rng.uniform(0, 0.05))
            assert relay.exited() is None, relay.log_path.read_text()[-2000:]
            assert relay.kill() == SIGKILLED
            kills["random"] += 1

        head = system.desk.recorder.max_notification_id()
        relay = start()
        wait_for(lambda: relay.exited() is not None or (
            relay_position(settings) == head and relay.started()),
            60, f"the relay to catch up after the crashes (seed {seed})")
        assert relay.terminate() == 0, relay.log_path.read_text()[-2000:]

        records = topic_envelopes(settings)
        on_topic = {envelope.id for _, envelope in records}
        missing = [s for s in stored_events(system) if s.event_id not in on_topic]
        assert missing == [], f"seed {seed}: {len(missing)} stored events never published"
        assert order_violations(records) == [], f"seed {seed}"
        starts = [line for path in tmp_path.glob("relay-*.log")
                  for line in RelayProcess.read_log(path) if line.get("message") == "relay started"]
        assert starts and not any(line["refilled"] for line in starts), "a needless refill"
        report = verify_store(system.desk, system.connect())
        assert report.ok, f"seed {seed}: {report.first}"
        print(f"seed {seed}: {sum(kills.values())} kills {dict(kills)}, {head} events, "
              f"{len(records)} records ({len(records) - len(on_topic)} republished)")
    finally:
        system.close()
