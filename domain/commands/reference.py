"""The command vocabulary as a reference: every command, its arguments with their types
and limits, and the error codes it can answer with.

Arguments, types and limits are read from the argument specs (`args.SPECS`,
`args.CHECK_KINDS`), so the reference cannot drift from what `parse_args` accepts; what
the specs cannot say is kept here as data beside them: a sentence per command, a note
per argument, and the codes each handler can raise. Those codes are a documented table,
not derived: a handler raises through helpers and aggregates, and following every call
would guess where a table can be checked (a test holds it against every code the
scenario files expect and that random commands provoke). `supportlog commands` prints
this; docs/commands.md is generated from it. Pure: no I/O.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from domain.commands.args import CHECK_KINDS, SPECS
from domain.errors import ERRORS_BY_CODE

#: Codes every command can answer with: malformed input (before anything is loaded), a
#: principal whose role may not run it or who names another agent (R-ACL-3), a command
#: id reused for another command, and concurrent writers winning every bounded retry
#: (the only retriable code).
EVERY_COMMAND_RAISES = ("invalid_argument", "forbidden", "idempotency_key_reused",
                        "conflict")

#: What each command does, with the rules it keeps.
DESCRIPTIONS: dict[str, str] = {
    "register_customer": "Registers a customer with a desk: `desk`, else the scenario's "
                         "profile or `supportlog command --desk`.",
    "buy_license": "Records a licence bought for a product: its support period and, "
                   "after it, what support is left (R-SUB).",
    "start_subscription": "Starts a support plan for a term; a plan sold per domain "
                          "needs the domain (R-SUB).",
    "change_plan": "Moves a running subscription to another plan sold for its term.",
    "cancel_subscription": "Cancels a subscription; the paid period stays in force unless "
                           "the desk cancels immediately (R-SUB-5).",
    "buy_package": "Buys an Incident or Examination package, tied to the next technical "
                   "ticket (R-SUB-4).",
    "purchase_credits": "Buys a package of prepaid support credits (R-CRD-1).",
    "grant_addon_credits": "Grants the credits that come with an add-on, paid or free "
                           "(R-CRD-2).",
    "open_ticket": "A customer asks for help: checks bans, channel, department and the "
                   "monthly request limit, counts the request and starts the SLA clock "
                   "(R-TKT, R-QTA-5, R-SLA).",
    "agent_reply": "An agent answers; the first answer stops the SLA clock (R-SLA).",
    "customer_reply": "The customer writes again; a solved ticket reopens within the "
                      "desk's window (R-TKT-4).",
    "log_work": "An agent logs minutes of work, priced by the desk's profile: free, "
                "credits or money (R-CRD-4, R-CRD-5, R-CRD-6, R-CRD-7, R-CRD-8, R-QTA, R-PAY).",
    "notify_customer": "Records a notice given before charging more (R-CRD-5).",
    "solve_ticket": "Marks a ticket solved; it closes by itself after the desk's days.",
    "decline_ticket": "Declines a ticket with one of the desk's reasons (R-TKT-7).",
    "forward_ticket": "Forwards a ticket to custom development or sales.",
    "mark_duplicate": "Merges a ticket into an earlier one of the same customer; a "
                      "duplicate not caused by a fault counts towards spam (R-BAN-2).",
    "ban": "Bans a customer from support, until an instant or indefinitely (R-BAN).",
    "lift_ban": "Lifts a customer's ban (R-BAN-4).",
    "open_dispute": "An identified customer disputes a charge; its review is due in "
                    "business days (R-DSP-1, R-DSP-2).",
    "resolve_dispute": "Upholds or rejects a dispute; upheld, the credits come back or "
                       "the money is to be refunded, and the charge stays (R-DSP-3).",
    "erase_customer": "Erases a customer's personal data on request: the key that sealed "
                      "it is destroyed with this event; balances, charges and the log's "
                      "proofs stay (R-PRV-1, R-PRV-2). `supportlog erase` runs it and "
                      "cleans up after it.",
}

#: What an argument means, by name, wherever it appears.
ARGUMENTS: dict[str, str] = {
    "customer": "the customer's id",
    "desk": "the desk (profile id) to register with: cs-cart, cart-power, imagecms, "
            "prem-site, insales",
    "email": "the customer's e-mail address",
    "name": "the customer's name",
    "anonymous": "an account without identity: it cannot pay or dispute (R-DSP-2)",
    "license": "the licence's id",
    "product": "a product the desk sells (its profile's `products`)",
    "domain": "the shop's domain; one customer owns it (R-TKT-11)",
    "subscription": "the subscription's id",
    "plan": "a plan the desk sells (its profile's `plans`)",
    "term": "a term the plan is sold for: month, year, 1m, 3m, 6m, 12m",
    "purchase": "the purchase's id",
    "addon": "the add-on's id",
    "paid": "whether the add-on was paid for",
    "in_package": "whether the paid add-on came in a package",
    "ticket": "the ticket's id",
    "department": "technical, consultation or sales, as the desk offers them",
    "channel": "how the request came: helpdesk, email, chat or phone, as the desk "
               "offers them",
    "subject": "the ticket's subject",
    "category": "a category the desk defines (insales: account, refund, reissue, "
                "complaint, technical)",
    "body": "the request's text",
    "agent": "the agent's id",
    "waiting_on_customer": "the answer asks the customer for something: the ticket "
                           "waits, and closes if the customer stays silent",
    "minutes": "minutes worked",
    "kind": "the kind of work",
    "classification": "what the work was about; decides the price (R-CRD-8)",
    "notice": "which notice was given (R-CRD-5)",
    "reason": "why: one of the desk's reasons",
    "to": "where the ticket goes",
    "estimate_hours": "the estimate given to the customer, in hours",
    "of": "the ticket it duplicates",
    "technical_fault": "the duplicate came from a technical fault, not the customer",
    "until": "when the ban ends (none: indefinitely)",
    "dispute": "the dispute's id",
    "charge": "the charge disputed, written <ticket>/<n>: the n-th charge of the ticket",
    "outcome": "the review's outcome",
    "by": "who does it: the operator's id; a desk admin's principal id over the API "
          "(its own, filled in when left out)",
}

#: Where one command gives an argument a meaning of its own.
ARGUMENTS_OF: dict[tuple[str, str], str] = {
    ("buy_package", "package"): "incident or examination, as the desk sells them",
    ("purchase_credits", "package"): "how many credits: one of the desk's packages "
                                     "(cart-power: 80, 160, 320)",
    ("resolve_dispute", "reason"): "why, in words, for the customer",
    ("ban", "reason"): "one of the desk's ban reasons (its profile's `bans.reasons`)",
    ("decline_ticket", "reason"): "one of the desk's decline reasons (R-TKT-7)",
    ("erase_customer", "reason"): "why, in words (the request's reference): kept in the "
                                  "log for ever, so never the personal data itself",
}

#: The codes each command's handler can raise besides `EVERY_COMMAND_RAISES`.
RAISES: dict[str, tuple[str, ...]] = {
    "register_customer": ("duplicate_id",),
    "buy_license": ("unknown_customer", "customer_erased", "anonymous_not_accepted",
                    "duplicate_id", "not_owner"),
    "start_subscription": ("unknown_customer", "customer_erased", "anonymous_not_accepted",
                           "duplicate_id", "not_owner"),
    "change_plan": ("invalid_transition",),
    "cancel_subscription": ("invalid_transition",),
    "buy_package": ("unknown_customer", "customer_erased", "anonymous_not_accepted",
                    "duplicate_id"),
    "purchase_credits": ("unknown_customer", "customer_erased", "anonymous_not_accepted",
                         "duplicate_id"),
    "grant_addon_credits": ("unknown_customer", "customer_erased", "duplicate_id"),
    "open_ticket": ("unknown_customer", "customer_erased", "duplicate_id", "banned",
                    "channel_not_offered", "written_request_required", "not_owner",
                    "department_not_allowed", "request_limit_reached"),
    "agent_reply": ("unknown_ticket", "invalid_transition"),
    "customer_reply": ("unknown_ticket", "not_owner", "invalid_transition"),
    "log_work": ("unknown_ticket", "invalid_transition", "insufficient_credits"),
    "notify_customer": ("unknown_ticket", "invalid_transition"),
    "solve_ticket": ("unknown_ticket", "invalid_transition"),
    "decline_ticket": ("unknown_ticket", "invalid_transition"),
    "forward_ticket": ("unknown_ticket", "invalid_transition"),
    "mark_duplicate": ("unknown_ticket", "not_owner", "invalid_transition"),
    "ban": ("unknown_customer",),
    "lift_ban": ("unknown_customer", "invalid_transition"),
    "open_dispute": ("unknown_customer", "customer_erased", "anonymous_not_accepted",
                     "unknown_ticket", "not_owner", "duplicate_id"),
    "resolve_dispute": ("invalid_transition",),
    "erase_customer": ("unknown_customer", "customer_erased"),
}


class ReferenceError(LookupError):
    """Raised when a spec holds something the reference cannot describe: a new check,
    command or argument without its entry here."""


def describe_check(check: Callable[[Any, str], Any], where: str) -> dict[str, Any]:
    """Returns `{"type", "limits", "values"}` of an argument check: from `CHECK_KINDS`,
    or the values a `one_of` check accepts. Raises ReferenceError otherwise."""
    if check in CHECK_KINDS:
        kind, limits = CHECK_KINDS[check]
        return {"type": kind, "limits": dict(limits), "values": None}
    choices = inspect.getclosurevars(check).nonlocals.get("choices")
    if isinstance(choices, tuple) and choices:
        return {"type": "one of", "limits": {}, "values": list(choices)}
    raise ReferenceError(f"{where}: the check {check.__qualname__} is not described "
                         "(add it to args.CHECK_KINDS)")


def _argument(command: str, name: str, check: Callable[[Any, str], Any],
              required: bool) -> dict[str, Any]:
    note = ARGUMENTS_OF.get((command, name), ARGUMENTS.get(name))
    if note is None:
        raise ReferenceError(f"{command}.{name}: no description (add it to ARGUMENTS)")
    return {"name": name, "required": required,
            **describe_check(check, f"{command}.{name}"), "description": note}


def command_reference() -> list[dict[str, Any]]:
    """Returns every command, in the order of the specs, with its description, its
    arguments (required first) and the error codes it can answer with."""
    out = []
    for command, (required, optional) in SPECS.items():
        if command not in DESCRIPTIONS or command not in RAISES:
            raise ReferenceError(f"{command}: no description or error codes here")
        unknown = set(RAISES[command]) - set(ERRORS_BY_CODE)
        if unknown:
            raise ReferenceError(f"{command}: unknown error codes {sorted(unknown)}")
        out.append({
            "command": command,
            "description": DESCRIPTIONS[command],
            "arguments": [_argument(command, n, c, True) for n, c in required.items()]
                         + [_argument(command, n, c, False) for n, c in optional.items()],
            "errors": [*RAISES[command], *EVERY_COMMAND_RAISES],
        })
    return out


def type_text(argument: dict[str, Any]) -> str:
    """Returns an argument's type and limits in words: `id, at most 200 characters`,
    `integer, 1 to 100000`, `one of: upheld, rejected`."""
    if argument["values"] is not None:
        return "one of: " + ", ".join(map(str, argument["values"]))
    limits = argument["limits"]
    words = [argument["type"]]
    if "max_length" in limits:
        words.append(f"at most {limits['max_length']} characters")
    if "minimum" in limits and "maximum" in limits:
        words.append(f"{limits['minimum']} to {limits['maximum']}")
    elif "minimum" in limits:
        words.append(f"at least {limits['minimum']}")
    elif "maximum" in limits:
        words.append(f"at most {limits['maximum']}")
    return ", ".join(words)


#: What each type name means, for the reference's readers.
TYPES: dict[str, str] = {
    "id": "a string that is not only spaces",
    "name": "a name the desk's profile defines: lower-case letters, digits, '_' and '-'",
    "text": "a string, possibly empty",
    "boolean": "true or false",
    "integer": "a whole number (not a boolean)",
    "number": "a number, whole or not",
    "instant": "an ISO-8601 instant with its offset, e.g. 2026-03-02T09:00:00+04:00",
    "one of": "exactly one of the values listed",
}
