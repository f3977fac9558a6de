"""R-AUD-2: the state as of a past instant, computed from one customer's streams, equals
what the live read models said at that instant, through the real pipeline."""

from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner

from replay.as_of import customer_as_of
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.scenario import ScenarioRunner


def step(at: str, do: str, **args) -> dict:
    return {"at": f"2026-04-{at}+03:00", "do": do, "args": args}


BEFORE = [
    step("06T10:00:00", "register_customer", customer="c1"),
    step("06T10:01:00", "start_subscription", customer="c1", subscription="s1", plan="site",
         term="month"),
    step("06T10:02:00", "register_customer", customer="c2"),
    step("06T10:05:00", "open_ticket", customer="c1", ticket="t1", department="technical",
         channel="helpdesk", subject="Small changes", category="technical"),
    step("06T11:00:00", "log_work", ticket="t1", agent="a1", minutes=10, kind="modification"),
    step("06T11:10:00", "log_work", ticket="t1", agent="a1", minutes=20, kind="modification"),
    step("06T12:00:00", "open_ticket", customer="c1", ticket="t2", department="technical",
         channel="email", subject="Slow admin", category="technical"),
    step("06T12:30:00", "open_ticket", customer="c2", ticket="t3", department="consultation",
         channel="helpdesk", subject="Which plan?", category="technical"),
    step("07T09:00:00", "agent_reply", ticket="t1", agent="a1", waiting_on_customer=True),
    step("08T13:00:00", "open_dispute", customer="c1", dispute="d1", charge="t1/1"),
    step("09T10:00:00", "ban", customer="c1", agent="a2", reason="rudeness",
         until="2026-04-20T10:00:00+03:00"),
]
INSTANT = datetime.fromisoformat("2026-04-09T10:00:01+03:00")
AFTER = [
    step("10T10:00:00", "lift_ban", customer="c1", agent="a2"),
    step("10T11:00:00", "resolve_dispute", dispute="d1", agent="m1", outcome="rejected",
         reason="paid modification as priced"),
    step("10T12:00:00", "agent_reply", ticket="t2", agent="a1"),
    step("10T12:10:00", "log_work", ticket="t2", agent="a1", minutes=5, kind="modification"),
    step("10T13:00:00", "customer_reply", ticket="t1"),
]


def live_state(conn, customer: str) -> dict:
    """What the live read models say about `customer` now."""
    one = conn.execute
    return {
        "quota": one("SELECT month, requests_used, requests_limit, modifications_used, "
                     "free_used, free_limit FROM quotas WHERE customer = %s",
                     (customer,)).fetchone(),
        "tickets": one("SELECT ticket, status, first_response_due, sla_breached, "
                       "awaiting_payment FROM tickets WHERE customer = %s ORDER BY ticket",
                       (customer,)).fetchall(),
        "banned": bool((one("SELECT banned FROM bans WHERE customer = %s",
                            (customer,)).fetchone() or (False,))[0]),
        "disputes": one("SELECT dispute, status, overdue FROM disputes WHERE customer = %s "
                        "ORDER BY dispute", (customer,)).fetchall(),
        "balance": (one("SELECT credits FROM balances WHERE customer = %s",
                        (customer,)).fetchone() or (None,))[0],
    }


def as_of_state(state) -> dict:
    """The same facts, as computed by `customer_as_of`."""
    q = state.quota
    return {
        "quota": (q["month"], q["requests_used"], q["requests_limit"],
                  q["modifications_used"], q["free_used"], q["free_limit"]),
        "tickets": [(t.ticket, t.status, t.due_at, t.sla == "breached", t.awaiting_payment)
                    for t in sorted(state.tickets, key=lambda t: t.ticket)],
        "banned": state.ban is not None,
        "disputes": [(d["dispute"], d["status"], d["overdue"]) for d in state.disputes],
        "balance": state.balance,
    }


def test_r_aud_2_the_state_as_of_a_past_instant_equals_the_read_models_then(settings):
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        assert runner.run({"profile": "insales", "steps": BEFORE}).failures == []
        runner.pipeline.sync()
        conn = system.connect()
        then = {c: live_state(conn, c) for c in ("c1", "c2")}
        assert runner.run({"profile": "insales", "steps": AFTER}).failures == []
        runner.pipeline.sync()
        now = live_state(conn, "c1")
        computed = {c: customer_as_of(system.desk, c, INSTANT, conn) for c in ("c1", "c2")}
    finally:
        system.close()
    assert now != then["c1"]  # the later steps changed the live state
    for customer in ("c1", "c2"):
        assert as_of_state(computed[customer]) == then[customer]
    c1 = computed["c1"]
    assert [t.sla for t in c1.tickets] == ["met", "breached"]
    assert c1.ban is not None and c1.ban["by_agent"] == "a2"
    assert c1.disputes[0]["status"] == "open" and c1.disputes[0]["overdue"] is False
    assert [s["plan"] for s in c1.subscriptions] == ["site"]


def test_r_aud_2_as_of_reads_only_the_customers_own_streams(settings):
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        assert runner.run({"profile": "insales", "steps": BEFORE + AFTER}).failures == []
        runner.pipeline.sync()
        read: list = []
        get = system.desk.events.get

        def recording_get(aggregate_id, **kwargs):
            read.append(aggregate_id)
            return get(aggregate_id, **kwargs)

        system.desk.events.get = recording_get  # observe which streams are read
        customer_as_of(system.desk, "c1", INSTANT, system.connect())
        system.desk.events.get = get
        owners = {e.customer for a in read for e in list(get(a))[:1]}
    finally:
        system.close()
    assert owners == {"c1", "desk:insales"}  # c1's streams and the desk's profile, no c2


def test_asof_on_the_command_line_as_json_and_as_a_summary(settings):
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        assert runner.run({"profile": "insales", "steps": BEFORE + AFTER}).failures == []
        runner.pipeline.sync()
        env = {"DATABASE_URL": settings.database_url,
               "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
               "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_GROUP": settings.group_id,
               "SUPPORTLOG_HOME": str(settings.home)}
        one = CliRunner().invoke(main, ["asof", INSTANT.isoformat(), "--customer", "c1",
                                        "--json"], env=env)
        text = CliRunner().invoke(main, ["asof", INSTANT.isoformat(), "--customer", "c1"],
                                  env=env)
        every = CliRunner().invoke(main, ["asof", "2026-04-06T10:01:00+03:00"], env=env)
        naive = CliRunner().invoke(main, ["asof", "2026-04-09T10:00:00"], env=env)
        unknown = CliRunner().invoke(main, ["asof", INSTANT.isoformat(), "--customer",
                                            "ghost"], env=env)
    finally:
        system.close()
    assert one.exit_code == 0, one.output
    state = json.loads(one.output)
    assert state["customer"] == "c1" and state["ban"]["reason"] == "rudeness"
    assert [t["sla"] for t in state["tickets"]] == ["met", "breached"]
    assert "ban          rudeness by a2" in text.output
    assert every.exit_code == 0 and "c1" in every.output and "c2" not in every.output
    assert naive.exit_code == 2 and "timezone offset" in naive.output
    assert unknown.exit_code == 2 and "was not registered" in unknown.output
