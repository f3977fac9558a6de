"""Plain text for people: receipts, states as of an instant, and rebuild differences.

Programs get the same content as JSON (`--json`); these functions only lay it out. Pure.
"""

from __future__ import annotations

from typing import Any

from replay.as_of import CustomerAt
from replay.compare import TableDiff
from replay.receipt import Receipt


def _amount(credits: Any, money: Any) -> str:
    if money:
        return str(money)
    return f"{credits or 0} credits"


def _by(actor: dict[str, str] | None) -> str:
    """` [by <role> <id>]`: who caused an event (R-ACL-1); nothing for an event that
    records nobody (one stored before principals existed)."""
    return f" [by {actor['role']} {actor['id']}]" if actor else ""


def receipt_text(r: Receipt) -> str:
    """Returns the receipt of one charge as lines of text."""
    verdict = "agrees with re-pricing" if r.agrees else "*** MISMATCH ***"
    t = r.ticket
    lines = [f"charge {r.charge_id}: {_amount(r.charge.get('credits'), r.charge.get('money'))}"
             f" on {r.charged_at}  [{verdict}]",
             f"customer  {r.customer} (desk {r.tenant})",
             f"ticket    {t['ticket']} \"{t['subject']}\", {t['department']} via {t['channel']},"
             f" opened {t['opened_at']}, plan {t['plan'] or '-'} ({t['entitlement']})",
             f"work log of {t['ticket']} (> marks the charged entry):"]
    for e in r.entries:
        charge = f" -> {e['charge_id']} {_amount(e['credits'], e['money'])}" \
            if e["charge_id"] else ""
        lines.append(f"  {'>' if e['audited'] else ' '} #{e['entry']} {e['at']} {e['agent']}"
                     f" {e['minutes']} min {e['kind']}"
                     f"{' (' + e['classification'] + ')' if e['classification'] else ''}"
                     f" {e['rule']}: {e['billable_minutes']} billable, "
                     f"{e['unbilled_minutes']} unbilled{charge}{_by(e.get('actor'))}")
    p, inputs = r.pricing, r.inputs
    profile = r.profile
    lines.append(f"priced    rule {p['rule']} under "
                 + (f"{r.charge.get('profile_id')} v{profile['version']} (digest "
                    f"{profile['digest'][:12]}, adopted {profile['adopted_at']})"
                    if profile else f"v{r.charge.get('profile_version')} (NOT IN THE LOG)"))
    lines.append(f"          classification {inputs.get('classification') or '-'}, "
                 f"{p['billable_minutes']} min billable, {p['unbilled_minutes']} unbilled, "
                 f"{p['units']} units -> {_amount(p.get('credits'), p.get('money'))}")
    lines.extend(f"          note: {note}" for note in p.get("notes") or [])
    if r.notices:
        for n in r.notices:
            when = "before the charge" if n["before_charge"] else "after the charge"
            lines.append(f"notice    {n['notice']} at {n['at']} by {n['agent']} ({when})"
                         f"{_by(n.get('actor'))}")
    else:
        lines.append("notice    none given on this ticket")
    if r.account:
        hold = r.account["hold"]
        held = f", hold reserved {hold['reserved']} captured {hold['captured']}" if hold else ""
        lines.append(f"balance   {r.account['balance_before']} -> "
                     f"{r.account['balance_after']} credits{held}")
    else:
        lines.append("balance   no credit account movement (not charged in credits)")
    for d in r.disputes:
        lines.append(f"dispute   {d['dispute']} opened {d['opened_at']}, review due "
                     f"{d['due_at']} ({d['review_business_days']} business days, "
                     f"{d['calendar']}){_by(d.get('opened_by'))}")
        if d["overdue_at"]:
            lines.append(f"          review overdue at {d['overdue_at']}")
        if d["status"] == "open":
            lines.append("          still open")
        else:
            lines.append(f"          {d['status']} by {d['reviewer']} at {d['resolved_at']}: "
                         f"\"{d['reason']}\"{_by(d.get('resolved_by'))}")
    for c in r.compensations:
        lines.append(f"compensation +{c['credits']} credits at {c['at']} for dispute "
                     f"{c['dispute']} (balance {c['balance_before']} -> "
                     f"{c['balance_after']}); the charge itself stands (R-DSP-3)"
                     f"{_by(c.get('actor'))}")
    lines.append("checks")
    lines.extend(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in r.checks)
    return "\n".join(lines)


def as_of_text(s: CustomerAt) -> str:
    """Returns one customer's state at an instant as lines of text."""
    q = s.quota
    limit = q["requests_limit"] if q["requests_limit"] is not None else "unlimited"
    lines = [f"{s.customer} (desk {s.tenant}, profile v{s.profile_version}) as of "
             f"{s.at.isoformat()}",
             f"registered   {s.registered_at.isoformat()}"
             f"{' (anonymous)' if s.anonymous else ''}",
             f"balance      {s.balance}"
             + (f"; requests held until paid: {', '.join(s.held_requests)}"
                if s.held_requests else ""),
             f"quota {q['month']}  requests {q['requests_used']}/{limit}, modifications "
             f"{q['modifications_used']}, free used {q['free_used']}/"
             f"{q['free_limit'] if q['free_limit'] is not None else '-'}"
             if q["counted"] else f"quota {q['month']}  nothing counted yet this month"]
    open_holds = [h for h in s.holds if h["outstanding"]]
    lines.append(f"holds        {len(s.holds)} on charges, {len(open_holds)} outstanding")
    for lic in s.licenses:
        lines.append(f"licence      {lic['license']} {lic['product']} ({lic['plan']}), support "
                     f"until {lic['support_until'].isoformat()}"
                     f"{'' if lic['in_period'] else ' (period over)'}")
    for sub in s.subscriptions:
        lines.append(f"subscription {sub['subscription']} {sub['plan']} {sub['status']}, "
                     f"ends {sub['ends_at'].isoformat()}"
                     f"{'' if sub['in_force'] else ' (not in force)'}")
    if s.ban is None:
        lines.append("ban          none")
    else:
        until = s.ban["until"].isoformat() if s.ban["until"] else "indefinitely"
        lines.append(f"ban          {s.ban['reason']} by {s.ban['by_agent']} since "
                     f"{s.ban['since'].isoformat()} until {until}")
    lines.append(f"tickets      {len(s.tickets)}")
    for t in s.tickets:
        due = f" due {t.due_at.isoformat()}" if t.due_at else ""
        lines.append(f"  {t.ticket:<12} {t.status:<20} SLA {t.sla}{due}"
                     f"{' (awaiting payment)' if t.awaiting_payment else ''}, "
                     f"{t.minutes_logged} min logged, {t.charges} charge(s)")
    lines.append(f"disputes     {len(s.disputes)}")
    for d in s.disputes:
        lines.append(f"  {d['dispute']:<12} on {d['charge_id']}: {d['status']}"
                     f"{' (overdue)' if d['overdue'] else ''}, review due "
                     f"{d['due_at'].isoformat()}")
    return "\n".join(lines)


def diff_text(diffs: list[TableDiff], limit: int = 20) -> str:
    """Returns the rebuild's row-level differences, at most `limit` rows per table."""
    lines: list[str] = []
    for d in diffs:
        if d.equal:
            lines.append(f"{d.table:<24} equal ({d.live_rows} rows)")
            continue
        if d.schema:
            lines.append(f"{d.table:<24} SCHEMA DIFFERS: {d.schema}")
            continue
        lines.append(f"{d.table:<24} DIFFERS: {len(d.rows)} row(s) "
                     f"(live {d.live_rows}, rebuilt {d.rebuilt_rows})")
        for row in d.rows[:limit]:
            key = ", ".join(f"{k}={v}" for k, v in row.key.items())
            if row.kind == "changed":
                live, rebuilt = row.live or {}, row.rebuilt or {}
                cols = "; ".join(f"{c}: live {live.get(c)!r}, rebuilt {rebuilt.get(c)!r}"
                                 for c in row.changed_columns)
                lines.append(f"  changed  {key}: {cols}")
            elif row.kind == "extra":
                lines.append(f"  extra    {key}: in live, not in the log's fold")
            else:
                lines.append(f"  missing  {key}: in the log's fold, not in live")
        if len(d.rows) > limit:
            lines.append(f"  ... and {len(d.rows) - limit} more (--json shows all)")
    return "\n".join(lines)
