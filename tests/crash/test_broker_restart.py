"""The broker restarted and killed under a running pipeline (issue #17, item 3): the real
`supportlog relay` and `supportlog project` processes, a writer deciding commands all
along, and a broker of the test's own, of the run's kind, stopped or SIGKILLed and
started again on the same ports.

Afterwards every stored event is on the topic, in store order per key, and the read
models equal a fold of the whole log from scratch: nothing lost, a duplicate only ever
skipped. Neither process was restarted. On Apache Kafka, which keeps its logs, the
producer's state and the groups' offsets, a restart needs no refill and the relay's
idempotent producer carries on across it without a duplicate. On Tansu, memory-only,
every restart loses the topic: the relay notices after the outage and refills it by
itself, and the projector reads the refilled topic again (Tansu's part of the story is
its defect, documented in docs/brokers.md; this is the workaround, tested).

SUPPORTLOG_BROKER_KILLS raises the number of kill -9 rounds (default 10);
SUPPORTLOG_CRASH_SEED replays a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from supportlog.bootstrap import System, bootstrap
from supportlog.settings import Settings
from tests.conftest import wait_for
from tests.crash.relay_process import (
    RelayProcess,
    order_violations,
    relay_position,
    stored_events,
    topic_envelopes,
)
from tests.crash.servers import OwnBroker
from tests.crash.test_projector_crash import Writer
from tests.integration.test_projector import (
    SUPPORTLOG,
    cli_env,
    differing_tables,
    fold_from_scratch,
    fresh_database,
    produced_offsets,
    projected_through,
    store_envelopes,
)

KILLS = int(os.environ.get("SUPPORTLOG_BROKER_KILLS", "10"))


@dataclass
class Pipeline:
    """The processes of one test: broker, writer, relay and projector."""

    settings: Settings
    system: System
    broker: OwnBroker
    writer: Writer
    relay: RelayProcess
    projector: subprocess.Popen
    projector_log: Path

    def alive(self) -> bool:
        return self.relay.exited() is None and self.projector.poll() is None \
            and self.writer.error is None

    def why(self) -> str:
        return (f"relay {self.relay.exited()}, projector {self.projector.poll()}, writer "
                f"{self.writer.error!r}\n{self.relay.log_path.read_text()[-3000:]}\n"
                f"{self.projector_log.read_text()[-3000:]}")


@contextmanager
def pipeline(settings: Settings, tmp_path: Path, seed: int) -> Iterator[Pipeline]:
    broker = OwnBroker(tmp_path / "broker").start()
    own = replace(settings, kafka_bootstrap=broker.bootstrap)
    system = bootstrap(own)
    writer = Writer(system, random.Random(seed), relay=False, pause_s=0.02)
    relay = projector = None
    try:
        writer.start()
        relay = RelayProcess(own, tmp_path / "relay.log", "--batch-size", "50")
        log_path = tmp_path / "projector.log"
        with open(log_path, "ab") as log:
            projector = subprocess.Popen(
                [str(SUPPORTLOG), "project", "--session-timeout-ms", "2000", "--poll-ms",
                 "50"], env={**os.environ, **cli_env(own)}, stdout=log, stderr=log)
        yield Pipeline(own, system, broker, writer, relay, projector, log_path)
    finally:
        writer.stop.set()
        for process in (relay.process if relay else None, projector):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        system.close()
        broker.kill()


def finish(p: Pipeline, seed: int) -> tuple[int, int]:
    """Stops the writer, lets relay and projector catch up, stops them with SIGTERM and
    checks the topic and the read models; returns (events, duplicates on the topic)."""
    p.writer.stop.set()
    p.writer.join(timeout=60)
    assert p.writer.error is None, p.writer.error
    head = p.system.desk.recorder.max_notification_id()
    conn = p.system.connect()
    wait_for(lambda: not p.alive() or relay_position(p.settings) == head, 180,
             f"the relay to publish everything (seed {seed})")
    wait_for(lambda: not p.alive() or projected_through(
        conn, p.settings.group_id, p.settings.topic, produced_offsets(conn, p.settings.topic)),
        180, f"the projector to catch up (seed {seed})")
    assert p.alive(), p.why()
    assert p.relay.terminate() == 0, p.why()
    p.projector.send_signal(signal.SIGTERM)
    assert p.projector.wait(timeout=20) == 0, p.why()

    records = topic_envelopes(p.settings, timeout_s=120)
    on_topic = Counter(envelope.id for _, envelope in records)
    missing = [s for s in stored_events(p.system) if s.event_id not in on_topic]
    assert missing == [], f"seed {seed}: {len(missing)} stored events not on the topic"
    assert order_violations(records) == [], f"seed {seed}"
    envelopes = store_envelopes(p.system.desk)
    with fresh_database(p.system.database_url, "restart") as url:
        tables = fold_from_scratch(envelopes, url)
        assert differing_tables(p.system.database_url, url, tables) == {}, f"seed {seed}"
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    starts = [line for line in p.relay.log_lines() if line.get("message") == "relay started"]
    assert len(starts) == 1 and not starts[0]["refilled"]
    return len(envelopes), len(records) - len(on_topic)


def refills(p: Pipeline) -> int:
    return sum(line.get("message") == "relay refills the topic from position 0"
               for line in p.relay.log_lines())


def test_a_restarted_broker_keeps_the_topic_and_the_relay_carries_on(settings, tmp_path):
    seed = int(os.environ.get("SUPPORTLOG_CRASH_SEED") or random.randrange(2**32))
    with pipeline(settings, tmp_path, seed) as p:
        wait_for(lambda: not p.alive() or relay_position(p.settings) > 50, 60,
                 "the relay to publish")
        assert p.alive(), p.why()
        p.broker.stop()
        p.broker.start()
        restarted_at = relay_position(p.settings)
        wait_for(lambda: not p.alive() or relay_position(p.settings) > restarted_at + 50,
                 120, "the relay to go on after the restart")
        events, duplicates = finish(p, seed)
        if p.broker.persistent:  # Apache Kafka: nothing lost, nothing to refill
            assert refills(p) == 0 and duplicates == 0, (refills(p), duplicates)
        else:  # Tansu lost the topic: the relay saw it and refilled, by itself
            assert refills(p) >= 1
        print(f"seed {seed}: {events} events, {duplicates} duplicates, "
              f"{refills(p)} refills")


def test_a_broker_killed_again_and_again_while_the_relay_publishes_loses_nothing(
        settings, tmp_path):
    seed = int(os.environ.get("SUPPORTLOG_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    pause = threading.Event()  # never set: waits for a random moment
    with pipeline(settings, tmp_path, seed) as p:
        for kill in range(KILLS):
            before = relay_position(p.settings)
            wait_for(lambda b=before: not p.alive() or relay_position(p.settings) > b, 180,
                     f"the relay to publish before kill {kill + 1} (seed {seed})")
            assert p.alive(), p.why()
            pause.wait(rng.uniform(0, 0.5))  # the moment of the kill
            p.broker.kill()
            p.broker.start()
        events, duplicates = finish(p, seed)
        if p.broker.persistent:
            assert refills(p) == 0
        print(f"seed {seed}: {KILLS} kills, {events} events, {duplicates} duplicates "
              f"skipped, {refills(p)} refills")
