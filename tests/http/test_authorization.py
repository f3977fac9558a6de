"""R-ACL-3 over HTTP: the table in docs/api.md is `domain.access`'s, and every cell of it
holds on a running server.

For each action and role: `—` is 403 `forbidden`; `yes` succeeds; `own` succeeds on the
customer principal's own account, ticket, charge or dispute and is 403 `not_owner` on
another customer's. Each cell sets up what its request needs (as the local operator)
and sends one real request with the role's token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.access import COMMAND_ROLES, OWN_ONLY, READ_ROLES
from domain.commands.args import SPECS
from tests.http.conftest import ROLES, Api, unique

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
CP = "cart-power"


def doc_table() -> dict[str, dict[str, str]]:
    """{action: {role: cell}} of the table in docs/api.md."""
    table: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:1] == ["action"]:
            header = cells
        elif header and re.fullmatch(r"`[a-z_]+`", cells[0]):
            table[cells[0].strip("`")] = dict(zip(header[2:], cells[2:], strict=True))
    return table


def code_table() -> dict[str, dict[str, str]]:
    def cell(action: str, role: str, roles: frozenset[str]) -> str:
        if role not in roles:
            return "—"
        return "own" if role == "customer" and action in OWN_ONLY else "yes"

    return {action: {role: cell(action, role, roles) for role in ROLES}
            for action, roles in {**COMMAND_ROLES, **READ_ROLES}.items()}


TABLE = doc_table()


def test_r_acl_3_the_table_in_docs_api_md_is_the_table_the_code_keeps():
    assert code_table() == TABLE


# --- what each cell sends ---------------------------------------------------------------

def customer_of(role: str, own: bool, desk: str = CP) -> str:
    return f"{'a' if own else 'b'}-{desk}"


def ticket_of(api: Api, customer: str, charged: bool = False) -> str:
    ticket = unique("t")
    api.run("open_ticket", customer=customer, ticket=ticket, department="technical",
            channel="helpdesk", subject="Checkout fails")
    if charged:
        api.run("log_work", ticket=ticket, agent="a1", minutes=15, kind="investigation")
    return ticket


def dispute_of(api: Api, customer: str) -> str:
    dispute = unique("d")
    ticket = ticket_of(api, customer, charged=True)
    api.run("open_dispute", customer=customer, dispute=dispute, charge=f"{ticket}/1")
    return dispute


def subscription(api: Api) -> str:
    name = unique("s")
    api.run("start_subscription", customer="a-cs-cart", subscription=name, plan="plus",
            term="month")
    return name


def new_customer(api: Api, banned: bool = False) -> str:
    name = unique("c")
    api.run("register_customer", customer=name, desk=CP)
    if banned:
        api.run("ban", customer=name, agent="a1", reason="rudeness")
    return name


Request = tuple[str, str, str, Any]  # desk, method, path, body
Builder = Callable[[Api, str, bool], Request]


def command(desk: str, do: str, args: dict[str, Any]) -> Request:
    return desk, "POST", "/commands", {"do": do, "args": args}


def agent_work(do: str, args: Callable[[Api], dict[str, Any]]) -> Builder:
    def build(api: Api, role: str, own: bool) -> Request:
        takes_agent = "agent" in SPECS[do][0]
        extra = {"agent": "a-from-service"} if role == "service" and takes_agent else {}
        return command(CP, do, {**args(api), **extra})
    return build


def mine(args: dict[str, Any], role: str, customer: str) -> dict[str, Any]:
    """A customer principal's own id fills in; others name the customer."""
    return args if role == "customer" else {"customer": customer, **args}


COMMANDS: dict[str, Builder] = {
    "open_ticket": lambda api, role, own: command(CP, "open_ticket", mine(
        {"ticket": unique("t"), "department": "technical", "channel": "helpdesk",
         "subject": "x"} | ({"customer": customer_of(role, own)} if not own else {}),
        role, customer_of(role, own))),
    "customer_reply": lambda api, role, own: command(CP, "customer_reply", {
        "ticket": ticket_of(api, customer_of(role, own))}),
    "open_dispute": lambda api, role, own: command(CP, "open_dispute", mine(
        {"dispute": unique("d"),
         "charge": f"{ticket_of(api, customer_of(role, own), charged=True)}/1"},
        role, customer_of(role, own))),
    "agent_reply": agent_work("agent_reply", lambda api: {"ticket": ticket_of(api, "a-" + CP)}),
    "log_work": agent_work("log_work", lambda api: {
        "ticket": ticket_of(api, "a-" + CP), "minutes": 15, "kind": "investigation"}),
    "notify_customer": agent_work("notify_customer", lambda api: {
        "ticket": ticket_of(api, "a-" + CP), "notice": "charge_over_40"}),
    "solve_ticket": agent_work("solve_ticket", lambda api: {
        "ticket": ticket_of(api, "a-" + CP)}),
    "decline_ticket": agent_work("decline_ticket", lambda api: {
        "ticket": ticket_of(api, "a-" + CP), "reason": "info_not_provided"}),
    "forward_ticket": agent_work("forward_ticket", lambda api: {
        "ticket": ticket_of(api, "a-" + CP), "to": "custom_development"}),
    "mark_duplicate": agent_work("mark_duplicate", lambda api: {
        "ticket": ticket_of(api, "a-" + CP), "of": ticket_of(api, "a-" + CP),
        "technical_fault": True}),
    "ban": agent_work("ban", lambda api: {"customer": new_customer(api),
                                          "reason": "rudeness"}),
    "lift_ban": agent_work("lift_ban", lambda api: {"customer": new_customer(api, True)}),
    "resolve_dispute": agent_work("resolve_dispute", lambda api: {
        "dispute": dispute_of(api, "a-" + CP), "outcome": "rejected", "reason": "fine"}),
    "register_customer": lambda api, role, own: command(CP, "register_customer", {
        "customer": unique("c")}),
    "buy_license": lambda api, role, own: command("cs-cart", "buy_license", {
        "customer": "a-cs-cart", "license": unique("l"), "product": "cs-cart"}),
    "start_subscription": lambda api, role, own: command("cs-cart", "start_subscription", {
        "customer": "a-cs-cart", "subscription": unique("s"), "plan": "plus",
        "term": "month"}),
    "change_plan": lambda api, role, own: command("cs-cart", "change_plan", {
        "subscription": subscription(api), "plan": "ultimate"}),
    "cancel_subscription": lambda api, role, own: command("cs-cart", "cancel_subscription", {
        "subscription": subscription(api)}),
    "buy_package": lambda api, role, own: command(CP, "buy_package", {
        "customer": "a-" + CP, "purchase": unique("k"), "package": "incident"}),
    "purchase_credits": lambda api, role, own: command(CP, "purchase_credits", {
        "customer": "a-" + CP, "purchase": unique("p"), "package": 80}),
    "grant_addon_credits": lambda api, role, own: command(CP, "grant_addon_credits", {
        "customer": "a-" + CP, "addon": unique("addon"), "paid": True}),
    "erase_customer": lambda api, role, own: (CP, "POST", f"/customers/{new_customer(api)}"
                                              "/erase", {"reason": "request 1"}),
}


def fresh(path: str, api: Api) -> str:
    """`path` read once the projector has applied everything written so far."""
    return f"{path}{'&' if '?' in path else '?'}after={api.head()}"


READS: dict[str, Builder] = {
    "whoami": lambda api, role, own: (CP, "GET", "/me", None),
    "ticket": lambda api, role, own: (CP, "GET", fresh(
        f"/tickets/{ticket_of(api, customer_of(role, own))}", api), None),
    "customer": lambda api, role, own: (CP, "GET", fresh(
        f"/customers/{customer_of(role, own)}", api), None),
    "charges": lambda api, role, own: (CP, "GET", fresh(
        f"/customers/{customer_of(role, own)}/charges", api), None),
    "receipt": lambda api, role, own: (CP, "GET", (
        f"/charges/{ticket_of(api, customer_of(role, own), charged=True)}/1"), None),
    "disputes": lambda api, role, own: (CP, "GET", fresh(
        f"/customers/{customer_of(role, own)}/disputes", api), None),
    "dispute": lambda api, role, own: (CP, "GET", fresh(
        f"/disputes/{dispute_of(api, customer_of(role, own))}", api), None),
    "queue": lambda api, role, own: (CP, "GET", fresh("/queues/technical", api), None),
    "as_of": lambda api, role, own: (CP, "GET", "/customers/a-cart-power/as-of?at="
                                     + datetime.now(UTC).isoformat().replace("+", "%2B"),
                                     None),
    "what_if": lambda api, role, own: (CP, "POST", "/what-if",
                                       {"set": {"credits.unit_minutes": 10}}),
    "adopt_profile": lambda api, role, own: (CP, "POST", "/profile",
                                             {"profile": "cart-power@1"}),
    "list_tokens": lambda api, role, own: (CP, "GET", "/tokens", None),
    "create_token": lambda api, role, own: (CP, "POST", "/tokens", {"role": "auditor"}),
    "revoke_token": lambda api, role, own: (CP, "DELETE", "/tokens/" + api.issue(
        CP, "agent").split(".")[1], None),
    "pipeline": lambda api, role, own: (CP, "GET", "/pipeline", None),
    "retry_dead_letters": lambda api, role, own: (CP, "POST", "/dead-letters/retry", None),
}

CELLS = [(action, role) for action in TABLE for role in ROLES]


def send(api: Api, role: str, request: Request) -> httpx.Response:
    desk, method, path, body = request
    with api.client(api.token(desk, role)) as client:
        return client.request(method, f"/v1/desks/{desk}{path}", json=body)


@pytest.mark.parametrize(("action", "role"), CELLS)
def test_r_acl_3_every_cell_of_the_table_holds_over_http(api: Api, action: str, role: str):
    build = {**COMMANDS, **READS}[action]
    cell = TABLE[action][role]
    response = send(api, role, build(api, role, True))
    if cell == "—":
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
        return
    assert response.status_code in (200, 201), response.text
    if cell == "own":
        other = send(api, role, build(api, role, False))
        assert other.status_code == 403, other.text
        assert other.json()["code"] == "not_owner"
