"""The relay: every stored event on the topic, keyed by customer, in store order; its
position, produced offsets and log-wide chain move together; it moves back on request
and refills a topic that lost what it had published."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest
from kafka import KafkaAdminClient

from consumers.relay import Relay
from domain.errors import InvalidArgumentError
from eventlog.kafka_config import ensure_topic
from eventlog.log_chain import (
    CHECKPOINT_EVERY,
    START,
    chain_over,
    links_end,
    read_checkpoints,
    read_head,
    read_links,
    unpack_links,
)
from eventlog.topic_reader import high_water_marks
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


def recreate_topic(settings) -> None:
    """Deletes and recreates the topic: what a restarted embedded broker looks like."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics([settings.topic])
    finally:
        admin.close()
    ensure_topic(settings.kafka_bootstrap, settings.topic, settings.partitions)
    wait_for(lambda: sum(high_water_marks(settings.kafka_bootstrap, settings.topic).values())
             == 0, 10, "the recreated topic")


def relay_of(system, batch_size: int, checkpoint_every: int = CHECKPOINT_EVERY) -> Relay:
    relay = system.relay(batch_size=batch_size)
    relay.checkpoint_every = checkpoint_every
    return relay


def recomputed_chain(system):
    links = [(n.id, system.desk.mapper.to_domain_event(n).hash)
             for n in system.desk.recorder.select_notifications(0, 100_000,
                                                                inclusive_of_start=False)]
    return chain_over(START, links)


def test_every_stored_event_reaches_the_topic_once_keyed_by_customer_in_store_order(settings):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=1, customers=10, days=3)
        stats = system.relay(batch_size=50).pump()
        assert stats.published == head == stats.position and stats.batches > 2
        records = topic_envelopes(settings)
        stored = stored_events(system)
        assert [e.id for _, e in sorted(records, key=lambda r: r[1].position)] == \
            [s.event_id for s in stored]
        assert order_violations(records) == []
        record, envelope = records[0]
        headers = dict(record.headers)
        assert headers["ce_type"] == envelope.type.encode()
        assert headers["ce_id"] == envelope.id.encode()
        assert headers["position"] == str(envelope.position).encode()
    finally:
        system.close()


def test_r_aud_3_the_relay_extends_the_log_chain_in_the_transaction_of_its_position(
        settings):
    system = bootstrap(settings)
    try:
        fill_store(system, seed=2, customers=8, days=3)
        relay = relay_of(system, batch_size=20, checkpoint_every=25)
        relay.pump()
        conn = system.connect()
        head = read_head(conn)
        assert head == recomputed_chain(system)
        assert head.position == relay.position() and head.events == len(stored_events(system))
        permanent = conn.execute(
            "SELECT events FROM log_chain_checkpoints ORDER BY position").fetchall()
        assert head.events > 100
        assert [n // 25 for (n,) in permanent] == list(range(1, head.events // 25 + 1))
        assert read_checkpoints(conn)[-1] == head
    finally:
        system.close()


def test_r_aud_3_republishing_leaves_the_chain_as_it_was(settings):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=3, customers=5, days=2)
        relay = relay_of(system, batch_size=30, checkpoint_every=50)
        relay.pump()
        conn = system.connect()
        before = read_checkpoints(conn)
        relay.rewind_to(head // 2)
        assert relay.pump().published == head - head // 2
        assert read_checkpoints(conn) == before
    finally:
        system.close()


def test_r_aud_3_the_chain_catches_up_with_events_an_older_relay_published(settings):
    system = bootstrap(settings)
    try:
        fill_store(system, seed=4, customers=5, days=2)
        relay = relay_of(system, batch_size=30)
        relay.pump()
        conn = system.connect()
        conn.execute("DELETE FROM log_chain_head")  # as before the chain existed
        fill_store(system, seed=5, customers=3, days=2, prefix="more-")
        relay.pump()
        assert read_head(conn) == recomputed_chain(system)
    finally:
        system.close()


def test_r_aud_3_relays_keep_one_keyed_record_of_every_position_they_chained(settings):
    """Two relays of one store (two topics, other batch sizes) take turns: their keyed
    record holds each stored event's position, id and hash exactly once, in rows that
    join end to start, each with a valid MAC."""
    system = bootstrap(settings)
    try:
        fill_store(system, seed=6, customers=6, days=2)
        relay_of(system, batch_size=17).pump_once()
        other = bootstrap(replace(settings, topic=f"{settings.topic}-other"))
        try:
            relay_of(other, batch_size=40).pump()
        finally:
            other.close()
        fill_store(system, seed=7, customers=2, days=1, prefix="more-")
        relay_of(system, batch_size=17).pump()
        conn = system.connect()
        rows = list(read_links(conn, links_end(conn)))
        assert all(row.signed_by(system.log_key) for row in rows)
        assert [row.after for row in rows] == [0] + [row.last for row in rows[:-1]]
        recorded = [(position, str(UUID(bytes=ident)), event_hash.hex())
                    for row in rows for position, ident, event_hash in unpack_links(row.links)]
        assert recorded == [(e.position, e.event_id, system.desk.mapper.to_domain_event(n).hash)
                            for e, n in zip(stored_events(system), notifications(system),
                                            strict=True)]
    finally:
        system.close()


def notifications(system) -> list:
    return system.desk.recorder.select_notifications(0, 100_000, inclusive_of_start=False)


def test_the_relay_only_moves_back(settings):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=6, customers=3, days=1)
        relay = system.relay()
        relay.pump()
        assert relay.rewind_to(3) == head and relay.position() == 3
        with pytest.raises(InvalidArgumentError, match="only move back"):
            relay.rewind_to(head)
        assert relay.pump().published == head - 3
    finally:
        system.close()


def test_an_emptied_topic_is_refilled_from_the_store(settings):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=7, customers=4, days=2)
        relay = system.relay(batch_size=100)
        relay.pump()
        marks = high_water_marks(settings.kafka_bootstrap, settings.topic)
        assert sum(marks.values()) == head and relay.topic_loss(marks) is None
        recreate_topic(settings)
        marks = high_water_marks(settings.kafka_bootstrap, settings.topic)
        assert "empty" in relay.topic_loss(marks)
        assert relay.refill_if_lost(marks) and relay.position() == 0
        assert relay.produced_offsets() == {}
        relay = system.relay(batch_size=100)  # a new process would have a new producer
        assert relay.pump().published == head
        assert sorted(e.id for _, e in topic_envelopes(settings)) == \
            sorted(s.event_id for s in stored_events(system))
    finally:
        system.close()


def test_a_partition_behind_what_the_relay_produced_counts_as_lost(settings):
    system = bootstrap(settings)
    try:
        fill_store(system, seed=8, customers=4, days=1)
        relay = system.relay()
        relay.pump()
        marks = high_water_marks(settings.kafka_bootstrap, settings.topic)
        partition = max(marks, key=lambda p: marks[p])
        lost = {**marks, partition: marks[partition] - 1}
        assert f"[{partition}]" in relay.topic_loss(lost)
        assert relay.topic_loss(marks) is None
    finally:
        system.close()


def test_relay_command_refills_an_emptied_topic_and_stops_cleanly_on_sigterm(
        settings, tmp_path):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=9, customers=4, days=2)
        system.relay().pump()
        recreate_topic(settings)
        process = RelayProcess(settings, tmp_path / "relay.log")
        try:
            wait_for(lambda: process.exited() is not None or any(
                line.get("message") == "relay started" for line in process.log_lines()),
                30, "the relay to start")
            wait_for(lambda: sum(high_water_marks(settings.kafka_bootstrap,
                                                  settings.topic).values()) >= head,
                     30, "the refill")
            assert process.terminate() == 0
        finally:
            if process.exited() is None:
                process.kill()
        lines = process.log_lines()
        started = next(line for line in lines if line.get("message") == "relay started")
        assert started["refilled"] is True and started["position"] == 0
        assert lines[-1]["message"] == "relay stopped" and lines[-1]["position"] == head
        assert all("text" not in line for line in lines), "every log line is JSON"
        assert order_violations(topic_envelopes(settings)) == []
    finally:
        system.close()


def test_relay_command_from_a_position_republishes_from_there(settings, tmp_path):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=10, customers=3, days=1)
        system.relay().pump()
        process = RelayProcess(settings, tmp_path / "relay.log", "--from", "5")
        try:
            wait_for(lambda: sum(high_water_marks(settings.kafka_bootstrap,
                                                  settings.topic).values()) >= 2 * head - 4,
                     30, "the republication")
            assert process.terminate() == 0
        finally:
            if process.exited() is None:
                process.kill()
        positions = sorted(e.position for _, e in topic_envelopes(settings))
        stored = [s.position for s in stored_events(system)]
        assert positions == sorted(stored + [p for p in stored if p >= 5])
        assert relay_position(settings) == head
    finally:
        system.close()


def test_relay_command_refuses_to_move_forward(settings, tmp_path):
    system = bootstrap(settings)
    try:
        head = fill_store(system, seed=11, customers=2, days=1)
        process = RelayProcess(settings, tmp_path / "relay.log", "--from", str(head))
        wait_for(lambda: process.exited() is not None, 30, "the relay to exit")
        assert process.exited() == 2
        assert "error: invalid_argument: the relay can only move back" in \
            process.log_path.read_text()
    finally:
        system.close()
