"""The time of a command on the server's clock (`SupportDesk.execute(clock=...)`): a retry
after a lost write race reads the clock again instead of reusing the time that the
winner's event has overtaken, and a reading behind an aggregate's last event (clocks
of two processes apart) moves to that event. An explicit time is never moved: older
than the last event, it is refused as rewriting the past."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from domain.credit_account import CreditAccount
from domain.desk import MAX_CLOCK_SKEW, SupportDesk
from domain.errors import InvalidArgumentError
from domain.policy.profile import builtin_profile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def desk_with_account() -> SupportDesk:
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile("cart-power"), T0)
    desk.execute("register_customer", {"customer": "c1", "desk": "cart-power"}, T0)
    desk.execute("purchase_credits", {"customer": "c1", "purchase": "p0", "package": 80}, T0)
    return desk


def purchase(name: str) -> dict:
    return {"customer": "c1", "purchase": name, "package": 80}


def purchases(desk: SupportDesk) -> dict[str, datetime]:
    account = desk.load(CreditAccount, CreditAccount.id_for("c1"))
    return {e.purchase: e.timestamp for e in desk.events.get(account.id)
            if isinstance(e, CreditAccount.Purchased)}


def test_a_retry_after_a_lost_race_reads_the_clock_again():
    desk = desk_with_account()
    readings: list[datetime] = []

    def clock() -> datetime:
        """The first reading lets another writer (a thread with its own cache) store a
        later event before this attempt saves, so the attempt loses the race."""
        readings.append(T0 + (1 + 2 * len(readings)) * SECOND)
        if len(readings) == 1:
            rival = threading.Thread(target=desk.execute, args=(
                "purchase_credits", purchase("p1"), T0 + 2 * SECOND))
            rival.start()
            rival.join()
        return readings[-1]

    desk.execute("purchase_credits", purchase("p2"), clock=clock)
    assert readings == [T0 + SECOND, T0 + 3 * SECOND]
    assert purchases(desk) == {"p0": T0, "p1": T0 + 2 * SECOND, "p2": T0 + 3 * SECOND}


def test_the_same_race_with_an_explicit_time_is_refused_as_rewriting_the_past():
    desk = desk_with_account()
    desk.execute("purchase_credits", purchase("p1"), T0 + 2 * SECOND)
    with pytest.raises(InvalidArgumentError, match="would rewrite its past"):
        desk.execute("purchase_credits", purchase("p2"), T0 + SECOND)
    assert set(purchases(desk)) == {"p0", "p1"}


def test_a_clock_behind_the_last_event_moves_the_command_to_that_event():
    desk = desk_with_account()
    desk.execute("purchase_credits", purchase("p1"), T0 + 2 * SECOND)  # a clock ahead
    desk.execute("purchase_credits", purchase("p2"), clock=lambda: T0 + SECOND)
    assert purchases(desk)["p2"] == T0 + 2 * SECOND


def test_an_event_further_ahead_than_the_clock_skew_is_not_followed():
    desk = desk_with_account()
    ahead = T0 + MAX_CLOCK_SKEW + 2 * SECOND
    desk.execute("purchase_credits", purchase("p1"), ahead)  # given explicitly
    with pytest.raises(InvalidArgumentError, match="would rewrite its past"):
        desk.execute("purchase_credits", purchase("p2"), clock=lambda: T0 + SECOND)
    assert set(purchases(desk)) == {"p0", "p1"}


def test_execute_takes_either_a_time_or_a_clock():
    desk = desk_with_account()
    with pytest.raises(TypeError):
        desk.execute("purchase_credits", purchase("p1"))
    with pytest.raises(TypeError):
        desk.execute("purchase_credits", purchase("p1"), T0, clock=lambda: T0)
