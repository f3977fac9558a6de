"""A broker that lost the topic (the embedded one keeps nothing across a restart): the
relay refills it from the store and the projector, whose stored offsets now lie beyond
the topic's end, reads it again, so new events are still projected exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from supportlog.bootstrap import bootstrap
from supportlog.demo import play
from supportlog.pipeline import Pipeline
from tests.integration.test_relay import recreate_topic

TABLES = ("customers", "tickets", "balances", "charges", "quotas", "ledger")


def snapshot(conn) -> dict[str, list]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}


def test_projection_goes_on_after_the_topic_is_lost_and_refilled(settings):
    system = bootstrap(settings)
    try:
        play(system, seed=5, customers=5, days=3,  # syncs relay and projector
             end=datetime(2026, 3, 5, tzinfo=UTC))
        relay = system.relay()
        relay.rewind_to(0)  # as after crashes: every event is on the topic twice,
        Pipeline(system).sync()  # so the stored offsets end past a refilled topic's end
        conn = system.connect()
        before = snapshot(conn)
        recreate_topic(settings)
        pipeline = Pipeline(system)  # refills the topic, then seeks past nothing
        system.desk.execute("register_customer", {"customer": "late", "desk": "insales"},
                            datetime(2026, 4, 1, tzinfo=UTC))
        pipeline.sync()
        after = snapshot(conn)
        assert [r[0] for r in after["customers"]] == sorted(
            [r[0] for r in before["customers"]] + ["late"])
        # A registration has its balance and quota rows from the start (R-QTA-1); the
        # rows that were there are unchanged, and nothing else is new.
        for table in TABLES:
            assert [r for r in after[table] if r[0] != "late"] == before[table], table
        assert [t for t in TABLES if any(r[0] == "late" for r in after[t])] == [
            "customers", "balances", "quotas"]
        stored = system.desk.recorder.max_notification_id()
        offsets = conn.execute("SELECT SUM(next_offset) FROM projector_offsets").fetchone()[0]
        assert offsets == stored  # the refilled topic was read through to its end
    finally:
        system.close()
