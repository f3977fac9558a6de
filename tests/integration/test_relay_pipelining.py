"""The relay overlaps batches through a backlog (the next batch is read, encoded and sent
while the previous one's acknowledgements come in) without weakening at least once,
never skipping: a batch's position is stored only once every record up to it is
acknowledged, and a refused send or a missing acknowledgement leaves the position before
the first unacknowledged event, from where the next pass publishes everything."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from eventlog.kafka_config import BrokerUnavailableError
from supportlog.bootstrap import bootstrap
from tests.crash.relay_process import fill_store, stored_events, topic_envelopes

BATCH = 20


class Unacknowledged:
    """The future of a record the broker never acknowledged."""

    is_done = True

    def get(self, timeout: float | None = None) -> Any:
        raise KafkaTimeoutError("no acknowledgement (test)")

    def succeeded(self) -> bool:
        return False


class WatchedProducer:
    """The real producer, remembering each send's position and future; it can refuse to
    send, or lose the acknowledgement of, the event at `fail_at`."""

    def __init__(self, producer: Any, fail_at: int | None = None, mode: str = "ack"):
        self.producer, self.fail_at, self.mode = producer, fail_at, mode
        self.sent: list[tuple[int, Any]] = []

    def send(self, topic: str, *, key: bytes, value: bytes, headers: list) -> Any:
        position = int(dict(headers)["position"])
        if position == self.fail_at and self.mode == "send":
            raise KafkaTimeoutError("send refused (test)")
        future = Unacknowledged() if position == self.fail_at else \
            self.producer.send(topic, key=key, value=value, headers=headers)
        self.sent.append((position, future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout)


class CommitWatch:
    """A fault switch that, at each stored position, checks every event up to it was
    acknowledged and notes how far the relay had sent by then."""

    def __init__(self, relay: Any, producer: WatchedProducer):
        self.relay, self.producer = relay, producer
        self.commits: list[tuple[int, int]] = []  # (stored position, highest position sent)
        self.unacknowledged_below: list[int] = []

    def reached(self, point: str) -> None:
        if point != "relay.after_commit":
            return
        stored = self.relay.position()
        self.unacknowledged_below += [p for p, f in self.producer.sent
                                      if p <= stored and not (f.is_done and f.succeeded())]
        self.commits.append((stored, max(p for p, _ in self.producer.sent)))


def watched_relay(system: Any, fail_at: int | None = None, mode: str = "ack"):
    relay = system.relay(batch_size=BATCH)
    producer = WatchedProducer(relay.producer, fail_at, mode)
    relay.producer = producer
    watch = CommitWatch(relay, producer)
    relay.faults = watch
    return relay, watch


def test_the_next_batch_is_sent_before_a_batch_is_stored_and_only_acknowledged_events_are(
        settings):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=21, customers=8, days=3)
        relay, watch = watched_relay(system)
        stats = relay.pump()
        assert stats.published == head == stats.position and stats.batches == len(watch.commits)
        assert stats.batches > 3 and watch.unacknowledged_below == []
        # Every batch but the last was stored after the whole next batch was sent.
        positions = [stored for stored, _ in watch.commits]
        assert [sent for _, sent in watch.commits[:-1]] == positions[1:]
        assert watch.commits[-1] == (head, head)
        assert sorted(e.id for _, e in topic_envelopes(settings)) == \
            sorted(s.event_id for s in stored_events(system))
    finally:
        system.close()


@pytest.mark.parametrize("mode", ["ack", "send"])
def test_an_unacknowledged_event_stops_the_position_before_it_and_is_published_next_time(
        settings, mode):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=22, customers=8, days=3)
        fail_at = 3 * BATCH + 7  # in the fourth batch, sent while the third is in flight
        assert head > fail_at + 2 * BATCH
        relay, watch = watched_relay(system, fail_at, mode)
        with pytest.raises(BrokerUnavailableError, match="did not acknowledge"):
            relay.pump()
        assert watch.unacknowledged_below == []
        # Notification ids of this store are 1..head, so batches end at multiples of BATCH.
        # A refused send stops the pass while the third batch is in flight (not stored);
        # a lost acknowledgement shows when the fourth batch is confirmed.
        assert relay.position() == (2 if mode == "send" else 3) * BATCH
        assert system.relay(batch_size=BATCH).pump().position == head
        assert sorted({e.id for _, e in topic_envelopes(settings)}) == \
            sorted(s.event_id for s in stored_events(system))
    finally:
        system.close()


def test_a_stop_during_a_backlog_stores_the_batch_in_flight_and_reads_no_more(settings):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=23, customers=6, days=2)
        assert head > 2 * BATCH
        relay = system.relay(batch_size=BATCH)
        stop = threading.Event()

        class StopAtFirstSend:
            def reached(self, point: str) -> None:
                if point == "relay.mid_batch":
                    stop.set()

        relay.faults = StopAtFirstSend()
        stats = relay.pump(stop=stop)
        assert (stats.published, stats.batches, stats.position) == (BATCH, 1, BATCH)
    finally:
        system.close()
