"""Who may do what (R-ACL-3), as data: every command and every read against every role.

This table is the policy; `docs/api.md` prints it and a test walks every cell over HTTP,
so the two cannot drift. `authorize_command` is the one check of a command's role, run
by `SupportDesk.execute` before the command's arguments are parsed or anything is
loaded, whatever the entry point (HTTP, the command line, a scenario); the HTTP layer
asks `authorize_read` before it reads. What the table cannot know, because only the
handlers load the ticket or charge, the handlers decide with the actor
(`domain.actor.guard_owner` and `visible`): a customer acts only on its own account,
tickets, charges and disputes (`not_owner`), and another desk's data does not exist
(`unknown_*`, R-ACL-2).

Agent work records which agent did it. An `agent` or `desk_admin` principal acts only
as itself: a missing `agent` argument is its own id, another id is `forbidden` (nobody
can log work or uphold a dispute in the name of an agent id nobody issued). A `service`
(an integration: billing, a helpdesk front end, an import) is trusted to name the agent
or customer it acts for, as the local operator is; the event still records the service
as the actor, so the log says who made the claim. A `customer` principal's missing
`customer` argument is its own id; naming another is the domain's `not_owner`. Who asks
for an erasure (`by`) is, for a principal, the principal itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.actor import LOCAL_ROLES, TOKEN_ROLES, Actor
from domain.commands.args import SPECS
from domain.errors import ForbiddenError

#: Commands in a customer's voice: the customer itself (own account only) or a service
#: relaying it (a portal's back end, an e-mail gateway).
CUSTOMER_VOICE = ("open_ticket", "customer_reply", "open_dispute")
#: Agent work, R-ACL-3's list.
AGENT_WORK = ("agent_reply", "log_work", "notify_customer", "solve_ticket",
              "decline_ticket", "forward_ticket", "mark_duplicate", "ban", "lift_ban",
              "resolve_dispute")
#: Accounts, licences, plans and money coming in: billing integrations and the admin.
ACCOUNT_WORK = ("register_customer", "buy_license", "start_subscription", "change_plan",
                "cancel_subscription", "buy_package", "purchase_credits",
                "grant_addon_credits")

#: Erasing a customer's personal data (R-PRV-1): the desk admin alone, who answers for
#: the request (a service or an agent may not destroy a key nobody can get back).
PRIVACY_WORK = ("erase_customer",)

_ALL = frozenset(TOKEN_ROLES)

#: Which token roles may run each command (the local roles may run every one).
COMMAND_ROLES: dict[str, frozenset[str]] = {
    **{c: frozenset({"customer", "service"}) for c in CUSTOMER_VOICE},
    **{c: frozenset({"agent", "desk_admin", "service"}) for c in AGENT_WORK},
    **{c: frozenset({"desk_admin", "service"}) for c in ACCOUNT_WORK},
    **{c: frozenset({"desk_admin"}) for c in PRIVACY_WORK},
}

#: Which token roles may use each read or desk-administration action. A customer may
#: read only what is its own (`guard_owner`).
READ_ROLES: dict[str, frozenset[str]] = {
    "whoami": _ALL,
    "ticket": _ALL,
    "customer": _ALL,
    "charges": _ALL,
    "receipt": _ALL,
    "disputes": _ALL,
    "dispute": _ALL,
    "queue": frozenset({"agent", "desk_admin", "auditor", "service"}),
    "as_of": frozenset({"auditor", "desk_admin"}),
    "what_if": frozenset({"auditor", "desk_admin"}),
    "adopt_profile": frozenset({"desk_admin"}),
    "list_tokens": frozenset({"desk_admin"}),
    "create_token": frozenset({"desk_admin"}),
    "revoke_token": frozenset({"desk_admin"}),
    "pipeline": frozenset({"desk_admin", "auditor", "service"}),
    "retry_dead_letters": frozenset({"desk_admin"}),
}

#: Roles that read a customer's personal data in plain text (R-PRV-1): the customer
#: (its own), the desk's staff and auditors. A `service` reads `[sealed]` in its place:
#: an integration has the data it sent, and needs none back.
SEES_PERSONAL_DATA = frozenset({"customer", "agent", "desk_admin", "auditor"})

#: Reads and actions a customer may use only on what is its own.
OWN_ONLY = frozenset({"ticket", "customer", "charges", "receipt", "disputes", "dispute",
                      "open_ticket", "customer_reply", "open_dispute"})


def may(role: str, action: str) -> bool:
    """True if `role` may run the command or use the read `action` (local roles may do
    everything: the operator is trusted, the scheduler only fires timers)."""
    if role in LOCAL_ROLES:
        return True
    allowed = COMMAND_ROLES.get(action)
    if allowed is None:
        allowed = READ_ROLES.get(action, frozenset())
    return role in allowed


def sees_personal_data(actor: Actor) -> bool:
    """True if `actor` reads personal data in plain text (the local roles do)."""
    return actor.role in LOCAL_ROLES or actor.role in SEES_PERSONAL_DATA


def _a(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def authorize_read(actor: Actor, read: str) -> None:
    """Raises ForbiddenError unless `actor`'s role may use `read` (R-ACL-3)."""
    if not may(actor.role, read):
        raise ForbiddenError(f"{_a(actor.role)} may not use {read} (R-ACL-3)")


def authorize_command(actor: Actor | None, command: str, args: Any) -> Any:
    """Returns `args` with what the principal implies filled in (its own agent id, its
    customer id, its desk); raises ForbiddenError if its role may not run `command` or
    it claims another agent's id or another desk. Unknown commands and malformed args
    are left to the argument parser. Without an actor nothing is checked (replays)."""
    if actor is None or command not in COMMAND_ROLES:
        return args
    if not may(actor.role, command):
        raise ForbiddenError(f"{_a(actor.role)} may not {command} (R-ACL-3)")
    if not isinstance(args, Mapping):
        return args
    filled = dict(args)
    required, optional = SPECS[command]
    fields = set(required) | set(optional)
    if "agent" in fields and actor.role in ("agent", "desk_admin"):
        if filled.get("agent") is None:
            filled["agent"] = actor.id
        elif filled["agent"] != actor.id:
            raise ForbiddenError(f"{_a(actor.role)} acts only as itself: agent must be "
                                 f"{actor.id!r} or left out")
    if "by" in fields and actor.role in TOKEN_ROLES:
        if filled.get("by") is None:
            filled["by"] = actor.id
        elif filled["by"] != actor.id:
            raise ForbiddenError(f"{_a(actor.role)} acts only as itself: by must be "
                                 f"{actor.id!r} or left out")
    if "customer" in fields and actor.role == "customer" and filled.get("customer") is None:
        filled["customer"] = actor.customer
    if "desk" in fields and actor.desk is not None:
        if filled.get("desk") is None:
            filled["desk"] = actor.desk
        elif filled["desk"] != actor.desk:
            raise ForbiddenError(f"a principal of desk {actor.desk} acts on that desk only")
    return filled

