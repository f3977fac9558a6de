"""What the store holds of a customer's personal data, and what of it is unprotected.

`unprotected_events` finds every stored event whose personal fields hold plain text:
events stored before personal data was sealed (their bytes cannot change), and what a
desk without a cipher wrote. Erasure cannot reach those (there is no key to destroy),
so `supportlog erase` counts them for the customer it erases, `supportlog privacy
report` lists them, and `supportlog privacy migrate` is the way to remove them
(docs/privacy.md "Events written before encryption"). `personal_data` gathers one
customer's personal data, as an entitled reader sees it (`supportlog privacy show`: the
customer's right of access).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from domain.base import EVENT_TYPES
from domain.desk import SupportDesk
from domain.personal import is_unprotected
from replay.streams import notification_pages
from supportlog.privacy.cipher import PersonalCipher

#: Every event type with personal fields: (type, its personal fields).
PERSONAL_TYPES = {name: cls.PERSONAL for name, cls in EVENT_TYPES.items() if cls.PERSONAL}


@dataclass(frozen=True)
class PersonalValue:
    """One personal field of one stored event."""

    position: int
    event_type: str
    ref: str
    field: str
    value: Any


def personal_values(desk: SupportDesk, customer: str | None = None
                    ) -> Iterator[tuple[str, PersonalValue]]:
    """Yields (customer, value) for every non-null personal field of every stored event
    (of `customer` only, if given), in store order."""
    for page in notification_pages(desk, topics=sorted(PERSONAL_TYPES)):
        for n in page:
            event = desk.mapper.to_domain_event(n)
            if customer is not None and event.customer != customer:
                continue
            for name in PERSONAL_TYPES[event.TOPIC]:
                value = getattr(event, name, None)
                if value is not None:
                    yield event.customer, PersonalValue(n.id, event.TOPIC, event.ref, name,
                                                        value)


@dataclass
class UnprotectedReport:
    """Stored events that hold personal data in plain text."""

    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_customer: Counter[str] = field(default_factory=Counter)
    positions: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "by_type": dict(sorted(self.by_type.items())),
                "customers": len(self.by_customer),
                "by_customer": dict(sorted(self.by_customer.items())),
                "positions": self.positions}


def unprotected_events(desk: SupportDesk, customer: str | None = None) -> UnprotectedReport:
    """Returns the stored events (of `customer`, if given) whose personal fields hold
    plain text (see the module doc)."""
    report = UnprotectedReport()
    for owner, value in personal_values(desk, customer):
        if is_unprotected(value.value) and (not report.positions
                                            or report.positions[-1] != value.position):
            report.events += 1
            report.by_type[value.event_type] += 1
            report.by_customer[owner] += 1
            report.positions.append(value.position)
    return report


def personal_data(desk: SupportDesk, cipher: PersonalCipher, customer: str
                  ) -> list[dict[str, Any]]:
    """Returns every personal field the store holds of `customer`, as an entitled
    reader sees it: the text, `[erased]`, or `[cannot decrypt: why]`; and whether it is
    stored sealed or in plain text."""
    show = cipher.revealer(customer)
    return [{"position": v.position, "event": v.event_type, "subject": v.ref,
             "field": v.field, "text": show(v.event_type, v.field, v.value),
             "stored": "plain text" if is_unprotected(v.value) else "sealed"}
            for _, v in personal_values(desk, customer)]
