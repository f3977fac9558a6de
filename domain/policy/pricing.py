"""Pricing: pure functions from a work entry and its context to a ChargeDecision.

No I/O, no clock: everything the price depends on is an argument, and the decision
records the rule that priced it, so an audit can re-price an entry and compare.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from domain.policy.profile import Money, PolicyProfile


@dataclass(frozen=True)
class WorkContext:
    """What the price of one work entry depends on, besides the profile."""

    kind: str
    minutes: int
    classification: str | None
    plan: str | None
    plan_covers_work: bool
    free_modifications: int
    free_used_this_month: int
    paid_work: bool
    warranty_active: bool
    package_minutes_left: int
    ticket_billed_credits: int
    ticket_minutes_before: int
    notices: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "notices": list(self.notices)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkContext:
        """Rebuilds the context recorded on a work entry (for audits and what-if)."""
        return cls(**{**data, "notices": tuple(data.get("notices", ()))})


@dataclass(frozen=True)
class ChargeDecision:
    """The price of a work entry and why: credits or money (or neither), the rule id."""

    rule: str
    billable_minutes: int
    unbilled_minutes: int
    units: int
    credits: int | None = None
    money: str | None = None
    free_modification: bool = False
    modification: bool = False
    package_minutes: int = 0
    requires_balance: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def charged(self) -> bool:
        return bool(self.credits) or self.money is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _units(minutes: int, unit_minutes: int) -> int:
    return math.ceil(minutes / unit_minutes) if minutes > 0 else 0


def price_work(profile: PolicyProfile, work: WorkContext) -> ChargeDecision:
    """Returns how the work entry is priced under `profile`."""
    pricing = profile.section("pricing")
    minutes = work.minutes
    modification = work.kind == "modification"
    if work.classification == "own_addon_bug" and pricing.get("own_addon_bug_free", True):
        return ChargeDecision("R-CRD-8", 0, minutes, 0, modification=modification,
                              notes=["a bug of the vendor's own add-on costs nothing"])
    if work.warranty_active:
        return ChargeDecision("R-PAY-2", 0, minutes, 0, modification=modification,
                              notes=["paid work is under its 1-month warranty"])
    if modification and work.free_modifications > 0:
        small = minutes <= pricing.get("free_modification_max_minutes", 15)
        if small and work.free_used_this_month < work.free_modifications:
            return ChargeDecision("R-QTA-1", 0, minutes, 0, free_modification=True,
                                  modification=True,
                                  notes=["within the plan's free modifications this month"])
    if modification and pricing.get("modification_price"):
        rule = "R-QTA-4" if minutes <= pricing.get("free_modification_max_minutes", 15) \
            else "R-QTA-2"
        return ChargeDecision(rule, minutes, 0, 1, money=pricing["modification_price"],
                              modification=True)
    if work.package_minutes_left > 0:
        covered = min(minutes, work.package_minutes_left)
        rest = minutes - covered
        if rest == 0:
            return ChargeDecision("R-SUB-4", 0, minutes, 0, modification=modification,
                                  package_minutes=covered,
                                  notes=["covered by an Incident/Examination package"])
        decision = _price_by_time(profile, work, rest)
        return ChargeDecision(**{**decision.to_dict(), "package_minutes": covered,
                                 "unbilled_minutes": decision.unbilled_minutes + covered})
    if work.plan_covers_work and not modification:
        return ChargeDecision("R-SUB-1", 0, minutes, 0,
                              notes=[f"covered by the {work.plan or 'support'} plan"])
    return _price_by_time(profile, work, minutes)


def _price_by_time(profile: PolicyProfile, work: WorkContext, minutes: int) -> ChargeDecision:
    pricing = profile.section("pricing")
    modification = work.kind == "modification"
    mode = pricing["mode"]
    if mode == "credits":
        return _price_in_credits(profile, work, minutes)
    # R-PAY-1: on a paid-work ticket the profile's kinds of work are paid (ImageCMS: the
    # technical work, not the consultation itself); a profile naming none pays every kind.
    paid_kinds = pricing.get("paid_work_kinds")
    paid = work.paid_work and (paid_kinds is None or work.kind in paid_kinds)
    if mode == "paid_after_period" and paid and pricing.get("hourly_rate"):
        unit_minutes = pricing.get("paid_unit_minutes", 15)
        units = _units(minutes, unit_minutes)
        rate = Money.parse(pricing["hourly_rate"])
        money = rate.times(Decimal(units * unit_minutes) / Decimal(60))
        return ChargeDecision("R-PAY-1", units * unit_minutes, 0, units, money=str(money),
                              modification=modification)
    if modification:
        return ChargeDecision("R-TKT-9", 0, minutes, 0, modification=True,
                              notes=["beyond the quota: custom development, not support"])
    if mode == "paid_after_period" and work.paid_work and not paid:
        return ChargeDecision("R-PAY-1", 0, minutes, 0,
                              notes=[f"{work.kind} is not paid work: it is not charged"])
    return ChargeDecision("R-SUB-1", 0, minutes, 0, notes=["support work is not charged"])


def _price_in_credits(profile: PolicyProfile, work: WorkContext,
                      minutes: int) -> ChargeDecision:
    """R-CRD-4 (15-minute units, 10 credits each) and R-CRD-5 (notices cap the bill); the
    units, the thresholds and the notices' names are the profile's."""
    credits_cfg = profile.section("credits")
    notices = credits_cfg["notices"]
    unit_minutes = credits_cfg["unit_minutes"]
    per_unit = credits_cfg["credits_per_unit"]
    units = _units(minutes, unit_minutes)
    billable_minutes = minutes
    notes: list[str] = []
    rule = "R-CRD-4"
    # R-CRD-5: minutes past the replenish threshold need the replenish notice.
    after = credits_cfg["replenish_notice_after_minutes"]
    if notices["replenish"] not in work.notices:
        allowed = max(0, after - work.ticket_minutes_before)
        if billable_minutes > allowed:
            notes.append(f"{billable_minutes - allowed} min past {after} min not billed: "
                         "no replenish notice")
            billable_minutes = allowed
            rule = "R-CRD-5"
    units = _units(billable_minutes, unit_minutes)
    credits = units * per_unit
    # R-CRD-5: a ticket's bill above the threshold needs the charge notice first.
    threshold = credits_cfg["notice_over_credits"]
    if notices["over_credits"] not in work.notices \
            and work.ticket_billed_credits + credits > threshold:
        allowed_credits = max(0, threshold - work.ticket_billed_credits)
        notes.append(f"{credits - allowed_credits} credits over {threshold} not billed: "
                     "no charge notice")
        units = allowed_credits // per_unit
        credits = units * per_unit
        billable_minutes = min(billable_minutes, units * unit_minutes)
        rule = "R-CRD-5"
    modification = work.kind == "modification"
    return ChargeDecision(rule, billable_minutes, minutes - billable_minutes, units,
                          credits=credits, modification=modification,
                          requires_balance=modification, notes=notes)
