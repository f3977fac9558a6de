"""What a history cost each customer, counted from its events (for what-if, R-AUD-4).

The same count runs over the recorded history and over its replay under a changed
profile, so their difference is the policy's doing and nothing else. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.policy.profile import Money
from eventlog.envelope import Envelope

FIGURES = ("charges", "credits", "money", "sla_breaches", "paid_modifications",
           "free_modifications")


@dataclass
class Figures:
    """One customer's (or the total's) charges, credits, money, SLA breaches and quota use.

    `paid_modifications` are modifications that were charged (quota overages, R-QTA-4,
    or modifications paid in credits); `free_modifications` used a free slot (R-QTA-1).
    """

    charges: int = 0
    credits: int = 0
    money: dict[str, Decimal] = field(default_factory=dict)
    sla_breaches: int = 0
    paid_modifications: int = 0
    free_modifications: int = 0

    def add(self, other: Figures) -> None:
        self.charges += other.charges
        self.credits += other.credits
        for currency, amount in other.money.items():
            self.money[currency] = self.money.get(currency, Decimal(0)) + amount
        self.sla_breaches += other.sla_breaches
        self.paid_modifications += other.paid_modifications
        self.free_modifications += other.free_modifications

    def to_dict(self) -> dict[str, Any]:
        return {"charges": self.charges, "credits": self.credits,
                "money": {c: str(Money(a, c)) for c, a in sorted(self.money.items())},
                "sla_breaches": self.sla_breaches,
                "paid_modifications": self.paid_modifications,
                "free_modifications": self.free_modifications}


def within(envelope: Envelope, start: datetime | None, end: datetime | None) -> bool:
    """True if the event's time is in [start, end] (an open side is unbounded)."""
    at = datetime.fromisoformat(envelope.time)
    return (start is None or at >= start) and (end is None or at <= end)


def count(figures: dict[str, Figures], envelope: Envelope) -> None:
    """Adds what one event contributes to its customer's figures."""
    if envelope.type == "ticket.work_logged":
        d = envelope.data
        pricing, charge = d["pricing"], d.get("charge")
        row = figures.setdefault(envelope.customer, Figures())
        if pricing.get("free_modification"):
            row.free_modifications += 1
        if charge:
            row.charges += 1
            row.credits += charge.get("credits") or 0
            if charge.get("money"):
                money = Money.parse(charge["money"])
                row.money[money.currency] = row.money.get(money.currency,
                                                          Decimal(0)) + money.amount
            if pricing.get("modification"):
                row.paid_modifications += 1
    elif envelope.type == "ticket.sla_breached":
        figures.setdefault(envelope.customer, Figures()).sla_breaches += 1


def tally(events: Iterable[Envelope], start: datetime | None = None,
          end: datetime | None = None) -> dict[str, Figures]:
    """Returns each customer's figures over the events in [start, end]."""
    figures: dict[str, Figures] = {}
    for envelope in events:
        if within(envelope, start, end):
            count(figures, envelope)
    return figures


def total(figures: dict[str, Figures]) -> Figures:
    """Returns the sum over every customer."""
    out = Figures()
    for row in figures.values():
        out.add(row)
    return out


def difference(before: Figures, after: Figures) -> dict[str, Any]:
    """Returns after minus before, figure by figure (money per currency, as text)."""
    money: dict[str, str] = {}
    for currency in sorted(set(before.money) | set(after.money)):
        delta = after.money.get(currency, Decimal(0)) - before.money.get(currency, Decimal(0))
        if delta:
            money[currency] = str(Money(delta, currency))
    return {"charges": after.charges - before.charges,
            "credits": after.credits - before.credits, "money": money,
            "sla_breaches": after.sla_breaches - before.sla_breaches,
            "paid_modifications": after.paid_modifications - before.paid_modifications,
            "free_modifications": after.free_modifications - before.free_modifications}


def is_zero(delta: dict[str, Any]) -> bool:
    """True if a difference is nothing at all."""
    return not any(v for v in delta.values())
