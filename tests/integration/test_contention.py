"""Time under contention: commands on the server's clock are never refused as
rewriting the past. Three `supportlog command` processes write 200 commands each to one
ticket, then to one credit account, at once; a loser of a write race decides again at a
fresh reading of the clock (never the one it first took, which the winner's event has
overtaken), so every command is accepted and the balance is exact (R-CRD-1, R-CRD-9).
A command whose time was given explicitly is still refused when it is older than the
aggregate's last event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from domain.credit_account import CreditAccount
from domain.errors import InvalidArgumentError
from domain.policy.profile import builtin_profile
from domain.ticket import Ticket
from supportlog.bootstrap import bootstrap
from tests.conftest import cli_env

SUPPORTLOG = [sys.executable, "-m", "supportlog.cli"]
PROCESSES = 3
COMMANDS = 200


def env_for(settings) -> dict[str, str]:
    return {**os.environ, **cli_env(settings)}


def race(settings, lines_of: list[list[dict]], ready: dict) -> list[list[dict]]:
    """Starts one `supportlog command` per list of lines; once every process has
    answered `ready` (so all are up), sends each its lines at once; returns the answers."""
    logs = [(settings.home / f"command-{n}.log").open("w+b") for n in range(len(lines_of))]
    processes: list[subprocess.Popen] = []
    try:
        # One after the other: processes that start at the same instant can fail in the
        # store's schema set-up ("tuple concurrently updated"), a race of its own.
        for log in logs:
            process = subprocess.Popen([*SUPPORTLOG, "command"], env=env_for(settings),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=log)
            processes.append(process)
            process.stdin.write(json.dumps(ready).encode() + b"\n")
            process.stdin.flush()
            answer = process.stdout.readline()  # blocks until it is up and answering
            assert answer and json.loads(answer)["code"] == "duplicate_id", _log(log)
        answers: list[list[dict]] = [[] for _ in processes]

        def feed(n: int) -> None:
            process = processes[n]
            process.stdin.write(b"".join(json.dumps(line).encode() + b"\n"
                                         for line in lines_of[n]))
            process.stdin.close()
            answers[n] = [json.loads(line) for line in process.stdout]

        threads = [threading.Thread(target=feed, args=(n,)) for n in range(len(processes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        for process, log in zip(processes, logs, strict=True):
            assert process.wait(timeout=60) == 0, _log(log)
        return answers
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for log in logs:
            log.close()


def _log(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def refusals(answers: list[list[dict]]) -> list[dict]:
    return [a for each in answers for a in each if not a["accepted"]]


def test_three_processes_logging_work_on_one_ticket_are_never_refused(settings):
    started = datetime.now(UTC) - timedelta(minutes=5)  # the processes use the wall clock
    system = bootstrap(settings)
    try:
        desk = system.desk
        desk.adopt(builtin_profile("insales"), started)
        desk.execute("register_customer", {"customer": "c1"}, started)
        desk.execute("open_ticket", {"customer": "c1", "ticket": "t1",
                                     "department": "consultation", "channel": "helpdesk",
                                     "subject": "x"}, started)
        work = [[{"do": "log_work", "args": {"ticket": "t1", "agent": f"a{p}", "minutes": 5,
                                             "kind": "consultation"}}] * COMMANDS
                for p in range(PROCESSES)]
        answers = race(settings, work, {"do": "register_customer",
                                        "args": {"customer": "c1", "desk": "insales"}})
        ticket = desk.load(Ticket, Ticket.id_for("t1"))
    finally:
        system.close()
    assert [len(a) for a in answers] == [COMMANDS] * PROCESSES
    assert refusals(answers) == []
    assert ticket.entries == PROCESSES * COMMANDS
    assert ticket.minutes_logged == 5 * PROCESSES * COMMANDS


def test_r_crd_1_three_processes_buying_credits_for_one_account_get_an_exact_balance(
        settings):
    started = datetime.now(UTC) - timedelta(minutes=5)
    system = bootstrap(settings)
    try:
        desk = system.desk
        desk.adopt(builtin_profile("cart-power"), started)
        desk.execute("register_customer", {"customer": "c1"}, started)
        purchases = [[{"do": "purchase_credits",
                       "args": {"customer": "c1", "purchase": f"p{p}-{n}", "package": 80}}
                      for n in range(COMMANDS)] for p in range(PROCESSES)]
        answers = race(settings, purchases, {"do": "register_customer",
                                             "args": {"customer": "c1", "desk": "cart-power"}})
        account = desk.load(CreditAccount, CreditAccount.id_for("c1"))
        purchased = [e for e in desk.events.get(account.id)
                     if isinstance(e, CreditAccount.Purchased)]
    finally:
        system.close()
    assert refusals(answers) == []
    assert len(purchased) == PROCESSES * COMMANDS
    assert account.balance == 80 * PROCESSES * COMMANDS
    times = [e.timestamp for e in purchased]
    assert times == sorted(times)  # history never runs backwards


def test_an_explicit_time_older_than_the_last_event_is_still_refused(settings):
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    system = bootstrap(settings)
    try:
        desk = system.desk
        desk.adopt(builtin_profile("cart-power"), t0)
        desk.execute("register_customer", {"customer": "c1"}, t0)
        desk.execute("purchase_credits", {"customer": "c1", "purchase": "p1",
                                          "package": 80}, t0 + timedelta(hours=1))
        head = desk.recorder.max_notification_id()
        with pytest.raises(InvalidArgumentError, match="would rewrite its past"):
            desk.execute("purchase_credits", {"customer": "c1", "purchase": "p2",
                                              "package": 80}, t0 + timedelta(minutes=30))
        assert desk.recorder.max_notification_id() == head
    finally:
        system.close()
