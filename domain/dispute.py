"""The Dispute aggregate: a customer contests a charge (R-DSP-1, R-DSP-2, R-DSP-3).

Review is due in N business days on the desk's calendar; the outcome is `upheld` (with a
compensating event, never an edit of the charge) or `rejected`, with reviewer and reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names
from domain.errors import InvalidTransitionError


@stable_names("aggregate.dispute")
class Dispute(SupportAggregate):
    """A dispute of one charge."""

    @staticmethod
    def id_for(dispute: str):
        return aggregate_id("dispute", dispute)

    class Opened(SupportAggregate.Created):
        TOPIC = "dispute.opened"
        dispute: str
        charge_id: str
        ticket: str
        credits: int | None
        money: str | None
        due_at: datetime
        business_days: int
        calendar_id: str
        calendar_version: int

        def evolve(self, aggregate: Any) -> None:
            aggregate.dispute = self.dispute
            aggregate.charge_id = self.charge_id
            aggregate.credits = self.credits
            aggregate.money = self.money
            aggregate.due_at = self.due_at
            aggregate.status = "open"
            aggregate.overdue = False

    class ReviewOverdue(SupportAggregate.Event):
        """The review due time passed with the dispute still open (timer, R-DSP-1)."""

        TOPIC = "dispute.review_overdue"
        due_at: datetime
        timer_id: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.overdue = True

    class Resolved(SupportAggregate.Event):
        TOPIC = "dispute.resolved"
        outcome: str
        agent: str
        reason: str
        compensation_credits: int | None
        refund_money: str | None

        def evolve(self, aggregate: Any) -> None:
            aggregate.status = self.outcome

    def guard_open(self) -> None:
        if self.status != "open":
            raise InvalidTransitionError(f"dispute {self.dispute} is already {self.status}")
