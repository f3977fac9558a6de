"""The projector's overlapped loop (`Projector.step`): a batch's COMMIT is sent in
pipeline mode and confirmed only after the next batch was polled. These tests make the
commit fail for real (a deferred constraint trigger refuses it at COMMIT) after the
next batch is already in hand, and check that nothing is lost, nothing is counted
twice, and that only confirmed batches are reported as committed.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from consumers.projector import BatchResult, Projector
from domain.customer import Customer
from eventlog.kafka_config import make_consumer
from projections.planning import Incoming
from supportlog.bootstrap import bootstrap
from tests.conftest import wait_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CUSTOMERS = 24

REFUSE_COMMITS = """
CREATE TABLE refuse_commit (reason text);
CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM refuse_commit) THEN
    RAISE EXCEPTION 'commit refused by the test' USING ERRCODE = 'insufficient_resources';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT OR UPDATE ON projector_offsets
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
"""


class ReportingProjector(Projector):
    """Keeps every record reported as committed by `on_committed`."""

    reported: Counter[tuple[int, int]]

    def on_committed(self, items: list[Incoming], result: BatchResult) -> None:
        self.reported.update((i.record.partition, i.record.offset) for i in items)


@pytest.fixture
def system(settings):
    system = bootstrap(settings)
    for n in range(CUSTOMERS):
        system.desk.save(Customer.register(
            customer=f"c{n}", now=NOW, email=None, name=None, anonymous=True,
            profile_id="insales", profile_version=1))
    assert system.relay().pump().published == CUSTOMERS
    yield system
    system.close()


def _projector(system: Any) -> ReportingProjector:
    consumer = make_consumer(system.settings.kafka_bootstrap, group_id=None,
                             client_id="overlap-test", max_poll_records=4)
    projector = ReportingProjector(system.connect(), consumer, system.settings.topic,
                                   system.settings.group_id)
    projector.reported = Counter()
    projector.assign_all()
    return projector


def _until_in_flight(projector: Projector) -> list[Incoming]:
    """Steps until a batch is in flight; returns its items."""
    wait_for(lambda: projector.step(100) is not None and projector._in_flight,
             what="a batch in flight")
    assert projector._in_flight is not None
    return projector._in_flight[0]


def _tps(projector: Projector) -> dict[int, Any]:
    return {tp.partition: tp for tp in projector.consumer.assignment()}


def _drain(projector: Projector) -> None:
    wait_for(lambda: projector.step(100) is not None and not projector._in_flight
             and projector.lag() == 0, what="the whole topic")


def _customers(system: Any) -> int:
    return system.connect().execute("SELECT count(*) FROM customers").fetchone()[0]


def test_a_commit_refused_after_the_next_poll_reads_both_batches_again(system):
    projector = _projector(system)
    admin = system.connect()
    admin.execute(REFUSE_COMMITS)
    admin.execute("INSERT INTO refuse_commit VALUES ('now')")
    # the COMMIT is refused only when it runs: the batch goes in flight, and the step
    # that finds it refused has polled the next batch already
    in_flight = _until_in_flight(projector)
    position = {p: projector.consumer.position(tp) for p, tp in _tps(projector).items()}
    with pytest.raises(psycopg.errors.InsufficientResources):
        projector.step(100)
    rewound = {p: projector.consumer.position(tp) for p, tp in _tps(projector).items()}
    assert rewound != position
    assert projector._in_flight is None
    assert not projector.reported, "a refused batch was reported as committed"
    assert _customers(system) == 0
    assert projector.stored_offsets() == {}
    admin.execute("DELETE FROM refuse_commit")
    _drain(projector)
    # every record written and reported exactly once, the refused batch included
    assert _customers(system) == CUSTOMERS
    assert sum(projector.reported.values()) == CUSTOMERS
    assert set(projector.reported.values()) == {1}
    assert {(i.record.partition, i.record.offset) for i in in_flight} <= \
        set(projector.reported)
    applied = admin.execute("SELECT count(*), sum(version) FROM projector_applied").fetchone()
    assert applied == (CUSTOMERS, CUSTOMERS)


def test_the_synchronous_path_also_reads_a_refused_batch_again(system):
    projector = _projector(system)
    admin = system.connect()
    admin.execute(REFUSE_COMMITS)
    admin.execute("INSERT INTO refuse_commit VALUES ('now')")
    with pytest.raises(psycopg.errors.InsufficientResources):
        for _ in range(50):
            projector.poll_once(100)
    admin.execute("DELETE FROM refuse_commit")
    wait_for(lambda: projector.poll_once(100) is not None and projector.lag() == 0,
             what="the whole topic")
    assert _customers(system) == CUSTOMERS
    assert sum(projector.reported.values()) == CUSTOMERS


def test_reading_the_stored_offsets_waits_for_the_batch_in_flight(system):
    """What a rebalance does: it must see the batch in flight either fully committed
    (its offsets stored) or not at all, never half-finished."""
    projector = _projector(system)
    in_flight = _until_in_flight(projector)
    expected: dict[int, int] = {}
    for item in in_flight:
        p = item.record.partition
        expected[p] = max(expected.get(p, 0), item.record.offset + 1)
    assert projector.stored_offsets() == expected
    assert projector._in_flight is None
    # the confirmed batch is followed up (reported) by the loop's next turn, once
    assert not projector.reported
    done = projector.settle()
    assert done.records == len(in_flight)
    assert sum(projector.reported.values()) == len(in_flight)
    _drain(projector)
    assert sum(projector.reported.values()) == CUSTOMERS


def test_run_finishes_the_batch_in_flight_when_stopped(system):
    import threading

    projector = _projector(system)
    stop = threading.Event()
    thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: sum(projector.reported.values()) == CUSTOMERS, what="all reported")
    stop.set()
    thread.join(10)
    assert projector._in_flight is None and projector.lag() == 0
    assert _customers(system) == CUSTOMERS
