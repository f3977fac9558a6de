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
        assert {t: after[t] for t in TABLES if t != "customers"} == \
            {t: before[t] for t in TABLES if t != "customers"}
        stored = system.desk.recorder.max_notification_id()
        offsets = conn.execute("SELECT SUM(next_offset) FROM projector_offsets").fetchone()[0]
        assert offsets == stored  # the refilled topic was read through to its end
    finally:
        system.close()
