"""The desk's aggregate cache changes no decision: random command sequences give the same
answers and the very same stored events with the cache as without it, even when the
commands alternate between two threads (two caches on one store, each a writer the
other must notice, so neither ever decides on a stale aggregate and loses a race), the
cache holds only a couple of aggregates, or a handler changes an aggregate and then
rejects the command."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.base import GENESIS
from domain.commands import AllHandlers
from domain.commands.args import SPECS
from domain.customer import Customer
from domain.desk import SupportDesk
from domain.errors import InvalidArgumentError, SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from tests.domain.test_random_commands import GOOD, IDS, T0

#: Commands on existing tickets come up more often than the rest, so streams grow long
#: enough to be cached, changed by the other thread, and used again.
TICKET_WORK = ["log_work", "agent_reply", "customer_reply", "solve_ticket",
               "notify_customer", "open_ticket"]


@st.composite
def plausible(draw) -> tuple[str, dict, int]:
    """A well-formed command (most of them accepted), and minutes since the last one."""
    name = draw(st.one_of(st.sampled_from(TICKET_WORK), st.sampled_from(sorted(SPECS))))
    required, optional = SPECS[name]
    fields = list(required) + [f for f in optional if f != "desk" and draw(st.booleans())]
    args = {field: draw(st.sampled_from(IDS.get(field) or GOOD.get(field, ["x"])))
            for field in fields}
    return name, args, draw(st.integers(0, 180))

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def stored(desk: SupportDesk) -> list:
    return [(n.originator_id, n.originator_version, n.topic, n.state)
            for n in desk.recorder.select_notifications(1, 10_000)]


def answer(run: Any) -> tuple:
    """The outcome's events, or the error code: what a caller sees."""
    try:
        return ("ok", tuple(run().events))
    except SupportlogError as e:
        return ("rejected", e.code)


def started(profile: str, cache_size: int, retries: list | None = None) -> SupportDesk:
    desk = SupportDesk(env=POPO, cache_size=cache_size,
                       retry_pause=retries.append if retries is not None else None)
    desk.adopt(builtin_profile(profile), T0)
    for customer in IDS["customer"][:2]:
        desk.execute("register_customer", {"customer": customer}, T0)
    for n, customer in enumerate(["c0", "c1", "c0"]):
        ticket = {"customer": customer, "ticket": f"t{n}", "department": "consultation",
                  "channel": "helpdesk", "subject": "x"}
        answer(partial(desk.execute, "open_ticket", ticket, T0))
    return desk


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILE_IDS), cache_size=st.sampled_from([2, 1000]),
       commands=st.lists(st.tuples(plausible(), st.integers(0, 1)), min_size=5, max_size=60))
def test_cached_desk_answers_and_stores_exactly_as_an_uncached_one(profile, cache_size,
                                                                   commands):
    retries: list[int] = []
    plain, cached = started(profile, 0), started(profile, cache_size, retries)
    workers = [ThreadPoolExecutor(1), ThreadPoolExecutor(1)]  # one cache per thread
    try:
        now = T0
        for (name, args, step_min), worker in commands:
            now += timedelta(minutes=step_min)
            expected = answer(lambda: plain.execute(name, args, now))  # noqa: B023
            got = workers[worker].submit(
                answer, lambda: cached.execute(name, args, now)).result()  # noqa: B023
            assert got == expected, f"{name} {args}"
        assert stored(cached) == stored(plain)
        # The threads take turns, so no attempt ever races: an attempt that lost one
        # would have decided on a stale cached aggregate.
        assert retries == []
    finally:
        for worker in workers:
            worker.shutdown()


def test_a_write_by_another_thread_is_seen_by_the_next_command():
    """Thread A has seen c0 unbanned (its cache says so); thread B bans c0. A's next
    ticket is refused: the ban record is only read by `open_ticket`, so no optimistic
    concurrency check would have caught a stale one."""
    desk = started("insales", 1000)
    ticket = {"customer": "c0", "department": "consultation", "channel": "helpdesk",
              "subject": "x"}
    a, b = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    try:
        a.submit(desk.execute, "open_ticket", {**ticket, "ticket": "t5"}, T0).result()
        b.submit(desk.execute, "ban", {"customer": "c0", "reason": "rudeness",
                                       "agent": "a1"}, T0).result()
        with pytest.raises(SupportlogError, match="banned"):
            a.submit(desk.execute, "open_ticket", {**ticket, "ticket": "t6"}, T0).result()
    finally:
        a.shutdown()
        b.shutdown()


def test_a_rejection_after_a_change_leaves_no_trace_in_the_cache(monkeypatch):
    """A handler that records an event and then rejects: the next command decides on the
    stored state, not on the half-changed cached aggregate."""
    desk = started("cart-power", 1000)
    buy = {"customer": "c0", "purchase": "p0", "package": "incident"}
    real = AllHandlers.buy_package

    def buy_then_reject(self, a, now):
        real(self, a, now)
        raise InvalidArgumentError("rejected after the change")

    version = desk.load(Customer, Customer.id_for("c0")).version
    monkeypatch.setattr(AllHandlers, "buy_package", buy_then_reject)
    with pytest.raises(InvalidArgumentError):
        desk.execute("buy_package", buy, T0)
    monkeypatch.setattr(AllHandlers, "buy_package", real)
    before = stored(desk)
    outcome = desk.execute("buy_package", buy, T0)  # not a duplicate: nothing was stored
    assert [v for _, _, v in outcome.events] == [version + 1]
    assert len(stored(desk)) == len(before) + 1


def test_outside_a_command_load_reads_the_store_not_the_cache():
    """Callers of `load` other than the handlers get a private copy: changing it does not
    reach the next command."""
    desk = started("cart-power", 1000)
    desk.execute("buy_package", {"customer": "c0", "purchase": "p0", "package": "incident"},
                 T0)
    loaded = desk.load(Customer, Customer.id_for("c0"))
    assert loaded is not None and loaded is not desk.load(Customer, Customer.id_for("c0"))
    loaded.packages.clear()
    with pytest.raises(SupportlogError, match="already recorded"):
        desk.execute("buy_package", {"customer": "c0", "purchase": "p0",
                                     "package": "incident"}, T0)


def test_the_chain_head_is_the_hash_of_the_last_event_applied():
    desk = started("insales", 0)
    events = list(desk.events.get(Customer.id_for("c0")))
    customer = desk.load(Customer, Customer.id_for("c0"))
    assert customer.chain_head == events[-1].hash != GENESIS
