"""SupportDesk: the application that loads aggregates, asks them to decide, and saves.

It names no database: the event store comes from the `eventsourcing` environment given
by the composition root. Command handlers live in `domain.commands`; this class only
loads and saves, atomically, every aggregate a command changed.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.base import SupportAggregate

A = TypeVar("A", bound=SupportAggregate)


class SupportDesk(Application):
    """The event-sourced support desk: one store for every aggregate of the deployment."""

    name = "SupportDesk"

    def load(self, aggregate_class: type[A], aggregate_id: UUID) -> A | None:
        """Returns the aggregate with `aggregate_id`, or None if it has no events."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(aggregate, aggregate_class):
            return None
        return aggregate

    def save_all(self, *aggregates: Any) -> list[Any]:
        """Saves the pending events of every aggregate in one transaction."""
        return self.save(*aggregates)
