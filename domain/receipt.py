"""The CommandReceipt aggregate: proof that a command with a given id was accepted.

It is saved in the same transaction as the command's events, and its id derives from
the command id, so the store's uniqueness on (aggregate id, version) makes a repeated
command impossible to record twice: the repeat finds the receipt and gets the first
answer back, with no second effect. It also holds the fingerprint of the command's
arguments, so the same id with other arguments is refused, not answered as a repeat.
"""

from __future__ import annotations

from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names


@stable_names("aggregate.command_receipt")
class CommandReceipt(SupportAggregate):
    """The receipt of one accepted command."""

    @staticmethod
    def id_for(command_id: str):
        return aggregate_id("command", command_id)

    class Accepted(SupportAggregate.Created):
        TOPIC = "command.accepted"
        #: v2 added `fingerprint`; receipts stored before it lack the field.
        class_version = 2
        command_id: str
        command: str
        events: list
        #: `desk.fingerprint` of the command and its arguments; receipts stored before
        #: it existed have none (a default, so their stored bytes and hashes hold).
        fingerprint: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A receipt stored at v1 gains `fingerprint` null (one stored by code that
            wrote the field without stating its version keeps its own)."""
            state.setdefault("fingerprint", None)

        def evolve(self, aggregate: Any) -> None:
            aggregate.command_id = self.command_id
            aggregate.command = self.command
            aggregate.events = self.events
            aggregate.fingerprint = self.fingerprint
