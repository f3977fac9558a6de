"""The Ban aggregate of one customer: bans for abuse and the duplicates that suggest spam
(R-BAN-1, R-BAN-2, R-BAN-3, R-BAN-4). One stream per customer, created at the first ban or
duplicate."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names


@stable_names("aggregate.ban")
class Ban(SupportAggregate):
    """Whether and until when a customer is banned from support."""

    @staticmethod
    def id_for(customer: str):
        return aggregate_id("ban", customer)

    class Opened(SupportAggregate.Created):
        TOPIC = "ban.record_opened"

        def evolve(self, aggregate: Any) -> None:
            aggregate.active = None
            aggregate.duplicates = []

    class Imposed(SupportAggregate.Event):
        """A ban, for a term (`until`) or indefinitely (None), without warning (R-BAN-1)."""

        TOPIC = "ban.imposed"
        scope: str
        reason: str
        agent: str
        until: datetime | None

        def evolve(self, aggregate: Any) -> None:
            aggregate.active = {"reason": self.reason, "agent": self.agent,
                                "since": self.timestamp, "until": self.until}

    class Lifted(SupportAggregate.Event):
        TOPIC = "ban.lifted"
        agent: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.active = None

    class Expired(SupportAggregate.Event):
        """The ban's term ended (timer, R-BAN-3)."""

        TOPIC = "ban.expired"
        timer_id: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.active = None

    class DuplicateNoted(SupportAggregate.Event):
        """A duplicate ticket not caused by a technical fault (R-BAN-2)."""

        TOPIC = "ban.duplicate_noted"
        ticket: str
        opened_at: datetime

        def evolve(self, aggregate: Any) -> None:
            aggregate.duplicates.append(self.opened_at)

    class SpamSuspected(SupportAggregate.Event):
        """Enough duplicates in the window to ask an agent to review (R-BAN-2)."""

        TOPIC = "ban.spam_suspected"
        duplicates: int
        window_hours: int

    @classmethod
    def open_for(cls, customer: str, tenant: str, now: datetime) -> Ban:
        return cls.start(cls.Opened, id=cls.id_for(customer), now=now, customer=customer,
                         tenant=tenant, ref=customer)

    def banned_at(self, at: datetime) -> dict | None:
        """Returns the ban in force at `at`, or None."""
        ban = self.active
        if ban is None or (ban["until"] is not None and ban["until"] <= at):
            return None
        return ban

    def duplicates_within(self, at: datetime, window: timedelta) -> int:
        return sum(1 for opened in self.duplicates if abs(at - opened) < window)
