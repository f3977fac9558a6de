"""The receipt of one charge, built from its streams alone, and the checks that prove it
(R-AUD-1, R-DSP-3). Pure: no I/O; `charge_audit` reads the streams and calls this.

The receipt shows what the log says (and who said it: each event's actor, R-ACL-1, where
the event records one): the ticket's work entries and their minutes, the
classification, the rule and the profile version that priced the entry, units and
amount, the notices given and when, the balance before and after, any hold, and every
dispute of the charge with its review, outcome and compensation. Then it re-prices the
entry with `price_work` under the recorded profile version and the recorded inputs, and
checks that the inputs agree with the ticket's own history (minutes, kind, notices
given before the entry, credits billed and minutes logged before it) and that the
credit account moved by exactly the charged amount. Any failed check is a mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from domain.policy.pricing import WorkContext, price_work
from eventlog.envelope import Envelope
from replay.profiles import Adoption
from replay.streams import chain_breaks


@dataclass(frozen=True)
class Check:
    """One thing the receipt verified, and what it found."""

    name: str
    ok: bool
    detail: str


@dataclass
class Receipt:
    """Everything the log says about one charge, and whether it still adds up."""

    charge_id: str
    customer: str
    tenant: str
    charged_at: str
    ticket: dict[str, Any]
    entry: dict[str, Any]
    entries: list[dict[str, Any]]
    pricing: dict[str, Any]
    inputs: dict[str, Any]
    charge: dict[str, Any]
    profile: dict[str, Any] | None
    repriced: dict[str, Any] | None
    notices: list[dict[str, Any]]
    account: dict[str, Any] | None
    disputes: list[dict[str, Any]] = field(default_factory=list)
    compensations: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agrees": self.agrees}


def _entry_row(e: Envelope, audited: int) -> dict[str, Any]:
    d = e.data
    charge = d.get("charge") or {}
    return {"entry": d["entry"], "at": e.time, "agent": d["agent"], "minutes": d["minutes"],
            "kind": d["kind"], "classification": d.get("classification"),
            "rule": d["pricing"]["rule"], "billable_minutes": d["pricing"]["billable_minutes"],
            "unbilled_minutes": d["pricing"]["unbilled_minutes"],
            "charge_id": charge.get("charge_id"), "credits": charge.get("credits"),
            "money": charge.get("money"), "audited": d["entry"] == audited,
            "actor": e.actor}


def _compare(name: str, recorded: Any, derived: Any, what: str) -> Check:
    if recorded == derived:
        return Check(name, True, f"{what}: {recorded!r}")
    return Check(name, False, f"{what}: recorded {recorded!r}, the log gives {derived!r}")


def _input_checks(entry: Envelope, earlier: list[Envelope], notices: list[Envelope],
                  ) -> list[Check]:
    d, inputs = entry.data, entry.data["inputs"]
    classification = d.get("classification")
    for e in reversed(earlier):
        if classification is None:
            classification = e.data.get("classification")
    given = sorted({n.data["notice"] for n in notices})
    billed = sum((e.data.get("charge") or {}).get("credits") or 0 for e in earlier)
    minutes = sum(e.data["minutes"] - e.data["pricing"].get("package_minutes", 0)
                  for e in earlier)
    return [
        _compare("inputs.minutes", inputs.get("minutes"), d["minutes"], "minutes priced"),
        _compare("inputs.kind", inputs.get("kind"), d["kind"], "kind of work"),
        _compare("inputs.classification", inputs.get("classification"), classification,
                 "classification"),
        _compare("inputs.notices", sorted(inputs.get("notices", [])), given,
                 "notices given before the entry (R-CRD-5)"),
        _compare("inputs.ticket_billed_credits", inputs.get("ticket_billed_credits"),
                 billed, "credits billed on the ticket before"),
        _compare("inputs.ticket_minutes_before", inputs.get("ticket_minutes_before"),
                 minutes, "credit-priced minutes logged on the ticket before"),
    ]


def _reprice(entry: Envelope, adoption: Adoption | None,
             charge: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Check]]:
    pricing = entry.data["pricing"]
    charged, priced = _amount(charge), _amount(pricing)
    checks = [
        Check("charge.amount", charged == priced, f"charged {charged}, priced {priced}"),
        _compare("charge.rule", charge.get("rule"), pricing.get("rule"), "rule"),
    ]
    if adoption is None:
        checks.append(Check("profile", False, f"profile {charge.get('profile_id')} version "
                            f"{charge.get('profile_version')} was never adopted in the log"))
        return None, checks
    try:
        repriced = price_work(adoption.profile,
                              WorkContext.from_dict(entry.data["inputs"])).to_dict()
    except (KeyError, TypeError, ValueError) as e:
        checks.append(Check("repriced", False, f"cannot re-price: {type(e).__name__}: {e}"))
        return None, checks
    if repriced == pricing:
        checks.append(Check("repriced", True, f"re-priced under v{adoption.version}: "
                            f"{_amount(repriced)} by {repriced['rule']}, as recorded"))
    else:
        changed = sorted(k for k in set(repriced) | set(pricing)
                         if repriced.get(k) != pricing.get(k))
        checks.append(Check("repriced", False, "re-priced under v"
                            f"{adoption.version}: {_amount(repriced)} by {repriced['rule']}"
                            f", recorded {_amount(pricing)} by {pricing.get('rule')}; "
                            f"differs in {', '.join(changed)}"))
    return repriced, checks


def _amount(decision: dict[str, Any]) -> str:
    if decision.get("money"):
        return str(decision["money"])
    return f"{decision.get('credits') or 0} credits"


def _account_checks(charge: dict[str, Any], charged: list[Envelope]) -> list[Check]:
    if not charge.get("credits"):
        return [Check("account", len(charged) == 0, "no credits charged, no balance change"
                      if not charged else f"{len(charged)} credit.charged event(s) for a "
                      "charge without credits")]
    if len(charged) != 1:
        return [Check("account", False, f"expected one credit.charged event for "
                      f"{charge['charge_id']}, found {len(charged)}")]
    d = charged[0].data
    before, after, credits = d["balance_before"], d["balance_after"], d["credits"]
    on_entry = (charge.get("balance_before"), charge.get("balance_after"))
    return [
        Check("account.credits", credits == charge["credits"],
              f"the credit account deducted {credits} credits, the work entry charged "
              f"{charge['credits']}"),
        Check("account.arithmetic", after == before - credits,
              f"balance {before} - {credits} = {before - credits}, recorded {after}"),
        Check("account.balances", on_entry == (before, after),
              f"the work entry records {on_entry[0]} -> {on_entry[1]}, the credit account "
              f"{before} -> {after}"),
    ]


def _dispute_row(events: Sequence[Envelope]) -> dict[str, Any]:
    row: dict[str, Any] = {"dispute": events[0].ref, "opened_at": events[0].time,
                           "opened_by": events[0].actor,
                           "due_at": events[0].data["due_at"],
                           "review_business_days": events[0].data["business_days"],
                           "calendar": f"{events[0].data['calendar_id']} "
                                       f"v{events[0].data['calendar_version']}",
                           "status": "open", "overdue_at": None}
    for e in events[1:]:
        if e.type == "dispute.review_overdue":
            row["overdue_at"] = e.time
        elif e.type == "dispute.resolved":
            row.update(status=e.data["outcome"], resolved_at=e.time, resolved_by=e.actor,
                       reviewer=e.data["agent"], reason=e.data["reason"],
                       compensation_credits=e.data.get("compensation_credits"),
                       refund_money=e.data.get("refund_money"))
    return row


def build_receipt(charge_id: str, ticket_events: Sequence[Envelope],
                  account_events: Sequence[Envelope], adoption: Adoption | None,
                  dispute_streams: Sequence[Sequence[Envelope]]) -> Receipt | None:
    """Returns the receipt of `charge_id` from the ticket's and the credit account's
    streams, the adoption of the recorded profile version and the charge's disputes;
    None if the ticket's stream holds no such charge."""
    worked = [e for e in ticket_events if e.type == "ticket.work_logged"]
    entry = next((e for e in worked
                  if (e.data.get("charge") or {}).get("charge_id") == charge_id), None)
    if entry is None:
        return None
    charge = entry.data["charge"]
    opened = ticket_events[0]
    before = [e for e in ticket_events if e.aggregate_version < entry.aggregate_version]
    earlier = [e for e in before if e.type == "ticket.work_logged"]
    notices_before = [e for e in before if e.type == "ticket.customer_notified"]
    charged = [e for e in account_events if e.type == "credit.charged"
               and e.data["charge_id"] == charge_id]
    compensations = [e for e in account_events if e.type == "credit.compensated"
                     and e.data["charge_id"] == charge_id]
    repriced, price_checks = _reprice(entry, adoption, charge)
    receipt = Receipt(
        charge_id=charge_id, customer=entry.customer, tenant=entry.tenant,
        charged_at=entry.time,
        ticket={"ticket": opened.ref, "subject": opened.data.get("subject"),
                "department": opened.data.get("department"),
                "channel": opened.data.get("channel"), "plan": opened.data.get("plan"),
                "entitlement": opened.data.get("entitlement"), "opened_at": opened.time},
        entry=_entry_row(entry, entry.data["entry"]),
        entries=[_entry_row(e, entry.data["entry"]) for e in worked],
        pricing=entry.data["pricing"], inputs=entry.data["inputs"], charge=charge,
        profile=None if adoption is None else {
            "id": charge.get("profile_id"), "version": adoption.version,
            "digest": adoption.digest, "adopted_at": adoption.at.isoformat()},
        repriced=repriced,
        notices=[{"notice": n.data["notice"], "at": n.time, "agent": n.data["agent"],
                  "before_charge": n.aggregate_version < entry.aggregate_version,
                  "actor": n.actor}
                 for n in ticket_events if n.type == "ticket.customer_notified"],
        account=None if len(charged) != 1 else {
            "balance_before": charged[0].data["balance_before"],
            "balance_after": charged[0].data["balance_after"],
            "hold": charged[0].data.get("hold"), "rule": charged[0].data["rule"]},
        disputes=[_dispute_row(s) for s in dispute_streams if s],
        compensations=[{"dispute": c.data["dispute"], "at": c.time, "actor": c.actor,
                        "credits": c.data["credits"],
                        "balance_before": c.data["balance_before"],
                        "balance_after": c.data["balance_after"]} for c in compensations])
    receipt.checks = [*price_checks, *_input_checks(entry, earlier, notices_before),
                      *_account_checks(charge, charged)]
    if adoption is not None:
        same = adoption.digest == adoption.profile.digest
        receipt.checks.append(Check(
            "profile.digest", same, f"the adopted profile hashes to its recorded digest "
            f"{adoption.digest[:12]}" if same else f"recorded digest {adoption.digest[:12]}, "
            f"the recorded profile hashes to {adoption.profile.digest[:12]}: it was altered"))
    breaks = [*chain_breaks(ticket_events), *chain_breaks(account_events),
              *(b for s in dispute_streams for b in chain_breaks(s))]
    receipt.checks.append(Check("chain", not breaks, "; ".join(breaks) or
                                "every event read links to the one before it (R-AUD-3)"))
    return receipt
