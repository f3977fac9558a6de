"""The commands a history was made of, read back from its events (for what-if, R-AUD-4).

Every event type is exactly one of: the event a command is named by (`ticket.opened` is
`open_ticket`), an event a command or timer records alongside it (a `credit.charged`
rides with `ticket.work_logged`), a timer's event (fired again by the replay's own
scheduler, from the replayed state, so a changed SLA target moves its breach), a
policy adoption, or a change of who may act. The table below says which;
`unclassified` lets a test catch a new event type that nobody has placed. Pure: no I/O.

A replay never decrypts (R-PRV-1): no decision reads a name, an e-mail, a subject or a
body, so they are replayed as `WITHHELD` (and an erased customer replays like any
other). A domain is replayed as its ref: the same domain, the same text, so ownership
and per-domain plans decide as they did. A domain recorded in plain text before refs
existed is given as the ref of that text (`ref`, the live desk's cipher), the ref a
later event of the same domain carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.personal import plain_text
from eventlog.envelope import Envelope

#: What a replay gives for a personal text it was recorded with (see the module doc).
WITHHELD = "[personal data]"

#: A domain's ref from its text (the cipher's `ref`).
Ref = Callable[[str], str]


@dataclass(frozen=True)
class RecordedCommand:
    """A command as it was given: its name, arguments and instant (the event's time)."""

    command: str
    args: dict[str, Any]
    at: str
    position: int


def _d(e: Envelope, *names: str) -> dict[str, Any]:
    return {name: e.data.get(name) for name in names}


def _withheld(e: Envelope, *names: str) -> dict[str, Any]:
    return {name: None if e.data.get(name) is None else WITHHELD for name in names}


def _domain(e: Envelope, ref: Ref) -> dict[str, Any]:
    text = plain_text(e.data.get("domain"))
    return {"domain": e.data.get("domain_ref") or (ref(text) if text else None)}


def _plain_ref(text: str) -> str:
    return text.lower()


Derive = Callable[[Envelope, Ref], tuple[str, dict[str, Any]]]

COMMANDS: dict[str, Derive] = {
    "customer.registered": lambda e, r: ("register_customer", {
        "customer": e.customer, "desk": e.tenant, **_withheld(e, "email", "name"),
        **_d(e, "anonymous")}),
    "customer.license_bought": lambda e, r: ("buy_license", {
        "customer": e.customer, **_d(e, "license", "product"), **_domain(e, r)}),
    "customer.package_bought": lambda e, r: ("buy_package", {
        "customer": e.customer, **_d(e, "purchase", "package")}),
    "subscription.started": lambda e, r: ("start_subscription", {
        "customer": e.customer, **_d(e, "subscription", "plan", "term"), **_domain(e, r)}),
    "subscription.plan_changed": lambda e, r: ("change_plan", {
        "subscription": e.ref, "plan": e.data["plan"]}),
    "subscription.cancelled": lambda e, r: ("cancel_subscription", {"subscription": e.ref}),
    "credit.purchased": lambda e, r: ("purchase_credits", {
        "customer": e.customer, "purchase": e.data["purchase"],
        "package": e.data["credits"]}),
    "credit.addon_granted": lambda e, r: ("grant_addon_credits", {
        "customer": e.customer, **_d(e, "addon", "paid", "in_package")}),
    "ticket.opened": lambda e, r: ("open_ticket", {
        "customer": e.customer, **_d(e, "ticket", "department", "channel", "category"),
        **_withheld(e, "subject", "body"), **_domain(e, r)}),
    "ticket.agent_replied": lambda e, r: ("agent_reply", {
        "ticket": e.ref, "agent": e.data["agent"],
        "waiting_on_customer": e.data["status"] == "waiting_on_customer"}),
    "ticket.customer_replied": lambda e, r: ("customer_reply", {"ticket": e.ref}),
    "ticket.customer_notified": lambda e, r: ("notify_customer", {
        "ticket": e.ref, **_d(e, "agent", "notice")}),
    "ticket.work_logged": lambda e, r: ("log_work", {
        "ticket": e.ref, **_d(e, "agent", "minutes", "kind", "classification")}),
    "ticket.solved": lambda e, r: ("solve_ticket", {"ticket": e.ref, "agent": e.data["agent"]}),
    "ticket.declined": lambda e, r: ("decline_ticket", {
        "ticket": e.ref, **_d(e, "agent", "reason")}),
    "ticket.forwarded": lambda e, r: ("forward_ticket", {
        "ticket": e.ref, **_d(e, "agent", "to", "estimate_hours")}),
    "ticket.merged": lambda e, r: ("mark_duplicate", {
        "ticket": e.ref, **_d(e, "of", "technical_fault")}),
    "ban.imposed": lambda e, r: ("ban", {
        "customer": e.customer, **_d(e, "agent", "reason", "until")}),
    "ban.lifted": lambda e, r: ("lift_ban", {"customer": e.customer, "agent": e.data["agent"]}),
    "dispute.opened": lambda e, r: ("open_dispute", {
        "customer": e.customer, "dispute": e.ref, "charge": e.data["charge_id"]}),
    "dispute.resolved": lambda e, r: ("resolve_dispute", {
        "dispute": e.ref, **_d(e, "agent", "outcome", "reason")}),
    "customer.erased": lambda e, r: ("erase_customer", {
        "customer": e.customer, **_d(e, "by", "reason")}),
}

#: Events a command (or a timer) records alongside the one it is named by: replaying
#: the command records them again (or not, if the changed policy decides otherwise).
ALONGSIDE = frozenset({
    "policy.tenant_founded", "customer.subscription_added", "customer.package_assigned",
    "customer.allowance_set",
    "customer.request_counted", "customer.modification_counted", "credit.account_opened",
    "credit.charged", "credit.compensated", "credit.request_held",
    "credit.requests_released", "ban.record_opened", "ban.duplicate_noted",
    "ban.spam_suspected", "domain.claimed", "command.accepted", "ticket.charge_disputed",
})

#: Events timers record: the replay's scheduler fires timers from the replayed state.
TIMERS = frozenset({
    "ticket.sla_breached", "ticket.closed", "ban.expired", "customer.support_period_ended",
    "subscription.expired", "dispute.review_overdue", "customer.month_rolled_over",
})

ADOPTION = "policy.profile_adopted"

#: Records of the deployment itself, not of any desk's history: never replayed.
DEPLOYMENT_RECORDS = frozenset({"privacy.store_migrated"})

#: Who may act (R-ACL-1): no bearing on what a policy decides, so never replayed (a
#: replay decides as nobody in particular, `SupportDesk.execute` without an actor).
ACCESS = frozenset({"principal.issued", "principal.revoked"})


def recorded_command(envelope: Envelope, ref: Ref = _plain_ref) -> RecordedCommand | None:
    """Returns the command `envelope` is named by, or None for any other event. `ref`
    gives the ref of a domain recorded in plain text (default: its lower-case text)."""
    derive = COMMANDS.get(envelope.type)
    if derive is None:
        return None
    command, args = derive(envelope, ref)
    return RecordedCommand(command, args, envelope.time, envelope.position)


def unclassified(event_types: set[str]) -> set[str]:
    """Returns the event types this module does not know how to replay."""
    return (event_types - set(COMMANDS) - ALONGSIDE - TIMERS - ACCESS - {ADOPTION}
            - DEPLOYMENT_RECORDS)
