"""R-AUD-3: `supportlog verify` passes an intact log, names every altered, removed or
inserted event by position and id (exit 1), as text or JSON; with `--kafka` it also
holds the store against the topic. It needs the store's log key, says so clearly when
it is missing or another, and counts events written before MACs without failing on
them unless asked to. Each kind of tampering: `test_verify_tamper.py`."""

from __future__ import annotations

import re
from uuid import UUID

import orjson
import psycopg
import pytest
from click.testing import CliRunner

from domain.desk import SupportDesk
from domain.policy.profile import builtin_profile
from eventlog.envelope import event_id
from replay.verify import verify_store
from replay.verify_topic import read_topic
from supportlog.bootstrap import bootstrap, desk_env
from supportlog.cli import main
from supportlog.log_key import LogKeyError
from supportlog.workload import START, Workload
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


def run_cli(settings, *args: str, **env: str):
    env = {"DATABASE_URL": settings.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
           "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_PARTITIONS": str(settings.partitions),
           "SUPPORTLOG_HOME": str(settings.home), "SUPPORTLOG_LOG_KEY": "", **env}
    return CliRunner().invoke(main, list(args), env=env)


def run_verify(settings, *args: str, **env: str):
    return run_cli(settings, "verify", *args, **env)


def stored_rows(conn: psycopg.Connection) -> list[tuple[int, str, int, int, bytes]]:
    """(position, aggregate id, version, the aggregate's last version, state) of each row."""
    return conn.execute(
        f"SELECT notification_id, originator_id::text, originator_version, "
        f"max(originator_version) OVER (PARTITION BY originator_id), state "
        f"FROM {EVENTS_TABLE} ORDER BY notification_id").fetchall()


#: A number of the event's own (not its `class_version`: altering that is refused as a
#: version this code cannot read, before any MAC is compared).
_NUMBER = rb'(?<!"class_version)":\d+[,}]'


def pick(conn, *, last_of_stream: bool, with_number: bool = False):
    """Returns a stored row in the middle of the log: the last event of its aggregate, or
    one that has a later version; with `with_number`, one whose state has a number."""
    rows = stored_rows(conn)
    middle = rows[len(rows) // 3:]
    for row in middle:
        _, _, version, last, state = row
        if (version == last) == last_of_stream and version > 1 and (
                not with_number or re.search(_NUMBER, bytes(state))):
            return row
    raise AssertionError("no suitable stored event")


def flip_a_digit(conn, position: int, state: bytes) -> None:
    """Alters one byte of a stored event: a digit of a number, so the JSON stays valid."""
    match = re.search(_NUMBER, state)
    offset = match.end() - 2  # the number's last digit, 0-based as get_byte counts
    conn.execute(f"UPDATE {EVENTS_TABLE} SET state = set_byte(state, %s, "
                 "get_byte(state, %s) # 1) WHERE notification_id = %s",
                 (offset, offset, position))


def ident(aggregate: str, version: int) -> str:
    return str(event_id(UUID(aggregate), version))


def test_r_aud_3_an_intact_log_passes_verification(settings):
    system = relayed_system(settings)
    try:
        report = verify_store(system.desk, system.connect(), key=system.log_key)
        head = system.desk.recorder.max_notification_id()
        assert report.ok and report.events == report.macs_checked == head
        assert report.checkpoints > 3 and report.chained_to == report.events
        assert report.recorded == (1, head) and report.written_before_macs == 0
        result = run_verify(settings, "--kafka")
        assert result.exit_code == 0, result.output
        assert "intact: nothing altered, removed or inserted" in result.output
        assert f"{head} MACs checked with log key {system.log_key.id}" in result.output
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
        report = verify_store(system.desk, conn, key=system.log_key)
        assert [(p.position, p.event_id, p.kind) for p in report.problems] == [
            (position, ident(aggregate, version), "altered")]
        result = run_verify(settings)
        assert result.exit_code == 1
        assert f"1 finding(s):\n  position {position}, event {ident(aggregate, version)}: " \
            "altered: its MAC does not match its content" in result.output
        result = run_verify(settings, "--json")
        assert result.exit_code == 1
        answer = orjson.loads(result.output)
        assert not answer["ok"] and answer["macs_checked"] == answer["events"] - 1
        assert [(p["position"], p["event_id"], p["kind"]) for p in answer["problems"]] == [
            (position, ident(aggregate, version), "altered")]
    finally:
        system.close()


def test_r_aud_3_a_byte_that_breaks_the_json_is_reported_at_its_position(settings):
    system = relayed_system(settings, seed=4)
    try:
        conn = system.connect()
        position, aggregate, version, _, _ = pick(conn, last_of_stream=False)
        conn.execute(f"UPDATE {EVENTS_TABLE} SET state = set_byte(state, 0, 120) "
                     "WHERE notification_id = %s", (position,))
        report = verify_store(system.desk, conn, key=system.log_key)
        assert len(report.problems) == 1 and report.first.position == position
        assert report.first.event_id == ident(aggregate, version)
        assert "cannot be decoded" in report.first.reason
    finally:
        system.close()


def test_r_aud_3_the_topic_witnesses_a_deleted_last_event_of_a_stream_too(settings):
    system = relayed_system(settings, seed=6)
    try:
        conn = system.connect()
        position, aggregate, version, _, _ = pick(conn, last_of_stream=True)
        conn.execute(f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = %s", (position,))
        topic = read_topic(conn, settings.kafka_bootstrap, settings.topic)
        report = verify_store(system.desk, conn, key=system.log_key,
                              published=topic.published, published_to=topic.relay_position)
        assert [(p.position, p.event_id, p.kind) for p in report.problems] == [
            (position, ident(aggregate, version), "removed")]
        assert "the relay read this event" in report.first.reason
        assert "the topic holds it, the store no longer does" in report.first.reason
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
        assert f"  position {before + 1}, event " in result.output
        assert "removed: it was relayed but is not on the topic" in result.output
    finally:
        system.close()


def test_r_aud_3_verify_without_the_stores_key_is_refused_clearly(settings):
    system = relayed_system(settings, seed=10, customers=2)
    system.close()
    key_file = settings.home / "log.key"
    kept = key_file.read_text()
    key_file.unlink()
    result = run_verify(settings)
    assert result.exit_code == 2
    assert f"error: log_key: this store is sealed with log key {system.log_key.id}, and no " \
        "key is configured" in result.output
    other = "ab" * 32
    result = run_verify(settings, SUPPORTLOG_LOG_KEY=other)
    assert result.exit_code == 2 and "is not this store's key" in result.output
    assert other not in result.output and kept.strip() not in result.output
    assert not key_file.exists()  # a store with a key record never gets a new key
    result = run_verify(settings, SUPPORTLOG_LOG_KEY=kept.strip())
    assert result.exit_code == 0, result.output


def test_r_aud_3_events_written_before_macs_are_counted_unless_macs_are_required(settings):
    """A store that existed before MACs: its old events keep their bytes and are
    counted; every event after the key was first used must carry a MAC."""
    old_desk = SupportDesk(env=desk_env(settings.database_url))  # the code before MACs
    try:
        for profile in ("cs-cart", "insales"):
            old_desk.adopt(builtin_profile(profile), START)
        old = old_desk.recorder.max_notification_id()
    finally:
        old_desk.close()
    system = relayed_system(settings, seed=19, customers=2)
    try:
        conn = system.connect()
        report = verify_store(system.desk, conn, key=system.log_key)
        assert report.ok and report.written_before_macs == old == 4
        assert report.macs_checked == report.events - old
        strict = verify_store(system.desk, conn, key=system.log_key, require_macs=True)
        assert [(p.position, p.kind) for p in strict.problems] == [
            (n, "unsealed") for n in range(1, old + 1)]
        position = old + 3
        state = orjson.loads(bytes(conn.execute(
            f"SELECT state FROM {EVENTS_TABLE} WHERE notification_id = %s",
            (position,)).fetchone()[0]))
        del state["mac"]
        conn.execute(f"UPDATE {EVENTS_TABLE} SET state = %s WHERE notification_id = %s",
                     (orjson.dumps(state), position))
        problem, = verify_store(system.desk, conn, key=system.log_key).problems
        assert (problem.position, problem.kind) == (position, "altered")
        assert f"it has no MAC, but every event after position {old} got one" in \
            problem.reason
    finally:
        system.close()


def test_r_aud_3_a_lost_key_is_replaced_deliberately_and_older_macs_count_unchecked(
        settings):
    system = relayed_system(settings, seed=20, customers=2)
    old_id, old_head = system.log_key.id, system.desk.recorder.max_notification_id()
    system.close()
    (settings.home / "log.key").unlink()
    shown = run_cli(settings, "log-key", "show")
    assert shown.exit_code == 1 and "this process: no usable log key" in shown.output
    assert f"the store:    log key {old_id}, epoch 1" in shown.output
    assert run_cli(settings, "log-key", "new").exit_code == 2  # not without --yes
    result = run_cli(settings, "log-key", "new", "--yes")
    assert result.exit_code == 0, result.output
    assert f"seals every event after position {old_head}; MACs up to there were written " \
        f"under key {old_id} (epoch 1) and are no longer checked" in result.output
    system = bootstrap(settings)
    try:
        assert system.log_key.id != old_id
        fill_store(system, seed=21, customers=1, days=1, prefix="after-")
        system.relay(batch_size=25).pump()
        conn = system.connect()
        report = verify_store(system.desk, conn, key=system.log_key)
        assert report.ok and report.macs_unchecked == old_head
        assert report.macs_checked == report.events - old_head > 0
        numbered = [r for r in stored_rows(conn)
                    if r[2] < r[3] and re.search(rb'":\d+[,}]', bytes(r[4]))]
        new = next(r for r in numbered if r[0] > old_head)
        old = next(r for r in reversed(numbered) if r[0] <= old_head)
        for row in (old, new):
            flip_a_digit(conn, row[0], bytes(row[4]))
        report = verify_store(system.desk, conn, key=system.log_key)
        # the old one's MAC is not checked any more, but its successor's link shows it
        assert [(p.position, p.kind) for p in report.problems] == [
            (old[0], "altered"), (new[0], "altered")]
        assert "MAC does not match" in report.problems[1].reason
        assert "no longer matches the hash" in report.problems[0].reason
    finally:
        system.close()


def test_r_aud_3_a_removed_key_record_stops_writers_and_is_a_finding(settings):
    system = relayed_system(settings, seed=22, customers=2)
    system.connect().execute("DELETE FROM log_key")
    system.close()
    system = bootstrap(settings)
    try:
        step = Workload(23, 1, 1, prefix="x-").build()[0]
        with pytest.raises(LogKeyError, match="the store's key record is missing"):
            system.desk.execute(step.do, step.args, step.at)
        report = verify_store(system.desk, system.connect(), key=system.log_key)
        assert [(p.position, p.event_id, p.kind) for p in report.problems] == [
            (0, None, "record")]
        assert "the store's key record is missing, though" in report.first.reason
        assert run_verify(settings).exit_code == 1
    finally:
        system.close()
