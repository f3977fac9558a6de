"""R-AUD-3: `supportlog verify` finds an altered or deleted stored event, names the first
broken link, and passes an intact log; with `--kafka` it also holds the store against
the topic."""

from __future__ import annotations

import re
from uuid import UUID

import psycopg
from click.testing import CliRunner

from eventlog.envelope import event_id
from replay.verify import verify_store
from replay.verify_topic import read_topic
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from tests.crash.relay_process import fill_store

EVENTS_TABLE = "supportdesk_events"


def relayed_system(settings, *, seed: int = 1, customers: int = 6, days: int = 2):
    """A system whose store is filled and fully relayed, with small checkpoint blocks."""
    system = bootstrap(settings)
    fill_store(system, seed=seed, customers=customers, days=days)
    relay = system.relay(batch_size=25)
    relay.checkpoint_every = 20
    relay.pump()
    return system


def run_verify(settings, *args: str):
    env = {"DATABASE_URL": settings.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
           "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_PARTITIONS": str(settings.partitions),
           "SUPPORTLOG_HOME": str(settings.home)}
    return CliRunner().invoke(main, ["verify", *args], env=env)


def stored_rows(conn: psycopg.Connection) -> list[tuple[int, str, int, int, bytes]]:
    """(position, aggregate id, version, the aggregate's last version, state) of each row."""
    return conn.execute(
        f"SELECT notification_id, originator_id::text, originator_version, "
        f"max(originator_version) OVER (PARTITION BY originator_id), state "
        f"FROM {EVENTS_TABLE} ORDER BY notification_id").fetchall()


def pick(conn, *, last_of_stream: bool, with_number: bool = False):
    """Returns a stored row in the middle of the log: the last event of its aggregate, or
    one that has a later version; with `with_number`, one whose state has a number."""
    rows = stored_rows(conn)
    middle = rows[len(rows) // 3:]
    for row in middle:
        _, _, version, last, state = row
        if (version == last) == last_of_stream and version > 1 and (
                not with_number or re.search(rb'":\d+[,}]', bytes(state))):
            return row
    raise AssertionError("no suitable stored event")


def flip_a_digit(conn, position: int, state: bytes) -> None:
    """Alters one byte of a stored event: a digit of a number, so the JSON stays valid."""
    match = re.search(rb'":\d+[,}]', state)
    offset = match.end() - 2  # the number's last digit, 0-based as get_byte counts
    conn.execute(f"UPDATE {EVENTS_TABLE} SET state = set_byte(state, %s, "
                 "get_byte(state, %s) # 1) WHERE notification_id = %s",
                 (offset, offset, position))


def ident(aggregate: str, version: int) -> str:
    return str(event_id(UUID(aggregate), version))


def test_r_aud_3_an_intact_log_passes_verification(settings):
    system = relayed_system(settings)
    try:
        report = verify_store(system.desk, system.connect())
        assert report.ok and report.events == system.desk.recorder.max_notification_id()
        assert report.checkpoints > 3 and report.chained_to == report.events
        result = run_verify(settings, "--kafka")
        assert result.exit_code == 0, result.output
        assert "intact: no broken link" in result.output
    finally:
        system.close()


def test_r_aud_3_one_altered_byte_in_the_middle_of_a_stream_is_the_first_broken_link(
        settings):
    system = relayed_system(settings, seed=2)
    try:
        conn = system.connect()
        position, aggregate, version, _, state = pick(conn, last_of_stream=False,
                                                      with_number=True)
        flip_a_digit(conn, position, bytes(state))
        report = verify_store(system.desk, conn)
        assert not report.ok
        assert (report.first.position, report.first.event_id) == (
            position, ident(aggregate, version))
        assert "altered" in report.first.reason
        result = run_verify(settings)
        assert result.exit_code == 1
        assert f"first broken link: position {position}, event {ident(aggregate, version)}" \
            in result.output
    finally:
        system.close()


def test_r_aud_3_an_altered_last_event_of_a_stream_breaks_the_log_wide_chain(settings):
    system = relayed_system(settings, seed=3)
    try:
        conn = system.connect()
        position, _, _, _, state = pick(conn, last_of_stream=True, with_number=True)
        flip_a_digit(conn, position, bytes(state))
        report = verify_store(system.desk, conn)
        assert not report.ok and len(report.problems) == 1
        assert report.first.position >= position  # the checkpoint that covers it
        first, last = map(int, re.findall(r"positions (\d+) to (\d+)",
                                          report.first.reason)[0])
        # "positions 26 to 50" includes 50: the checkpoint's own position
        assert "an event in positions" in report.first.reason and first <= position <= last
    finally:
        system.close()


def test_r_aud_3_a_byte_that_breaks_the_json_is_reported_at_its_position(settings):
    system = relayed_system(settings, seed=4)
    try:
        conn = system.connect()
        position, aggregate, version, _, _ = pick(conn, last_of_stream=False)
        conn.execute(f"UPDATE {EVENTS_TABLE} SET state = set_byte(state, 0, 120) "
                     "WHERE notification_id = %s", (position,))
        report = verify_store(system.desk, conn)
        assert report.first.position == position
        assert report.first.event_id == ident(aggregate, version)
        assert "cannot be decoded" in report.first.reason
    finally:
        system.close()


def test_r_aud_3_a_deleted_event_in_the_middle_of_a_stream_is_detected(settings):
    system = relayed_system(settings, seed=5)
    try:
        conn = system.connect()
        position, _, version, _, _ = pick(conn, last_of_stream=False)
        conn.execute(f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = %s", (position,))
        report = verify_store(system.desk, conn)
        assert not report.ok and report.first.position > position
        assert any(f"version {version} before it is missing" in p.reason
                   for p in report.problems)
        assert any("1 event(s)" in p.reason and "removed" in p.reason
                   for p in report.problems)
        result = run_verify(settings)
        assert result.exit_code == 1 and "first broken link: position" in result.output
    finally:
        system.close()


def test_r_aud_3_a_deleted_last_event_of_a_stream_is_detected(settings):
    system = relayed_system(settings, seed=6)
    try:
        conn = system.connect()
        position, aggregate, version, _, _ = pick(conn, last_of_stream=True)
        conn.execute(f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = %s", (position,))
        report = verify_store(system.desk, conn)
        assert [p.reason for p in report.problems] == [
            p.reason for p in report.problems if "1 event(s) in positions" in p.reason]
        assert len(report.problems) == 1 and report.first.position >= position
        topic = read_topic(conn, settings.kafka_bootstrap, settings.topic)
        report = verify_store(system.desk, conn, published=topic.published,
                              published_to=topic.relay_position)
        assert [(p.position, p.event_id) for p in report.problems
                if "not in the store" in p.reason] == [(position, ident(aggregate, version))]
    finally:
        system.close()


def test_r_aud_3_a_deleted_tail_of_the_log_is_detected(settings):
    system = relayed_system(settings, seed=7)
    try:
        conn = system.connect()
        head = system.desk.recorder.max_notification_id()
        conn.execute(f"DELETE FROM {EVENTS_TABLE} WHERE notification_id > %s", (head - 3,))
        report = verify_store(system.desk, conn)
        assert len(report.problems) == 1 and report.first.position == head
        assert "3 event(s) of its tail were removed" in report.first.reason
    finally:
        system.close()


def test_r_aud_3_verify_kafka_finds_a_relayed_event_missing_from_the_topic(settings):
    system = relayed_system(settings, seed=8, customers=3)
    try:
        before = system.desk.recorder.max_notification_id()
        fill_store(system, seed=9, customers=2, days=1, prefix="late-")
        conn = system.connect()
        conn.execute("UPDATE relay_position SET notification_id = %s WHERE topic = %s",
                     (before + 1, settings.topic))  # claims one more than it published
        result = run_verify(settings, "--kafka")
        assert result.exit_code == 1
        assert f"first broken link: position {before + 1}" in result.output
        assert "was relayed but is not on the topic" in result.output
    finally:
        system.close()
