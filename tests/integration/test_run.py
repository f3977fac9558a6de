"""Production entry points: JSON-lines commands, `run` until SIGTERM, timers once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

from domain.policy.profile import builtin_profile
from domain.ticket import Ticket
from supportlog.bootstrap import bootstrap
from supportlog.cli.run import answer_line
from supportlog.pipeline import Pipeline
from tests.conftest import wait_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=4)))
SUPPORTLOG = [sys.executable, "-m", "supportlog.cli"]


def env_for(settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_GROUP": settings.group_id,
            "SUPPORTLOG_PARTITIONS": str(settings.partitions),
            "SUPPORTLOG_HOME": str(settings.home), **extra}


def test_command_lines_are_answered_with_events_or_a_code(settings):
    system = bootstrap(settings)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0)
        clock = lambda: T0  # noqa: E731
        ok = answer_line(system.desk, json.dumps(
            {"do": "register_customer", "args": {"customer": "c1"}}), clock)
        assert ok["accepted"] and ok["events"][0]["type"] == "customer.registered"
        again = answer_line(system.desk, json.dumps(
            {"do": "register_customer", "args": {"customer": "c1"}}), clock)
        assert again == {"accepted": False, "code": "duplicate_id",
                         "message": "customer 'c1' is already registered"}
        assert answer_line(system.desk, "{nope", clock)["code"] == "invalid_argument"
        assert answer_line(system.desk, json.dumps({"do": "x", "extra": 1}),
                           clock)["code"] == "invalid_argument"
    finally:
        system.close()


def test_a_repeated_command_id_has_no_second_effect(settings):
    system = bootstrap(settings)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0)
        desk = system.desk
        desk.execute("register_customer", {"customer": "c1"}, T0)
        args = {"customer": "c1", "purchase": "p1", "package": 80}
        first = desk.execute("purchase_credits", args, T0, command_id="req-1")
        head = desk.recorder.max_notification_id()
        second = desk.execute("purchase_credits", args, T0, command_id="req-1")
        assert second.repeated and second.events == first.events
        assert desk.recorder.max_notification_id() == head
    finally:
        system.close()


def test_concurrent_work_logs_on_one_ticket_lose_no_update(settings):
    """Two agents log work on one ticket at once: optimistic concurrency retries the
    loser on the fresh state, so every entry is recorded."""
    system = bootstrap(settings)
    try:
        desk = system.desk
        desk.adopt(builtin_profile("insales"), T0)
        desk.execute("register_customer", {"customer": "c1"}, T0)
        desk.execute("open_ticket", {"customer": "c1", "ticket": "t1",
                                     "department": "consultation", "channel": "helpdesk",
                                     "subject": "x"}, T0)
        errors: list[Exception] = []

        def agent(name: str) -> None:
            for _ in range(10):
                try:
                    desk.execute("log_work", {"ticket": "t1", "agent": name, "minutes": 5,
                                              "kind": "consultation"},
                                 T0 + timedelta(minutes=1))
                except Exception as e:  # collected and asserted below
                    errors.append(e)

        threads = [threading.Thread(target=agent, args=(f"a{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        ticket = desk.load(Ticket, Ticket.id_for("t1"))
        assert ticket.entries == 20 and ticket.minutes_logged == 100
    finally:
        system.close()


def test_run_serves_until_sigterm_and_stops_cleanly(settings):
    system = bootstrap(settings)
    conn = system.connect()
    process = subprocess.Popen([*SUPPORTLOG, "run", "--interval", "0.2"],
                               env=env_for(settings), stderr=subprocess.PIPE, text=True)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0)
        system.desk.execute("register_customer", {"customer": "c1"}, T0)
        wait_for(lambda: conn.execute("SELECT 1 FROM customers WHERE customer = 'c1'")
                 .fetchone(), timeout_s=60, what="run to project the customer")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        lines = [json.loads(line) for line in process.stderr.read().splitlines()
                 if line.startswith("{")]
        assert lines[-1]["message"] == "stopped cleanly"
    finally:
        if process.poll() is None:
            process.kill()
        system.close()


def test_timers_fire_exactly_once_under_a_killed_and_restarted_scheduler(settings):
    """R-SLA-5: each breach is recorded once, though the scheduler dies after firing."""
    system = bootstrap(settings)
    try:
        desk = system.desk
        desk.adopt(builtin_profile("prem-site"), T0)
        desk.execute("register_customer", {"customer": "c1"}, T0)
        desk.execute("start_subscription", {"customer": "c1", "subscription": "s1",
                                            "plan": "premium", "term": "month"}, T0)
        for n in range(3):
            desk.execute("open_ticket", {"customer": "c1", "ticket": f"t{n}",
                                         "department": "technical", "channel": "helpdesk",
                                         "subject": "x"}, T0 + timedelta(minutes=n))
        Pipeline(system).sync()
        later = (T0 + timedelta(days=3)).isoformat()
        crashed = subprocess.run([*SUPPORTLOG, "schedule", "--once", "--now", later],
                                 env=env_for(settings, SUPPORTLOG_FAULT="scheduler.after_fire"),
                                 capture_output=True, timeout=60)
        assert crashed.returncode == -signal.SIGKILL
        for _ in range(2):  # a restart, then a second scheduler on the same timers
            Pipeline(system).sync()
            done = subprocess.run([*SUPPORTLOG, "schedule", "--once", "--now", later],
                                  env=env_for(settings), capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr
        breaches = [e for n in range(3) for e in desk.events.get(Ticket.id_for(f"t{n}"))
                    if isinstance(e, Ticket.SlaBreached)]
        assert len(breaches) == 3
    finally:
        system.close()
