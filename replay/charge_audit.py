"""`supportlog audit charge`: read the streams behind one charge and build its receipt
(R-AUD-1); `audit all` sweeps every charge in the log.

The ticket's subject is shown as the reader is entitled to see it (`reveal`: the
composition root's cipher decrypts it while the customer's key exists, `[erased]`
after, R-PRV-1); nothing else in a receipt is personal.

A charge id is `<ticket>/<n>`, so the ticket's stream is found from it directly; the
customer's credit account and the desk's adopted profiles are streams too, and the
disputes are named on the ticket's stream (`ticket.charge_disputed`), so a receipt
costs one customer's streams, never a scan of the log, and depends on no read model.
Nothing here is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.credit_account import CreditAccount
from domain.desk import SupportDesk
from domain.dispute import Dispute
from domain.errors import InvalidArgumentError
from domain.personal import Reveal, without_keys
from domain.ticket import Ticket
from eventlog.envelope import Envelope
from replay.profiles import AdoptedProfiles
from replay.receipt import Receipt, build_receipt
from replay.streams import as_envelopes, envelopes, stream


class UnknownChargeError(InvalidArgumentError):
    """Raised when no work entry in the log carries the charge id."""


class ChargeAuditor:
    """Builds receipts from one store; keeps the adopted profiles."""

    def __init__(self, desk: SupportDesk, reveal: Reveal = without_keys):
        self.desk = desk
        self.profiles = AdoptedProfiles(desk)
        self.reveal = reveal

    @staticmethod
    def disputes_of(charge_id: str, ticket_events: list[Envelope]) -> list[str]:
        """Returns the disputes opened about `charge_id`, oldest first, from the
        `ticket.charge_disputed` events of the charge's own ticket stream."""
        return [e.data["dispute"] for e in ticket_events
                if e.type == "ticket.charge_disputed" and e.data["charge_id"] == charge_id]

    def receipt(self, charge_id: str) -> Receipt:
        """Returns the receipt of `charge_id`; raises UnknownChargeError if the log has
        no such charge."""
        ticket_name, _, n = charge_id.rpartition("/")
        if not ticket_name or not n.isdigit():
            raise InvalidArgumentError("a charge id is written <ticket>/<n>, e.g. t1/2")
        ticket_events = as_envelopes(stream(self.desk, Ticket.id_for(ticket_name)))
        if not ticket_events:
            raise UnknownChargeError(f"no ticket {ticket_name!r} in the log")
        customer = ticket_events[0].customer
        account_events = as_envelopes(stream(self.desk, CreditAccount.id_for(customer)))
        entry = next((e for e in ticket_events if e.type == "ticket.work_logged" and
                      (e.data.get("charge") or {}).get("charge_id") == charge_id), None)
        if entry is None:
            raise UnknownChargeError(f"ticket {ticket_name} has no charge {n}")
        charge = entry.data["charge"]
        adoption = self.profiles.version(charge.get("profile_id") or entry.tenant,
                                         charge.get("profile_version"),
                                         datetime.fromisoformat(entry.time))
        disputes = [as_envelopes(stream(self.desk, Dispute.id_for(name)))
                    for name in self.disputes_of(charge_id, ticket_events)]
        receipt = build_receipt(charge_id, ticket_events, account_events, adoption, disputes)
        assert receipt is not None  # the entry was found above
        receipt.ticket["subject"] = self.reveal(customer, Ticket.Opened.TOPIC, "subject",
                                                receipt.ticket["subject"])
        return receipt

    def charge_ids(self) -> Iterator[str]:
        """Yields every charge id in the log, in the order the charges were made."""
        for e in envelopes(self.desk, topics=["ticket.work_logged"]):
            charge = e.data.get("charge")
            if charge:
                yield charge["charge_id"]


@dataclass
class Sweep:
    """The outcome of auditing every charge of the log."""

    audited: int = 0
    agreeing: int = 0
    mismatches: list[Receipt] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"audited": self.audited, "agreeing": self.agreeing,
                "mismatches": [
                    {"charge_id": r.charge_id,
                     "failed": [c.detail for c in r.checks if not c.ok]}
                    for r in self.mismatches]}


def sweep(desk: SupportDesk, progress: Callable[[int], None] | None = None) -> Sweep:
    """Audits every charge in the log; returns how many agree and the ones that do not.
    Nothing personal is read: no subject is revealed."""
    auditor = ChargeAuditor(desk)
    result = Sweep()
    for charge_id in auditor.charge_ids():
        receipt = auditor.receipt(charge_id)
        result.audited += 1
        if receipt.agrees:
            result.agreeing += 1
        else:
            result.mismatches.append(receipt)
        if progress:
            progress(result.audited)
    return result
