"""The read models behind the scenario checks: balances and their ledger (R-CRD-9),
quota counters (R-QTA), tickets with SLA state (R-SLA), charges, bans (R-BAN-4),
disputes (R-DSP) and the timers table. Each fold only reads its event: the decisions
(balances after, counters after, due times) were made by the domain and recorded.
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Delete, Update, Upsert, folds

# --- balances and ledger --------------------------------------------------------------

_CAUSES = {
    "credit.purchased": ("purchase", "purchase"),
    "credit.addon_granted": ("addon", "addon"),
    "credit.charged": ("charge", "charge_id"),
    "credit.compensated": ("dispute", "dispute"),
}


@folds(*_CAUSES)
def fold_balances(e: Any) -> list[Change]:
    """Sets the balance after the change and writes its ledger line."""
    d = e.data
    cause_type, cause_key = _CAUSES[e.type]
    return [
        Upsert("balances", {"customer": e.customer},
               {"credits": d["balance_after"], "updated_at": e.time}),
        Upsert("ledger", {"event_id": e.id}, {
            "customer": e.customer, "at": e.time,
            "delta": d["balance_after"] - d["balance_before"],
            "balance_after": d["balance_after"], "cause_type": cause_type,
            "cause": str(d[cause_key])}),
    ]


@folds("credit.account_opened")
def fold_balance_opened(e: Any) -> list[Change]:
    return [Upsert("balances", {"customer": e.customer}, {"credits": 0, "updated_at": e.time})]


@folds("customer.registered")
def fold_registered(e: Any) -> list[Change]:
    """A registered customer has a zero balance and no ban from the start, as rows: a
    row that appeared only on first use would leave "missing" to be read as a value
    (R-QTA-1, R-CRD-9, R-BAN-4). Registration is a customer's first event, so these
    rows never overwrite a later one."""
    return [Upsert("balances", {"customer": e.customer}, {"credits": 0, "updated_at": e.time}),
            Upsert("bans", {"customer": e.customer}, {"banned": False, "updated_at": e.time})]


# --- quotas ---------------------------------------------------------------------------

@folds("customer.request_counted", "customer.modification_counted",
       "customer.allowance_set")
def fold_quotas(e: Any) -> list[Change]:
    """Each event carries every counter of its month: the row is set whole. The
    allowance set when an entitlement starts makes the row before the first ticket
    (R-QTA-1); a log recorded before that event existed makes it at the first counted
    request, as it did then."""
    d = e.data
    return [Upsert("quotas", {"customer": e.customer}, {
        "month": d["month"], "requests_used": d["requests_used"],
        "requests_limit": d["requests_limit"], "modifications_used": d["modifications_used"],
        "free_used": d["free_used"], "free_limit": d["free_limit"]}),
        # the counters reset when the month ends in the desk's timezone (R-QTA-3)
        Upsert("timers", {"timer_id": f"rollover:{e.customer}"}, {
            "kind": "month_rollover", "subject": e.customer, "due_at": d["rollover_at"]})]


@folds("customer.month_rolled_over")
def fold_quota_rollover(e: Any) -> list[Change]:
    """The month's counters start at zero and the rollover timer is done (R-QTA-3)."""
    return [Upsert("quotas", {"customer": e.customer}, {
        "month": e.data["month"], "requests_used": 0, "modifications_used": 0,
        "free_used": 0, "free_limit": e.data["free_limit"],
        "requests_limit": e.data.get("requests_limit")}),
        Delete("timers", {"timer_id": f"rollover:{e.customer}"})]


# --- licences and subscriptions: their expiry timers ----------------------------------

@folds("customer.license_bought")
def fold_license_timer(e: Any) -> list[Change]:
    subject = f"{e.customer}/{e.data['license']}"
    return [Upsert("timers", {"timer_id": f"period:{subject}"}, {
        "kind": "support_period_end", "subject": subject,
        "due_at": e.data["period_ends_at"]})]


@folds("customer.support_period_ended")
def fold_license_timer_done(e: Any) -> list[Change]:
    return [Delete("timers", {"timer_id": f"period:{e.customer}/{e.data['license']}"})]


@folds("subscription.started")
def fold_subscription_timer(e: Any) -> list[Change]:
    return [Upsert("timers", {"timer_id": f"subscription:{e.data['subscription']}"}, {
        "kind": "subscription_expiry", "subject": e.data["subscription"],
        "due_at": e.data["ends_at"]})]


# --- tickets --------------------------------------------------------------------------

_MEASURES = ("first_response_seconds", "first_response_business_seconds",
             "resolution_seconds", "resolution_business_seconds", "waiting_seconds",
             "waiting_business_seconds")


def _measured(e: Any, **when_measured: Any) -> dict[str, Any]:
    """The R-SLA-4 times the event recorded, with the calendar and clock that counted
    them, plus `when_measured`. An event recorded before the measures existed has none:
    its ticket's columns stay NULL (unknown), so a live table and a rebuild agree and
    no figure is guessed."""
    m = e.data.get("measured")
    if not m:
        return {}
    return {**{k: m[k] for k in _MEASURES if k in m}, **when_measured,
            "measured_calendar_id": m["calendar_id"],
            "measured_calendar_version": m["calendar_version"],
            "measured_clock_mode": m["clock_mode"]}


@folds("ticket.opened")
def fold_ticket_opened(e: Any) -> list[Change]:
    d = e.data
    sla = d.get("sla") or {}
    changes: list[Change] = [Upsert("tickets", {"ticket": d["ticket"]}, {
        "customer": e.customer, "tenant": e.tenant, "department": d["department"],
        "channel": d["channel"], "category": d.get("category"), "status": "new",
        "plan": d.get("plan"), "rank": d["rank"], "queue_order": d["queue_order"],
        "opened_at": e.time, "last_customer_comment_at": e.time,
        "first_response_due": sla.get("due_at"), "sla_target": sla.get("target"),
        "sla_breached": False, "awaiting_payment": d["awaiting_payment"],
        "updated_at": e.time, **_measured(e)})]
    if sla.get("due_at"):
        changes.append(Upsert("timers", {"timer_id": f"sla:{d['ticket']}"}, {
            "kind": "sla_breach", "subject": d["ticket"], "due_at": sla["due_at"]}))
    return changes


def _responded(e: Any, name: str, **values: Any) -> list[Change]:
    changes: list[Change] = [Update("tickets", {"ticket": name},
                                    {**values, "updated_at": e.time})]
    if e.data.get("first_response"):
        changes[0].values["first_response_at"] = e.time
        changes.append(Delete("timers", {"timer_id": f"sla:{name}"}))
    return changes


@folds("ticket.agent_replied")
def fold_agent_replied(e: Any) -> list[Change]:
    name = e.ref
    changes = _responded(e, name, status=e.data["status"], **_measured(e))
    changes.append(Delete("timers", {"timer_id": f"autoclose:{name}"}))
    if e.data.get("silent_close_at"):
        changes.append(Upsert("timers", {"timer_id": f"autoclose:{name}"}, {
            "kind": "auto_close_silent", "subject": name,
            "due_at": e.data["silent_close_at"]}))
    return changes


@folds("ticket.customer_replied")
def fold_customer_replied(e: Any) -> list[Change]:
    name = e.ref
    # A reopened ticket is no longer resolved: its resolution is measured again when it
    # is solved again (R-SLA-4).
    reopened = {"solved_at": None, "resolution_seconds": None,
                "resolution_business_seconds": None} if e.data.get("reopened") else {}
    return [Update("tickets", {"ticket": name}, {
        "status": e.data["status"], "last_customer_comment_at": e.time, "updated_at": e.time,
        **_measured(e, **reopened)}),
        Delete("timers", {"timer_id": f"autoclose:{name}"})]


@folds("ticket.solved")
def fold_solved(e: Any) -> list[Change]:
    name = e.ref
    return [*_responded(e, name, status="solved", **_measured(e, solved_at=e.time)),
            Upsert("timers", {"timer_id": f"autoclose:{name}"}, {
                "kind": "auto_close_solved", "subject": name,
                "due_at": e.data["auto_close_at"]})]


@folds("ticket.declined", "ticket.forwarded")
def fold_stopped(e: Any) -> list[Change]:
    name = e.ref
    status = "declined" if e.type == "ticket.declined" else "forwarded"
    return [*_responded(e, name, status=status, **_measured(e)),
            Delete("timers", {"timer_id": f"autoclose:{name}"}),
            Delete("timers", {"timer_id": f"sla:{name}"})]


@folds("ticket.merged")
def fold_merged(e: Any) -> list[Change]:
    name = e.ref
    return [Update("tickets", {"ticket": name}, {"status": "merged", "updated_at": e.time,
                                                  **_measured(e)}),
            Delete("timers", {"timer_id": f"sla:{name}"}),
            Delete("timers", {"timer_id": f"autoclose:{name}"})]


@folds("ticket.closed")
def fold_closed(e: Any) -> list[Change]:
    name = e.ref
    return [Update("tickets", {"ticket": name}, {"status": "closed", "updated_at": e.time,
                                                  **_measured(e)}),
            Delete("timers", {"timer_id": f"autoclose:{name}"})]


@folds("ticket.sla_breached")
def fold_breached(e: Any) -> list[Change]:
    name = e.ref
    return [Update("tickets", {"ticket": name}, {"sla_breached": True, "updated_at": e.time}),
            Delete("timers", {"timer_id": f"sla:{name}"})]


@folds("ticket.work_logged")
def fold_charges(e: Any) -> list[Change]:
    charge = e.data.get("charge")
    if not charge:
        return []
    return [Upsert("charges", {"charge_id": charge["charge_id"]}, {
        "customer": e.customer, "ticket": e.ref, "n": charge["n"],
        "credits": charge.get("credits"), "money": charge.get("money"),
        "rule": charge["rule"], "profile_id": charge.get("profile_id"),
        "profile_version": charge.get("profile_version"), "at": e.time})]


@folds("credit.request_held")
def fold_held(e: Any) -> list[Change]:
    return [Update("tickets", {"ticket": e.data["ticket"]}, {"awaiting_payment": True})]


@folds("credit.requests_released")
def fold_released(e: Any) -> list[Change]:
    return [Update("tickets", {"ticket": t}, {"awaiting_payment": False})
            for t in e.data["tickets"]]


# --- bans -----------------------------------------------------------------------------

@folds("ban.imposed")
def fold_ban(e: Any) -> list[Change]:
    d = e.data
    changes: list[Change] = [Upsert("bans", {"customer": e.customer}, {
        "banned": True, "scope": d["scope"], "reason": d["reason"], "since": e.time,
        "until": d.get("until"), "by_agent": d["agent"], "updated_at": e.time})]
    if d.get("until"):
        changes.append(Upsert("timers", {"timer_id": f"ban:{e.customer}"}, {
            "kind": "ban_expiry", "subject": e.customer, "due_at": d["until"]}))
    else:
        changes.append(Delete("timers", {"timer_id": f"ban:{e.customer}"}))
    return changes


@folds("ban.lifted", "ban.expired")
def fold_ban_ended(e: Any) -> list[Change]:
    return [Update("bans", {"customer": e.customer}, {"banned": False, "updated_at": e.time}),
            Delete("timers", {"timer_id": f"ban:{e.customer}"})]


# --- disputes -------------------------------------------------------------------------

@folds("dispute.opened")
def fold_dispute_opened(e: Any) -> list[Change]:
    d = e.data
    return [Upsert("disputes", {"dispute": d["dispute"]}, {
        "customer": e.customer, "charge_id": d["charge_id"], "status": "open",
        "due_at": d["due_at"], "opened_at": e.time}),
        Upsert("timers", {"timer_id": f"dispute:{d['dispute']}"}, {
            "kind": "dispute_overdue", "subject": d["dispute"], "due_at": d["due_at"]})]


@folds("dispute.review_overdue")
def fold_dispute_overdue(e: Any) -> list[Change]:
    return [Update("disputes", {"dispute": e.ref}, {"overdue": True}),
            Delete("timers", {"timer_id": f"dispute:{e.ref}"})]


@folds("dispute.resolved")
def fold_dispute_resolved(e: Any) -> list[Change]:
    d = e.data
    return [Update("disputes", {"dispute": e.ref}, {
        "status": d["outcome"], "agent": d["agent"], "reason": d["reason"]}),
        Delete("timers", {"timer_id": f"dispute:{e.ref}"})]
