"""R-AUD-3, tamper evidence without holes: every change made through SQL to the stored
events, by someone who can write to the database but does not hold the log key, is
named by `verify` at its exact position with its event id, whether or not the relay has
read it yet; and what stays undetectable is exactly the documented window
(docs/tamper-evidence.md)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from domain.policy.profile import builtin_profile
from domain.tenant import Tenant
from eventlog.log_chain import START, chain_over
from replay.verify import VerifyReport, verify_store
from supportlog.bootstrap import bootstrap
from supportlog.workload import START as WORKLOAD_START
from tests.crash.relay_process import fill_store
from tests.integration.test_verify import EVENTS_TABLE, ident, relayed_system, stored_rows


def report_of(system, **kwargs: Any) -> VerifyReport:
    return verify_store(system.desk, system.connect(), key=system.log_key, **kwargs)


def findings(report: VerifyReport) -> list[tuple[int, str | None, str]]:
    return [(p.position, p.event_id, p.kind) for p in report.problems]


def edit_state(conn: psycopg.Connection, position: int,
               change: Callable[[dict], None]) -> None:
    """Rewrites a stored event's JSON state through SQL, as a writer of the database
    could, keeping whatever MAC it had."""
    state = orjson.loads(bytes(conn.execute(
        f"SELECT state FROM {EVENTS_TABLE} WHERE notification_id = %s",
        (position,)).fetchone()[0]))
    change(state)
    conn.execute(f"UPDATE {EVENTS_TABLE} SET state = %s WHERE notification_id = %s",
                 (orjson.dumps(state), position))


def forge_tenant(state: dict) -> None:
    state["tenant"] = state["tenant"] + "-forged"


def delete(conn: psycopg.Connection, *positions: int) -> None:
    conn.execute(f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = ANY(%s)",
                 (list(positions),))


def add_late_events(system) -> int:
    """Stores more activity that no relay reads; returns the relayed position."""
    relayed = system.desk.recorder.max_notification_id()
    fill_store(system, seed=31, customers=2, days=1, prefix="late-")
    return relayed


# --- altered ----------------------------------------------------------------------------


def test_r_aud_3_an_altered_last_event_of_a_stream_is_named_exactly(settings):
    system = relayed_system(settings, seed=3)
    try:
        conn = system.connect()
        rows = stored_rows(conn)
        position, aggregate, version, _, _ = next(
            r for r in rows[len(rows) // 3:] if r[2] == r[3] and r[2] > 1)
        edit_state(conn, position, forge_tenant)
        report = report_of(system)
        assert findings(report) == [(position, ident(aggregate, version), "altered")]
        assert "MAC does not match" in report.first.reason
    finally:
        system.close()


def test_r_aud_3_an_altered_event_the_relay_has_not_read_is_named_exactly(settings):
    system = relayed_system(settings, seed=11)
    try:
        relayed = add_late_events(system)
        conn = system.connect()
        position, aggregate, version, _, _ = next(
            r for r in stored_rows(conn) if r[0] > relayed and r[2] == r[3] and r[2] > 1)
        edit_state(conn, position, forge_tenant)
        report = report_of(system)
        assert findings(report) == [(position, ident(aggregate, version), "altered")]
        assert report.recorded == (1, relayed) and position > relayed
    finally:
        system.close()


def test_r_aud_3_the_altered_newest_event_is_named_exactly(settings):
    system = relayed_system(settings, seed=12)
    try:
        add_late_events(system)
        conn = system.connect()
        position, aggregate, version, _, _ = stored_rows(conn)[-1]
        edit_state(conn, position, forge_tenant)
        assert findings(report_of(system)) == [
            (position, ident(aggregate, version), "altered")]
    finally:
        system.close()


def test_r_aud_3_two_events_with_swapped_payloads_are_both_named(settings):
    system = relayed_system(settings, seed=13)
    try:
        add_late_events(system)
        conn = system.connect()
        first, second = conn.execute(
            f"SELECT a.notification_id, b.notification_id FROM {EVENTS_TABLE} a JOIN "
            f"{EVENTS_TABLE} b ON a.topic = b.topic AND a.originator_id <> b.originator_id "
            "AND a.notification_id < b.notification_id ORDER BY b.notification_id DESC "
            "LIMIT 1").fetchone()
        conn.execute(
            f"UPDATE {EVENTS_TABLE} t SET state = s.state FROM (SELECT notification_id, "
            f"state FROM {EVENTS_TABLE} WHERE notification_id IN (%s, %s)) s WHERE "
            "t.notification_id IN (%s, %s) AND s.notification_id <> t.notification_id",
            (first, second, first, second))
        rows = {r[0]: r for r in stored_rows(conn)}
        assert findings(report_of(system)) == [
            (p, ident(rows[p][1], rows[p][2]), "altered") for p in (first, second)]
    finally:
        system.close()


def test_r_aud_3_a_re_hashed_forgery_passes_every_hash_but_not_its_mac(settings):
    """The forger rewrites an event, re-links every later version of its stream to the
    new hashes and recomputes the relay's chain and checkpoints: every hash and link
    holds, and only what needs the key (the MACs, the relay's keyed record) shows it."""
    system = relayed_system(settings, seed=14)
    try:
        conn = system.connect()
        rows = stored_rows(conn)
        forged, aggregate, version, last, _ = next(
            r for r in rows[len(rows) // 3:] if r[3] - r[2] >= 2 and r[2] > 1)
        stream = [r[0] for r in rows if r[1] == aggregate and r[2] >= version]
        edit_state(conn, forged, forge_tenant)
        for before, after in itertools.pairwise(stream):
            new_hash = decoded(system, before).hash
            edit_state(conn, after, lambda state, h=new_hash: state.update(prev_hash=h))
        recompute_log_chain(system, conn)
        assert verify_store(system.desk, conn).ok  # without the key: a consistent log
        assert findings(report_of(system)) == [
            (p, ident(aggregate, v), "altered")
            for p, v in zip(stream, range(version, last + 1), strict=True)]
    finally:
        system.close()


def decoded(system, position: int) -> Any:
    notification, = system.desk.recorder.select_notifications(position, 1)
    return system.desk.mapper.to_domain_event(notification)


def recompute_log_chain(system, conn: psycopg.Connection) -> None:
    """What a writer of the database can redo without the key: the relay's chain head
    and checkpoints, from the store as it now stands."""
    notifications = system.desk.recorder.select_notifications(0, 100_000,
                                                             inclusive_of_start=False)
    states, chain = {}, START
    for n in notifications:
        chain = chain_over(chain, [(n.id, system.desk.mapper.to_domain_event(n).hash)])
        states[n.id] = chain
    for table in ("log_chain_head", "log_chain_checkpoints"):
        for (position,) in conn.execute(f"SELECT position FROM {table}").fetchall():
            conn.execute(f"UPDATE {table} SET log_hash = %s, events = %s WHERE position "
                         "= %s", (states[position].log_hash, states[position].events,
                                  position))


# --- removed ----------------------------------------------------------------------------


def test_r_aud_3_an_event_removed_mid_stream_is_named_at_its_position(settings):
    system = relayed_system(settings, seed=5)
    try:
        conn = system.connect()
        rows = stored_rows(conn)
        position, aggregate, version, _, _ = next(
            r for r in rows[len(rows) // 3:] if r[2] < r[3] and r[2] > 1)
        delete(conn, position)
        report = report_of(system)
        assert findings(report) == [(position, ident(aggregate, version), "removed")]
        assert f"version {version} of aggregate {aggregate} is missing" in \
            report.first.reason
    finally:
        system.close()


def test_r_aud_3_an_unrelayed_event_removed_mid_stream_is_named_at_its_position(settings):
    system = relayed_system(settings, seed=15)
    try:
        relayed = add_late_events(system)
        conn = system.connect()
        position, aggregate, version, _, _ = next(
            r for r in stored_rows(conn) if r[0] > relayed and 1 < r[2] < r[3])
        delete(conn, position)
        report = report_of(system)
        assert findings(report) == [(position, ident(aggregate, version), "removed")]
        assert "it stood here, at the only vacant position" in report.first.reason
    finally:
        system.close()


def only_event_of_a_stream(rows: list) -> tuple:
    """A stored row that is its aggregate's only event, from the middle of the log."""
    singles = [r for r in rows if r[3] == 1 and len(rows) // 4 < r[0] < len(rows) * 3 // 4]
    return singles[len(singles) // 2]


def test_r_aud_3_a_streams_only_event_removed_is_named_with_its_id(settings):
    system = relayed_system(settings, seed=16)
    try:
        conn = system.connect()
        rows = stored_rows(conn)
        position, aggregate, _, _, _ = only_event_of_a_stream(rows)
        delete(conn, position)
        report = report_of(system)
        assert findings(report) == [(position, ident(aggregate, 1), "removed")]
        assert "the relay read this event at this position" in report.first.reason
    finally:
        system.close()


def test_r_aud_3_a_removed_tail_of_the_log_is_named_event_by_event(settings):
    system = relayed_system(settings, seed=7)
    try:
        conn = system.connect()
        tail = stored_rows(conn)[-3:]
        delete(conn, *(r[0] for r in tail))
        assert findings(report_of(system)) == [
            (r[0], ident(r[1], r[2]), "removed") for r in tail]
    finally:
        system.close()


def test_r_aud_3_removing_the_relays_record_too_is_seen(settings):
    """A stream's only event removed, the relay's chain recomputed, and the relay's
    keyed record of that stretch deleted (it cannot be re-signed): the hole shows."""
    system = relayed_system(settings, seed=17)
    try:
        conn = system.connect()
        rows = stored_rows(conn)
        position = only_event_of_a_stream(rows)[0]
        delete(conn, position)
        after, last = conn.execute("SELECT after, last FROM log_chain_links WHERE "
                                   "after < %s AND last >= %s", (position, position)
                                   ).fetchone()
        conn.execute("DELETE FROM log_chain_links WHERE after = %s", (after,))
        recompute_log_chain(system, conn)
        assert findings(report_of(system)) == [(after + 1, None, "record")]
        assert f"positions {after + 1} to {last} is missing" in \
            report_of(system).first.reason
    finally:
        system.close()


# --- what a lost race leaves, and the documented window ---------------------------------


def test_r_aud_3_a_lost_write_race_leaves_a_vacant_position_that_is_no_finding(settings):
    """The recorder's table lock orders inserts, but an insert that loses the race on a
    stream's version still draws its notification id: a vacancy in an intact log. Next
    to it, a removed unrelayed event can only be placed among the candidates."""
    system = bootstrap(settings)
    try:
        desk = system.desk
        desk.adopt(builtin_profile("cs-cart"), WORKLOAD_START)
        racing = [desk.repository.get(Tenant.id_for("cs-cart")) for _ in range(2)]
        for n, tenant in enumerate(racing):
            tenant.record(Tenant.ProfileAdopted, now=WORKLOAD_START + timedelta(days=1),
                          profile_id="cs-cart", version=2, digest=f"d{n}", profile={})
        desk.save(racing[0])
        with pytest.raises(IntegrityError):
            desk.save(racing[1])
        desk.adopt(builtin_profile("insales"), WORKLOAD_START)
        conn = system.connect()
        positions = [r[0] for r in stored_rows(conn)]
        assert positions == [1, 2, 3, 5, 6]
        report = report_of(system)
        assert report.ok and report.vacant == 1
        winner = desk.repository.get(Tenant.id_for("cs-cart"))
        winner.record(Tenant.ProfileAdopted, now=WORKLOAD_START + timedelta(days=2),
                      profile_id="cs-cart", version=3, digest="d3", profile={})
        desk.save(winner)
        delete(conn, 3)
        problem, = report_of(system).problems
        assert (problem.position, problem.event_id, problem.kind) == (
            3, ident(str(Tenant.id_for("cs-cart")), 3), "removed")
        assert "at one of the vacant positions 3, 4" in problem.reason
    finally:
        system.close()


def test_r_aud_3_the_newest_events_removed_before_any_relay_read_them_go_unseen(settings):
    """The documented window: an event's MAC proves it, not its neighbours, so the
    newest events, removed before the relay records them, leave a consistent store."""
    system = relayed_system(settings, seed=18)
    try:
        relayed = add_late_events(system)
        conn = system.connect()
        head = stored_rows(conn)[-1][0]
        delete(conn, head)
        assert report_of(system).ok
        system.relay(batch_size=25).pump()  # the relay reads up to the new head
        delete(conn, relayed + 1)
        assert [(p, kind) for p, _, kind in findings(report_of(system))] == [
            (relayed + 1, "removed")]
    finally:
        system.close()
