"""Two desks on one PostgreSQL store, as `supportlog run` and a CLI command in another
process would be: each keeps its own aggregate cache, and each sees what the other
wrote before its next decision, without losing a race it need not lose."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.base import GENESIS
from domain.commands import AllHandlers
from domain.customer import Customer
from domain.errors import BannedError
from domain.policy.profile import PolicyProfile, builtin_profile
from domain.ticket import Ticket
from supportlog.bootstrap import System, bootstrap

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICKET = {"customer": "c1", "department": "consultation", "channel": "helpdesk",
          "subject": "x"}


def assert_linked(system: System, aggregate_id) -> None:
    """Each stored event links to the hash of the one before it (R-AUD-3): an event
    decided on a stale or half-changed cached aggregate would link to the wrong one."""
    head = GENESIS
    for event in system.desk.events.get(aggregate_id):
        assert event.prev_hash == head, f"version {event.originator_version} misplaced"
        head = event.hash


@pytest.fixture
def pair(settings) -> Iterator[tuple[System, System, list[int]]]:
    """Two systems on one store; the list collects every retry either desk makes."""
    first, second = bootstrap(settings), bootstrap(settings)
    retries: list[int] = []
    first.desk.retry_pause = second.desk.retry_pause = retries.append
    try:
        first.desk.adopt(builtin_profile("insales"), T0)
        first.desk.execute("register_customer", {"customer": "c1"}, T0)
        first.desk.execute("open_ticket", {**TICKET, "ticket": "t1"}, T0)
        yield first, second, retries
    finally:
        first.close()
        second.close()


def test_a_ban_by_another_process_stops_the_next_ticket(pair):
    """`open_ticket` only reads the ban record, so a stale cached one would let a banned
    customer in with no conflict at save time."""
    a, b, _ = pair
    b.desk.execute("ban", {"customer": "c1", "reason": "rudeness", "agent": "a1"}, T0)
    with pytest.raises(BannedError):
        a.desk.execute("open_ticket", {**TICKET, "ticket": "t2"}, T0)


def test_alternating_writers_lose_no_update_and_never_race(pair):
    a, b, retries = pair
    for n in range(10):
        desk = (a, b)[n % 2].desk
        desk.execute("log_work", {"ticket": "t1", "agent": f"a{n % 2}", "minutes": 5,
                                  "kind": "consultation"}, T0 + timedelta(minutes=n))
    ticket = a.desk.load(Ticket, Ticket.id_for("t1"))
    assert ticket.entries == 10 and ticket.minutes_logged == 50
    assert retries == []  # each saw the other's last entry before deciding
    assert_linked(a, Ticket.id_for("t1"))
    assert_linked(a, Customer.id_for("c1"))


def test_a_write_between_deciding_and_saving_makes_a_retry_on_fresh_state(pair,
                                                                          monkeypatch):
    """The other desk logs work while this one decides: this save fails on the version,
    the aggregates this attempt changed are evicted, and the retry decides on both."""
    a, b, retries = pair
    real = AllHandlers.log_work
    interfered: list[bool] = []

    def log_work(self, args, now):
        if self.desk is a.desk and not interfered:
            interfered.append(True)
            b.desk.execute("log_work", {"ticket": "t1", "agent": "b", "minutes": 7,
                                        "kind": "consultation"}, now)
        return real(self, args, now)

    monkeypatch.setattr(AllHandlers, "log_work", log_work)
    a.desk.execute("log_work", {"ticket": "t1", "agent": "a", "minutes": 5,
                                "kind": "consultation"}, T0)
    assert retries == [1]
    a.desk.execute("log_work", {"ticket": "t1", "agent": "a", "minutes": 1,
                                "kind": "consultation"}, T0)  # from the cache again
    ticket = b.desk.load(Ticket, Ticket.id_for("t1"))
    assert ticket.entries == 3 and ticket.minutes_logged == 13
    assert retries == [1]
    assert_linked(a, Ticket.id_for("t1"))


def test_a_profile_adopted_by_another_process_applies_to_the_next_command(pair):
    a, b, _ = pair
    a.desk.execute("open_ticket", {**TICKET, "ticket": "t2"}, T0)  # profile v1 in use
    data = dict(builtin_profile("insales").data)
    data["version"] = 2
    b.desk.adopt(PolicyProfile.from_data(data), T0 + timedelta(hours=1))
    a.desk.execute("open_ticket", {**TICKET, "ticket": "t3"}, T0 + timedelta(hours=2))
    opened = next(iter(a.desk.events.get(Ticket.id_for("t3"))))
    assert opened.profile_version == 2


def test_a_direct_save_outside_a_command_is_seen(pair):
    a, _, retries = pair
    a.desk.execute("customer_reply", {"ticket": "t1"}, T0)  # caches the ticket
    customer = a.desk.load(Customer, Customer.id_for("c1"))  # a private copy
    customer.record(Customer.PackageBought, now=T0, purchase="p1", package="incident",
                    max_minutes=60)
    a.desk.save(customer)
    a.desk.execute("open_ticket", {**TICKET, "ticket": "t2"}, T0)
    assert retries == []
