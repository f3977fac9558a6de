"""The demo's generated month, played small, through the real pipeline: it plays the
days that end at `end` (now, unless pinned), so its state is the one at `end`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click
import pytest
from rich.console import Console

from supportlog.bootstrap import bootstrap
from supportlog.cli.scenario import demo_end
from supportlog.demo import console_invitation, demo_agent, play, report
from supportlog.workload import START, Workload
from tests.integration.test_projector import store_envelopes

#: A pinned end, months away from the workload's fixed START: a demo that still played
#: March 2026 would be caught.
END = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def test_the_workload_is_deterministic_from_its_seed():
    assert Workload(3, 10, 5).build() == Workload(3, 10, 5).build()
    assert Workload(3, 10, 5).build() != Workload(4, 10, 5).build()


def test_the_workload_cut_at_an_instant_is_the_same_up_to_it():
    whole = Workload(3, 10, 5, start=END - timedelta(days=5)).build()
    cut = Workload(3, 10, 5, start=END - timedelta(days=5)).build(until=END)
    assert cut == [step for step in whole if step.at <= END]
    assert whole[0].at >= END - timedelta(days=5) and whole[-1].at > END > cut[-1].at


def test_the_demo_ends_now_to_the_minute_or_at_a_pinned_end():
    now = datetime(2026, 12, 3, 8, 14, 59, 123456, tzinfo=UTC)
    assert demo_end(None, now) == datetime(2026, 12, 3, 8, 14, tzinfo=UTC)
    assert demo_end("2026-04-01", now) == datetime(2026, 4, 1, tzinfo=UTC)
    assert demo_end("2026-04-01T09:30:00+04:00", now) == datetime(2026, 4, 1, 5, 30,
                                                                  tzinfo=UTC)
    with pytest.raises(click.BadParameter, match="offset"):
        demo_end("2026-04-01T09:30:00", now)


def test_the_demo_plays_the_days_that_end_at_its_end_and_leaves_the_state_live(settings):
    """Nothing happens after `end`, every timer due by `end` has fired (a later `run`
    fires only what comes due after it), and tickets are still waiting with due times
    ahead."""
    system = bootstrap(settings)
    try:
        result = play(system, seed=3, customers=25, days=10, end=END)
        times = [datetime.fromisoformat(e.time) for e in store_envelopes(system.desk)]
        conn = system.connect()
        overdue_timers = conn.execute("SELECT count(*) FROM timers WHERE due_at <= %s",
                                      (END,)).fetchone()[0]
        waiting = conn.execute("SELECT count(*) FROM service_queue").fetchone()[0]
        due_ahead = conn.execute("SELECT count(*) FROM tickets WHERE first_response_due > %s "
                                 "AND first_response_at IS NULL", (END,)).fetchone()[0]
        fired_later = system.scheduler().fire_due(END)
    finally:
        system.close()
    assert result.commands > 100 and result.timers_fired > 0
    assert min(times) >= END - timedelta(days=10) and max(times) <= END
    assert overdue_timers == 0 and fired_later == 0
    assert waiting > 0 and due_ahead > 0


def test_demo_plays_every_desk_and_runs_again_on_the_same_data(settings):
    system = bootstrap(settings)
    try:
        end = START + timedelta(days=5)
        first = play(system, seed=1, customers=10, days=5, end=end)
        second = play(system, seed=1, customers=10, days=5, end=end)
        assert (first.prefix, second.prefix) == ("r1-", "r2-")
        assert first.commands > 50 and first.commands == second.commands
        conn = system.connect()
        tenants = {row[0] for row in conn.execute("SELECT DISTINCT tenant FROM tickets")}
        assert tenants == {"cs-cart", "cart-power", "imagecms", "prem-site", "insales"}
        stored = system.desk.recorder.max_notification_id()
        projected = conn.execute("SELECT SUM(next_offset) FROM projector_offsets").fetchone()
        assert projected[0] == stored  # every stored event was published and projected
        assert first.events + second.events <= stored  # the desks' adoptions are apart
        console = Console(record=True, width=120)
        report(system, second, console)
        text = console.export_text()
        assert re.search(rf"│ events stored +│ {second.events} +│", text)
        assert f"in all: 2 runs, 20 customers, {stored} events, all published and " \
               "projected" in text
        assert "audit charge r2-" in text
        console = Console(record=True, width=80)
        principal, token = demo_agent(system)
        console_invitation(principal, token, console)
        invitation = console.export_text()
        assert invitation.rstrip("\n").splitlines()[-1] == token
        assert "\n  ./sl serve\n  http://127.0.0.1:8080/console\n" in invitation
        assert system.principals().authenticate(token).role == "agent"
    finally:
        system.close()
