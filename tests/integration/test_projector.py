"""The projector on real PostgreSQL and the real broker: every event type folded (or
declared not projected), two members of one group, poison records to the dead-letter
topic and back through `dlq retry`, `supportlog status`, and `supportlog project`
stopping on SIGTERM. Read models are compared with a from-scratch fold of the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import make_conninfo

import domain.desk  # noqa: F401  (fills EVENT_TYPES)
from consumers.dead_letter import DeadLetters, dlq_topic, ensure_dead_letter_topic
from consumers.projector import Projector
from consumers.projector.records import Record
from consumers.relay import Relay
from domain.base import EVENT_TYPES
from domain.desk import SupportDesk
from domain.policy.profile import builtin_profile
from eventlog.envelope import Envelope
from eventlog.kafka_config import ensure_topic, make_consumer, make_producer
from projections.changes import (
    FOLDS,
    NOT_PROJECTED,
    Delete,
    Update,
    Upsert,
    apply_changes,
    changes_for,
    load_folds,
)
from projections.migrate import migrate
from projections.planning import Apply, Incoming, plan_batch
from supportlog.bootstrap import System, bootstrap
from supportlog.cli import main
from supportlog.scenario import ScenarioRunner
from supportlog.settings import Settings
from supportlog.status import collect, render
from tests.conftest import cli_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
SUPPORTLOG = ROOT / ".venv" / "bin" / "supportlog"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
#: Group members in tests use a short session, so the broker notices a departed or
#: killed member in about two seconds instead of six.
FAST_GROUP = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}


# --- a history that produces every event type ------------------------------------------

def _at(day: str, time: str) -> str:
    return f"2026-{day}T{time}+04:00"


def _do(when: str, command: str, **args: Any) -> dict[str, Any]:
    return {"at": when, "do": command, "args": args}


def rich_history() -> list[dict[str, Any]]:
    """Two desks' scenarios that, with their timers, record every event type the
    scenario commands can produce: several customers, each on its own partition key."""
    cs_cart = {"profile": "cs-cart", "steps": [
        _do(_at("04-06", "09:00:00"), "register_customer", customer="c1", email="c1@x.example"),
        _do(_at("04-06", "09:10:00"), "buy_license", customer="c1", license="L1",
            product="cs-cart", domain="one.example"),
        _do(_at("04-06", "10:00:00"), "open_ticket", customer="c1", ticket="t1",
            department="technical", channel="helpdesk", subject="Checkout fails"),
        _do(_at("04-06", "11:00:00"), "register_customer", customer="c2"),
        _do(_at("04-06", "11:01:00"), "start_subscription", customer="c2", subscription="s2",
            plan="plus", term="month"),
        _do(_at("04-06", "11:02:00"), "change_plan", subscription="s2", plan="ultimate"),
        _do(_at("04-06", "11:03:00"), "open_ticket", customer="c2", ticket="t2",
            department="technical", channel="email", subject="Layout"),
        _do(_at("04-07", "12:00:00"), "agent_reply", ticket="t2", agent="a1"),
        _do(_at("04-08", "10:00:00"), "agent_reply", ticket="t1", agent="a1"),
        # a customer whose personal data is erased on request (R-PRV-1)
        _do(_at("04-08", "11:00:00"), "register_customer", customer="e1", name="Eve Erased",
            email="e1@x.example"),
        _do(_at("04-08", "11:30:00"), "erase_customer", customer="e1", by="dpo",
            reason="request 1"),
    ]}
    day = "05-04"
    ticket = {"department": "technical", "channel": "helpdesk"}
    cart_power = {"profile": "cart-power", "steps": [
        *[_do(_at(day, f"09:00:{n}0"), "register_customer", customer=f"k{n}",
              email=f"k{n}@x.example") for n in (1, 2, 3, 4)],
        _do(_at(day, "09:01:00"), "purchase_credits", customer="k1", purchase="p1",
            package=160),
        _do(_at(day, "09:02:00"), "grant_addon_credits", customer="k1", addon="ad1", paid=True),
        _do(_at(day, "09:03:00"), "buy_package", customer="k2", purchase="pk1",
            package="incident"),
        _do(_at(day, "09:04:00"), "start_subscription", customer="k3", subscription="ks1",
            plan="premium", term="1m", domain="three.example"),
        _do(_at(day, "09:05:00"), "open_ticket", customer="k1", ticket="kt1",
            subject="Checkout fails", **ticket),
        _do(_at(day, "10:00:00"), "log_work", ticket="kt1", agent="a1", minutes=20,
            kind="investigation", classification="third_party_addon"),
        _do(_at(day, "10:05:00"), "notify_customer", ticket="kt1", agent="a1",
            notice="charge_over_40"),
        _do(_at(day, "10:10:00"), "log_work", ticket="kt1", agent="a1", minutes=15,
            kind="modification"),
        _do(_at(day, "10:20:00"), "open_ticket", customer="k2", ticket="kt2",
            department="technical", channel="email", subject="Slow admin"),
        _do(_at(day, "10:30:00"), "log_work", ticket="kt2", agent="a2", minutes=30,
            kind="investigation"),
        _do(_at(day, "10:40:00"), "agent_reply", ticket="kt2", agent="a2",
            waiting_on_customer=True),
        _do(_at(day, "11:00:00"), "customer_reply", ticket="kt2"),
        _do(_at(day, "11:10:00"), "solve_ticket", ticket="kt2", agent="a2"),
        _do(_at(day, "11:20:00"), "open_ticket", customer="k1", ticket="kt3",
            subject="Hosting", **ticket),
        _do(_at(day, "11:21:00"), "decline_ticket", ticket="kt3", agent="a1",
            reason="hosting_requirements"),
        _do(_at(day, "11:30:00"), "open_ticket", customer="k1", ticket="kt4",
            subject="New feature", **ticket),
        _do(_at(day, "11:31:00"), "forward_ticket", ticket="kt4", agent="a1",
            to="custom_development", estimate_hours=6),
        *[_do(_at(day, f"12:0{n}:00"), "open_ticket", customer="k1", ticket=f"kt{n + 5}",
              subject="Again", **ticket) for n in (0, 1, 2)],
        *[_do(_at(day, f"12:1{n}:00"), "mark_duplicate", ticket=f"kt{n + 5}", of="kt1")
          for n in (0, 1, 2)],
        _do(_at(day, "12:20:00"), "ban", customer="k1", agent="a9", reason="spam"),
        _do(_at(day, "12:30:00"), "lift_ban", customer="k1", agent="a9"),
        _do(_at(day, "12:40:00"), "ban", customer="k2", agent="a9", reason="rudeness",
            until=_at("05-06", "12:40:00")),
        _do(_at(day, "13:00:00"), "open_dispute", customer="k1", dispute="kd1",
            charge="kt1/1"),
        _do(_at(day, "13:10:00"), "resolve_dispute", dispute="kd1", agent="m1",
            outcome="upheld", reason="wrong classification"),
        _do(_at(day, "13:20:00"), "open_dispute", customer="k1", dispute="kd2",
            charge="kt1/2"),
        _do(_at(day, "14:00:00"), "open_ticket", customer="k4", ticket="kt8",
            subject="Broken", **ticket),
        _do(_at(day, "14:10:00"), "log_work", ticket="kt8", agent="a1", minutes=30,
            kind="investigation"),
        _do(_at(day, "14:20:00"), "open_ticket", customer="k4", ticket="kt9",
            subject="Still broken", **ticket),
        _do(_at(day, "14:30:00"), "purchase_credits", customer="k4", purchase="p4",
            package=80),
        _do(_at(day, "15:00:00"), "cancel_subscription", subscription="ks1"),
        {"at": _at("06-10", "09:00:00"), "expect": {"banned": {"k2": False}}},
        _do(_at("06-10", "09:30:00"), "ban", customer="k3", agent="a9", reason="false_data"),
    ]}
    return [cs_cart, cart_power]


def play(system: System, scenarios: list[dict[str, Any]]) -> ScenarioRunner:
    """Plays `scenarios` through the whole pipeline; fails on any failed step."""
    runner = ScenarioRunner(system)
    for scenario in scenarios:
        report = runner.run(scenario)
        assert report.failures == []
    runner.pipeline.sync()
    return runner


# --- databases, the whole log, and table comparison -------------------------------------

@contextlib.contextmanager
def fresh_database(database_url: str, label: str = "fold") -> Iterator[str]:
    """A migrated database of its own on the same server, dropped afterwards."""
    name = f"{label}_{uuid.uuid4().hex[:12]}"
    admin = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(database_url, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def store_envelopes(desk: SupportDesk) -> list[Envelope]:
    """Returns every stored event as its envelope, in store order."""
    out: list[Envelope] = []
    position = 0
    while True:
        page = desk.recorder.select_notifications(position, 1000, inclusive_of_start=False)
        if not page:
            return out
        for n in page:
            out.append(Envelope.from_event(desk.mapper.to_domain_event(n), n.id))
        position = page[-1].id


def fold_from_scratch(envelopes: list[Envelope], database_url: str) -> set[str]:
    """Folds `envelopes` into the (fresh) database with the projector's own planning and
    the same fold functions, in one transaction; returns the tables written."""
    items = [Incoming(Record("store", 0, e.position, None, b""), e) for e in envelopes]
    steps = plan_batch(items, {}, {})
    assert all(isinstance(s, Apply) for s in steps), "the store holds an unfoldable event"
    changes = [c for s in steps if isinstance(s, Apply) for c in s.changes]
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        apply_changes(cur, changes)
    return {c.table for c in changes}


def table_rows(conn: psycopg.Connection, table: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
    return sorted(rows, key=repr)


def differing_tables(url_a: str, url_b: str, tables: set[str]) -> dict[str, str]:
    """Returns, per table whose rows differ between the two databases, a short diff."""
    out = {}
    with psycopg.connect(url_a, autocommit=True) as a, \
            psycopg.connect(url_b, autocommit=True) as b:
        for table in sorted(tables):
            rows_a, rows_b = table_rows(a, table), table_rows(b, table)
            if rows_a != rows_b:
                only_a = [r for r in rows_a if r not in rows_b][:3]
                only_b = [r for r in rows_b if r not in rows_a][:3]
                out[table] = f"{len(rows_a)} vs {len(rows_b)} rows; only in a {only_a}; " \
                             f"only in b {only_b}"
    return out


def projected_through(conn: psycopg.Connection, group: str, topic: str,
                      produced: dict[int, int]) -> bool:
    """True when the group's stored offsets reach `produced` in every partition."""
    stored = dict(conn.execute(
        "SELECT partition, next_offset FROM projector_offsets WHERE group_id = %s "
        "AND topic = %s", (group, topic)).fetchall())
    return all(stored.get(p, 0) >= o for p, o in produced.items())


def produced_offsets(conn: psycopg.Connection, topic: str) -> dict[int, int]:
    return dict(conn.execute("SELECT partition, next_offset FROM relay_partition_offsets "
                             "WHERE topic = %s", (topic,)).fetchall())




# --- fold coverage -------------------------------------------------------------------

def test_every_event_type_has_a_fold_or_a_reason_not_to_be_projected():
    load_folds()
    missing = sorted(t for t in EVENT_TYPES if t not in FOLDS and t not in NOT_PROJECTED)
    assert missing == [], f"event types with neither a fold nor a reason: {missing}"
    assert set(FOLDS).isdisjoint(NOT_PROJECTED)
    assert set(FOLDS) | set(NOT_PROJECTED) <= set(EVENT_TYPES), "a fold for no event type"
    assert all(len(reason) > 20 for reason in NOT_PROJECTED.values())


@contextlib.contextmanager
def played_history(servers: tuple[str, str], home: Path
                   ) -> Iterator[tuple[System, psycopg.Connection]]:
    """The rich history played through the pipeline on a database of its own."""
    admin_url, bootstrap_servers = servers
    name = uuid.uuid4().hex[:12]
    with fresh_database(admin_url, "history") as url:
        system = bootstrap(Settings(
            database_url=url, kafka_bootstrap=bootstrap_servers, home=home,
            topic=f"events-{name}", partitions=4, group_id=f"group-{name}"))
        try:
            play(system, rich_history())
            yield system, system.connect()
        finally:
            system.close()


@pytest.fixture(scope="module")
def history(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[System, psycopg.Connection]]:
    """The rich history played once, for this module's read-only tests."""
    with played_history(servers, tmp_path_factory.mktemp("history")) as played:
        yield played


def test_every_folded_event_type_of_the_history_changes_rows(history):
    system, _ = history
    seen: dict[str, int] = {}
    for envelope in store_envelopes(system.desk):
        seen[envelope.type] = seen.get(envelope.type, 0) + len(changes_for(envelope))
    unfolded = sorted(t for t in FOLDS if seen.get(t, 0) == 0)
    assert unfolded == [], f"folded types the history never changed rows for: {unfolded}"


def test_the_live_read_models_equal_a_fold_of_the_whole_store(history):
    system, conn = history
    envelopes = store_envelopes(system.desk)
    with fresh_database(system.database_url) as url:
        tables = fold_from_scratch(envelopes, url)
        assert differing_tables(system.database_url, url, tables) == {}
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_r_sla_5_a_breach_keeps_its_target_due_time_calendar_version_and_clock_mode(history):
    _, conn = history
    rows = conn.execute(
        "SELECT ticket, target, due_at, calendar_id, calendar_version, clock_mode "
        "FROM sla_breaches ORDER BY ticket").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("t1", "48 h"), ("t2", "4 h")]
    assert rows[1][2] == datetime(2026, 4, 6, 11, 3, tzinfo=UTC)
    assert all(r[3] and r[4] == 1 and r[5] == "calendar_excluding_non_working_days"
               for r in rows)
    states = dict(conn.execute("SELECT ticket, state FROM analytics.sla_clocks").fetchall())
    assert states == {"t1": "breached", "t2": "breached"}


def test_r_crd_7_a_modification_charge_is_held_then_captured(history):
    _, conn = history
    assert conn.execute("SELECT charge_id, customer, reserved, captured, released, status "
                        "FROM holds").fetchall() == [("kt1/2", "k1", 10, 10, 0, "captured")]


def test_r_qta_every_month_keeps_its_request_and_modification_counters(history):
    _, conn = history
    months = conn.execute("SELECT customer, month, requests_used, modifications_used "
                          "FROM quota_months WHERE customer IN ('c1', 'k1') "
                          "ORDER BY customer, month").fetchall()
    # c1's licence period ended in May, which set May's allowance and so June's rollover
    # (R-QTA-1, R-QTA-3): a month with no activity still starts at zero.
    assert months == [("c1", "2026-04", 1, 0), ("c1", "2026-05", 0, 0),
                      ("c1", "2026-06", 0, 0), ("k1", "2026-05", 6, 1),
                      ("k1", "2026-06", 0, 0)]
    # the scenario checks' table keeps only the current month
    assert conn.execute("SELECT month, requests_used FROM quotas WHERE customer = 'k1'"
                        ).fetchone() == ("2026-06", 0)


def test_licences_subscriptions_packages_and_domains_follow_their_lifecycle(history):
    system, conn = history
    assert conn.execute("SELECT customer, license, product, period_ended FROM licenses"
                        ).fetchall() == [("c1", "L1", "cs-cart", True)]
    assert conn.execute("SELECT subscription, plan, status, cancelled_at IS NOT NULL "
                        "FROM subscriptions ORDER BY subscription").fetchall() == [
        ("ks1", "premium", "expired", True), ("s2", "ultimate", "expired", False)]
    assert conn.execute("SELECT purchase, ticket FROM packages").fetchall() == [
        ("pk1", "kt2")]
    # a domain is held sealed (R-PRV-1): its reader reveals it, and its ref names it
    claims = conn.execute("SELECT customer, domain, domain_ref FROM domains "
                          "ORDER BY customer").fetchall()
    assert [(customer, system.personal.reveal(customer, "domain.claimed", "domain", sealed),
             ref == system.personal.ref(text))
            for (customer, sealed, ref), text in zip(
                claims, ("one.example", "three.example"), strict=True)] == [
        ("c1", "one.example", True), ("k3", "three.example", True)]


# --- apply_changes against the plain, one-statement-per-change reference ---------------

_CONTRACT_TABLE = """CREATE TABLE {} (
    k text, n integer, a text, b integer, c timestamptz, d jsonb, e boolean,
    PRIMARY KEY (k, n))"""


def _one_by_one(cur: psycopg.Cursor, table: str, change: Any) -> None:
    """The reference: each change as its own statement, in order."""
    ident = sql.Identifier(table)
    where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k))
                                  for k in change.key)
    values = {k: orjson.dumps(v).decode() if isinstance(v, dict) else v
              for k, v in getattr(change, "values", {}).items()}
    if isinstance(change, Delete):
        cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(ident, where),
                    list(change.key.values()))
    elif isinstance(change, Update):
        if values:
            sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                                      for c in values)
            cur.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(ident, sets, where),
                        [*values.values(), *change.key.values()])
    else:
        columns = [*change.key, *values]
        action = sql.SQL("NOTHING") if not values else sql.SQL("UPDATE SET {}").format(
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                               for c in values))
        cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (k, n) DO {}").format(
            ident, sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)), action),
            [*change.key.values(), *values.values()])


def _random_changes(rng: random.Random, count: int) -> list[Any]:
    makers = {"a": lambda: rng.choice(["x", "y", "it's, {odd}", None]),
              "b": lambda: rng.choice([0, 7, -3, 2**31 - 1, None]),
              "c": lambda: rng.choice(["2026-05-04T09:00:00Z", "2026-05-04T12:30:00+04:00",
                                       None]),
              "d": lambda: rng.choice([{"x": 1}, {"y": [1, 2]}, None]),
              "e": lambda: rng.choice([True, False, None])}
    out: list[Any] = []
    for _ in range(count):
        key = {"k": rng.choice(["r1", "r2", "r3"]), "n": rng.choice([1, 2])}
        columns = rng.sample(sorted(makers), rng.randrange(0, 4))
        values = {c: makers[c]() for c in columns}
        kind = rng.choice([Upsert, Upsert, Update, Update, Delete])
        out.append(Delete("t", key) if kind is Delete else kind("t", key, values))
    return out


def test_apply_changes_has_the_effect_of_applying_each_change_in_order(settings):
    """Contract: collapsing, grouping and multi-row statements never change the result
    of a change sequence, whatever its mix of upserts, updates and deletes per row."""
    rng = random.Random(6)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for table in ("grouped", "reference"):
            conn.execute(sql.SQL(_CONTRACT_TABLE).format(sql.Identifier(table)))
        for _ in range(60):
            changes = _random_changes(rng, rng.randrange(1, 40))
            with conn.transaction(), conn.cursor() as cur:
                apply_changes(cur, [replace(c, table="grouped") for c in changes])
                for change in changes:
                    _one_by_one(cur, "reference", change)
            assert table_rows(conn, "grouped") == table_rows(conn, "reference"), changes


# --- two members of one group --------------------------------------------------------

class GroupMember:
    """One projector of a group, polling on its own thread with its own connection."""

    def __init__(self, url: str, bootstrap_servers: str, topic: str, group: str):
        self.conn = psycopg.connect(url, autocommit=True)
        self.consumer = make_consumer(bootstrap_servers, group_id=group, **FAST_GROUP)
        self.projector = Projector(self.conn, self.consumer, topic, group)
        self.projector.subscribe()
        self.applied = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            result = self.projector.poll_once(100)
            self.applied += result.applied

    def leave(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.consumer.close()  # leaves the group: the others rebalance at once
        self.conn.close()


def test_two_projectors_in_one_group_split_the_partitions_and_fold_what_one_folds(settings):
    """Both members fold part of the log, one leaves mid-way, and the rows equal the
    single projector's (the scenario pipeline's) row for row."""
    system = bootstrap(settings)
    members: list[GroupMember] = []
    try:
        play(system, rich_history())
        topic = f"{settings.topic}.group"
        ensure_topic(system.kafka_bootstrap, topic, settings.partitions)
        relay = Relay(system.desk, system.connect(), make_producer(system.kafka_bootstrap),
                      topic, batch_size=40)
        conn = system.connect()
        with fresh_database(system.database_url, "group") as url:
            members = [GroupMember(url, system.kafka_bootstrap, topic, "two")
                       for _ in range(2)]
            wait_for(lambda: all(m.projector.assigned for m in members)
                     and set.union(*(m.projector.assigned for m in members)) == {0, 1, 2, 3},
                     timeout_s=30, what="both members to get partitions")
            assert members[0].projector.assigned.isdisjoint(members[1].projector.assigned)
            relay.pump_once()
            with psycopg.connect(url, autocommit=True) as check:
                # a member counts what it applied just after the commit: wait for both
                wait_for(lambda: projected_through(check, "two", topic,
                                                   produced_offsets(conn, topic))
                         and all(m.applied > 0 for m in members),
                         timeout_s=30, what="the first batch to be projected by both")
                members[1].leave()
                wait_for(lambda: members[0].projector.assigned == {0, 1, 2, 3},
                         timeout_s=30, what="the survivor to take every partition")
                before = members[0].applied
                relay.pump()
                wait_for(lambda: projected_through(check, "two", topic,
                                                   produced_offsets(conn, topic))
                         and members[0].applied > before,
                         timeout_s=30, what="the survivor to project the rest")
            tables = {c.table for e in store_envelopes(system.desk) for c in changes_for(e)}
            assert differing_tables(system.database_url, url, tables) == {}
            members[0].leave()
    finally:
        for m in members:
            if not m.stop.is_set():
                m.leave()
        system.close()


# --- poison records ------------------------------------------------------------------

def _run_cli(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=cli_env(settings))


def _project_until_caught_up(projector: Projector) -> None:
    wait_for(lambda: projector.poll_once(50) is not None and projector.lag() == 0,
             timeout_s=20, what="the projector to catch up")


def _desk(system: System) -> SupportDesk:
    system.desk.adopt(builtin_profile("cart-power"), NOW)
    return system.desk


def test_a_malformed_record_is_quarantined_and_dead_lettered_and_folding_goes_on(settings):
    system = bootstrap(settings)
    try:
        desk = _desk(system)
        desk.execute("register_customer", {"customer": "c1"}, NOW)
        relay = system.relay()
        relay.pump()
        producer = make_producer(system.kafka_bootstrap)
        producer.send(settings.topic, key=b"c1", value=b'{"type": "credit.purc',
                      headers=[("ce_type", b"credit.purchased")]).get(timeout=10)
        desk.execute("purchase_credits", {"customer": "c1", "purchase": "p1", "package": 80},
                     NOW + timedelta(minutes=1))
        relay.pump()
        ensure_dead_letter_topic(system.kafka_bootstrap, settings.topic)
        projector = system.projector()
        projector.dead_letters = DeadLetters(system.connect(), producer, settings.topic)
        _project_until_caught_up(projector)

        conn = system.connect()
        assert conn.execute("SELECT credits FROM balances WHERE customer = 'c1'"
                            ).fetchone() == (80,)
        row = conn.execute("SELECT event_type, reason, dead_lettered_at IS NOT NULL, retried "
                           "FROM quarantine").fetchone()
        assert row[0] == "credit.purchased" and row[1].startswith("malformed envelope")
        assert row[2:] == (True, False)

        dead = make_consumer(system.kafka_bootstrap)
        from kafka import TopicPartition

        tp = TopicPartition(dlq_topic(settings.topic), 0)
        dead.assign([tp])
        dead.seek_to_beginning(tp)
        records = wait_for(lambda: dead.poll(200).get(tp), what="the dead letter")
        headers = dict(records[0].headers)
        assert records[0].value == b'{"type": "credit.purc'
        assert headers["dlq_error"].startswith(b"malformed envelope")
        assert headers["dlq_topic"] == settings.topic.encode()
        assert headers["ce_type"] == b"credit.purchased"
        dead.close()

        listed = _run_cli(settings, "dlq", "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert [r["event_type"] for r in json.loads(listed.output)] == ["credit.purchased"]
        retried = _run_cli(settings, "dlq", "retry")
        assert retried.exit_code == 1 and "still failing 1" in retried.output
        producer.close()
    finally:
        system.close()


def test_a_fold_that_raises_parks_its_aggregate_until_dlq_retry_folds_it_in_order(
        settings, monkeypatch):
    """The first purchase's fold raises: it and the customer's next purchase wait in
    quarantine while another customer's purchase folds; once the fold is fixed,
    `dlq retry` folds both in order and the customer's later events fold again."""
    load_folds()
    broken = {"on": True}

    def fragile(envelope: Any) -> list:
        if broken["on"] and envelope.data["purchase"] == "p1":
            raise RuntimeError("simulated fold bug")
        return []

    monkeypatch.setitem(FOLDS, "credit.purchased", [*FOLDS["credit.purchased"], fragile])
    system = bootstrap(settings)
    try:
        desk = _desk(system)
        for n, (command, args) in enumerate([
                ("register_customer", {"customer": "c1"}),
                ("register_customer", {"customer": "c2"}),
                ("purchase_credits", {"customer": "c1", "purchase": "p1", "package": 80}),
                ("purchase_credits", {"customer": "c1", "purchase": "p2", "package": 160}),
                ("purchase_credits", {"customer": "c2", "purchase": "p3", "package": 80})]):
            desk.execute(command, args, NOW + timedelta(minutes=n))
        relay = system.relay()
        relay.pump()
        projector = system.projector()
        _project_until_caught_up(projector)
        conn = system.connect()
        balances = dict(conn.execute("SELECT customer, credits FROM balances").fetchall())
        assert balances == {"c1": 0, "c2": 80}
        reasons = [r for (r,) in conn.execute(
            "SELECT reason FROM quarantine ORDER BY aggregate_version")]
        assert reasons[0] == "fold failed: RuntimeError: simulated fold bug"
        assert reasons[1].startswith("parked: an earlier event of aggregate")

        assert "folded 0" in _run_cli(settings, "dlq", "retry").output  # not fixed yet
        broken["on"] = False
        result = _run_cli(settings, "dlq", "retry", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"folded": 2, "already_applied": 0,
                                             "still_failing": []}
        assert conn.execute("SELECT credits FROM balances WHERE customer = 'c1'"
                            ).fetchone() == (240,)
        assert conn.execute("SELECT count(*) FROM quarantine WHERE NOT retried"
                            ).fetchone() == (0,)

        desk.execute("purchase_credits", {"customer": "c1", "purchase": "p4", "package": 80},
                     NOW + timedelta(minutes=9))
        relay.pump()
        _project_until_caught_up(projector)
        assert conn.execute("SELECT credits FROM balances WHERE customer = 'c1'"
                            ).fetchone() == (320,)
        ledger = [c for (c,) in conn.execute(
            "SELECT cause FROM ledger WHERE customer = 'c1' ORDER BY at")]
        assert ledger == ["p1", "p2", "p4"]
    finally:
        system.close()


def _envelope(**overrides: Any) -> Envelope:
    base = dict(id=str(uuid.uuid4()), type="customer.registered", schema_version=1,
                time="2026-05-04T09:00:00Z", customer="c9", tenant="cart-power", ref="c9",
                aggregate_id=str(uuid.uuid4()), aggregate_version=1, position=10_000,
                prev_hash="", hash="", data={"email": None, "name": None, "anonymous": False})
    return Envelope(**{**base, **overrides})


def test_unknown_types_refused_rows_and_bad_stream_ids_are_quarantined_alone(settings):
    system = bootstrap(settings)
    try:
        producer = make_producer(system.kafka_bootstrap)
        refused = _envelope(type="dispute.opened", customer="c9", ref="d9", data={
            "dispute": "d9", "charge_id": None, "due_at": "2026-05-06T09:00:00Z"})
        for envelope in (_envelope(), _envelope(type="ticket.teleported", customer="c9"),
                         refused, _envelope(aggregate_id="not-a-uuid", type="x\x00y"),
                         _envelope(customer="c8", ref="c8")):
            producer.send(settings.topic, key=b"c9", value=envelope.encode())
        producer.flush()
        projector = system.projector()
        conn = system.connect()

        def quarantined() -> list[tuple[str, str]]:
            projector.poll_once(100)
            rows = conn.execute("SELECT event_type, reason FROM quarantine "
                                'ORDER BY "offset"').fetchall()
            customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
            return rows if len(rows) == 3 and customers == 2 else []

        rows = wait_for(quarantined, what="three quarantined records and two customers")
        assert rows[0] == ("ticket.teleported", "unknown event type 'ticket.teleported'")
        assert rows[1][0] == "dispute.opened"
        assert rows[1][1].startswith("fold failed in the database: NotNullViolation")
        assert rows[2][1].startswith("malformed envelope: aggregateid")
        producer.close()
    finally:
        system.close()


# --- status and the long-running command ---------------------------------------------

def test_status_shows_each_group_against_the_store_head_and_the_relay(settings):
    system = bootstrap(settings)
    try:
        desk = _desk(system)
        for n in range(6):
            desk.execute("register_customer", {"customer": f"s{n}"}, NOW)
        relay = system.relay()
        relay.pump()
        projector = system.projector()
        _project_until_caught_up(projector)
        caught_up = collect(settings)
        assert caught_up.healthy, caught_up.to_dict()
        group = caught_up.groups[0]
        assert (group.group_id, group.lag, group.behind_head) == (settings.group_id, 0, 0)
        assert group.applied_through == caught_up.store_head == caught_up.relay_position

        for n in range(3):  # each records the customer and its allowance (R-QTA-1)
            desk.execute("register_customer", {"customer": f"late{n}"}, NOW)
        relay.pump()
        behind = collect(settings)
        assert behind.groups[0].lag == 6
        assert behind.groups[0].applied_through < behind.store_head
        assert behind.store_head == caught_up.store_head + 6
        assert sum(behind.produced.values()) == sum(p.produced for p in behind.groups[0]
                                                    .partitions)
        text = render(behind)
        assert f"group {settings.group_id}: applied through notification" in text
        assert "6 records behind the relay" in text

        result = _run_cli(settings, "status", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["healthy"] and report["quarantine"]["quarantined"] == 0
        assert report["infrastructure"]["postgres"] == "up"
    finally:
        system.close()


def test_status_reports_an_unreachable_database_and_exits_3(settings):
    """README: exit status 3 when a server is unreachable (1 is for a failed check)."""
    down = replace(settings, database_url="postgresql://postgres@127.0.0.1:1/none")
    report = collect(down)
    assert not report.healthy and report.infrastructure["postgres"].startswith("down")
    assert report.unreachable == ["postgres"]
    assert _run_cli(down, "status").exit_code == 3


def test_supportlog_project_folds_in_group_mode_and_stops_on_sigterm(settings):
    """The real command: JSON-lines log, partitions assigned, batches written, and a
    graceful stop that exits 0 with everything it read stored."""
    system = bootstrap(settings)
    process = None
    try:
        desk = _desk(system)
        for n in range(20):
            desk.execute("register_customer", {"customer": f"p{n}"}, NOW)
        system.relay().pump()
        conn = system.connect()
        process = subprocess.Popen(
            [str(SUPPORTLOG), "project", "--session-timeout-ms", "2000"],
            env={**os.environ, **cli_env(settings)}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        wait_for(lambda: projected_through(conn, settings.group_id, settings.topic,
                                           produced_offsets(conn, settings.topic)),
                 timeout_s=30, what="supportlog project to catch up")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        lines = [orjson.loads(line) for line in process.stderr.read().splitlines()]
        messages = [line["message"] for line in lines]
        assert messages[0] == "projector starting" and messages[-1] == "projector stopped"
        assert "partitions assigned" in messages
        written = [line["batch"] for line in lines if line["message"] == "batch written"]
        assert sum(b["applied"] for b in written) == desk.recorder.max_notification_id()
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (20,)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        system.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
