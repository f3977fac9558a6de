"""R-ACL proven on the domain alone: roles, ownership, desks kept apart, the actor on
every event, and command ids that promise one command (in-memory store, fixed clock).

The same rules hold over HTTP (tests/http/); here each is shown where it is decided."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.access import COMMAND_ROLES, READ_ROLES, authorize_command
from domain.actor import SCHEDULER, TOKEN_ROLES, Actor
from domain.commands.args import SPECS
from domain.credit_account import CreditAccount
from domain.desk import SupportDesk
from domain.dispute import Dispute
from domain.errors import SupportlogError
from domain.policy.profile import builtin_profile
from domain.principal import Principal, issue, revoke

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=4)))  # a Monday
OPERATOR = Actor("operator", "cli:test")
ADMIN = Actor("desk_admin", "desk_admin-0001", desk="cart-power")
AGENT = Actor("agent", "agent-0001", desk="cart-power")
SERVICE = Actor("service", "service-0001", desk="cart-power")
AUDITOR = Actor("auditor", "auditor-0001", desk="cart-power")
CUSTOMER_A = Actor("customer", "customer-000a", desk="cart-power", customer="a")
CUSTOMER_B = Actor("customer", "customer-000b", desk="cart-power", customer="b")
CS_CART_AGENT = Actor("agent", "agent-0002", desk="cs-cart")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def desk() -> SupportDesk:
    """Two desks; customers a and b of cart-power with a charge each on t-a and t-b."""
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile("cart-power"), T0, actor=OPERATOR)
    desk.adopt(builtin_profile("cs-cart"), T0, actor=OPERATOR)
    for n, name in enumerate(("a", "b")):
        desk.execute("register_customer", {"customer": name, "email": f"{name}@x.example"},
                     at(n), actor=SERVICE)
        desk.execute("purchase_credits", {"customer": name, "purchase": f"p-{name}",
                                          "package": 80}, at(2 + n), actor=SERVICE)
    desk.execute("open_ticket", {"ticket": "t-a", "department": "technical",
                                 "channel": "helpdesk", "subject": "Checkout"}, at(5),
                 actor=CUSTOMER_A)
    desk.execute("open_ticket", {"ticket": "t-b", "department": "technical",
                                 "channel": "helpdesk", "subject": "Cart"}, at(6),
                 actor=CUSTOMER_B)
    for ticket in ("t-a", "t-b"):
        desk.execute("log_work", {"ticket": ticket, "minutes": 20, "kind": "investigation"},
                     at(10), actor=AGENT)
    return desk


def code_of(store: SupportDesk, actor: Actor | None, command: str, minutes: int = 60,
            **args) -> str:
    """The error code `command` is refused with; fails if it wrote anything."""
    head = store.recorder.max_notification_id()
    with pytest.raises(SupportlogError) as info:
        store.execute(command, args, at(minutes), actor=actor)
    assert store.recorder.max_notification_id() == head, "a refused command wrote events"
    return info.value.code


def test_r_acl_3_every_command_of_the_parser_has_a_row_in_the_table():
    assert set(COMMAND_ROLES) == set(SPECS)
    assert not set(COMMAND_ROLES) & set(READ_ROLES)
    for roles in (*COMMAND_ROLES.values(), *READ_ROLES.values()):
        assert roles <= set(TOKEN_ROLES)


@pytest.mark.parametrize("command", sorted(SPECS))
def test_r_acl_3_a_role_outside_the_table_is_forbidden_before_anything_is_read(command):
    for role in TOKEN_ROLES:
        actor = {"customer": CUSTOMER_A, "agent": AGENT, "desk_admin": ADMIN,
                 "auditor": AUDITOR, "service": SERVICE}[role]
        if role in COMMAND_ROLES[command]:
            continue
        with pytest.raises(SupportlogError) as info:
            authorize_command(actor, command, {})
        assert info.value.code == "forbidden", (role, command)


def test_r_acl_3_an_auditor_reads_only(desk):
    assert code_of(desk, AUDITOR, "customer_reply", ticket="t-a") == "forbidden"
    assert code_of(desk, AUDITOR, "purchase_credits", customer="a", purchase="p9",
                   package=80) == "forbidden"


def test_r_acl_2_a_customer_cannot_dispute_another_customers_charge(desk):
    """The first probe of issue #14: a command naming customer B disputed B's charge."""
    assert code_of(desk, CUSTOMER_A, "open_dispute", customer="b", dispute="d1",
                   charge="t-b/1") == "not_owner"
    assert code_of(desk, CUSTOMER_A, "open_dispute", dispute="d1",
                   charge="t-b/1") == "not_owner"
    desk.execute("open_dispute", {"dispute": "d1", "charge": "t-a/1"}, at(60),
                 actor=CUSTOMER_A)


def test_r_acl_3_an_agent_id_nobody_issued_cannot_uphold_a_dispute(desk):
    """The second probe: `"agent": "anonymous-nobody"` upheld B's dispute and credited B."""
    desk.execute("open_dispute", {"dispute": "d-b", "charge": "t-b/1"}, at(60),
                 actor=CUSTOMER_B)
    for actor in (AGENT, ADMIN):
        assert code_of(desk, actor, "resolve_dispute", 70, dispute="d-b",
                       agent="anonymous-nobody", outcome="upheld",
                       reason="looks fine") == "forbidden"
    for actor in (CUSTOMER_B, AUDITOR):
        assert code_of(desk, actor, "resolve_dispute", 70, dispute="d-b", outcome="upheld",
                       reason="mine") == "forbidden"
    desk.execute("resolve_dispute", {"dispute": "d-b", "outcome": "upheld",
                                     "reason": "reviewed"}, at(70), actor=AGENT)
    dispute = desk.load(Dispute, Dispute.id_for("d-b"))
    assert dispute.status == "upheld"
    resolved = list(desk.events.get(dispute.id))[-1]
    assert resolved.agent == AGENT.id and resolved.actor == AGENT.record()


def test_r_acl_2_customer_reply_needs_the_customers_own_ticket(desk):
    """The third probe: `customer_reply` needed no customer at all."""
    assert code_of(desk, CUSTOMER_A, "customer_reply", ticket="t-b") == "not_owner"
    desk.execute("customer_reply", {"ticket": "t-a"}, at(60), actor=CUSTOMER_A)


def test_r_acl_2_another_desks_data_reads_as_unknown(desk):
    """The fourth probe: a cs-cart session logged work on a Cart-Power ticket. To it the
    ticket does not exist: the same code and message as a ticket nobody opened."""
    with pytest.raises(SupportlogError) as foreign:
        desk.execute("log_work", {"ticket": "t-a", "minutes": 15, "kind": "investigation"},
                     at(60), actor=CS_CART_AGENT)
    with pytest.raises(SupportlogError) as unknown:
        desk.execute("log_work", {"ticket": "t-zz", "minutes": 15,
                                  "kind": "investigation"}, at(60), actor=CS_CART_AGENT)
    assert (foreign.value.code, unknown.value.code) == ("unknown_ticket", "unknown_ticket")
    assert foreign.value.message == unknown.value.message.replace("t-zz", "t-a")
    operator = Actor("operator", "cli:test", desk="cs-cart")
    assert code_of(desk, operator, "lift_ban", customer="a",
                   agent="a1") == "unknown_customer"
    assert code_of(desk, Actor("desk_admin", "x", desk="cs-cart"), "register_customer",
                   customer="c9", desk="cart-power") == "forbidden"


def test_r_acl_1_every_event_a_command_causes_records_its_actor(desk):
    desk.execute("log_work", {"ticket": "t-a", "minutes": 30, "kind": "investigation"},
                 at(60), actor=AGENT, command_id="work-1")
    notifications = desk.recorder.select_notifications(1, 10_000)
    events = [desk.mapper.to_domain_event(n) for n in notifications]
    last = [e for e in events if e.timestamp == at(60)]
    assert {e.TOPIC for e in last} == {"ticket.work_logged", "credit.charged",
                                       "command.accepted"}
    assert all(e.actor == {"role": "agent", "id": "agent-0001"} for e in last)
    assert all(e.actor is not None for e in events)
    assert "actor" not in last[0].payload  # the envelope carries it, not `data`


def test_r_acl_1_timers_record_the_scheduler(desk):
    outcome = desk.fire_timer("dispute_overdue", "nothing", "t1", at(60))
    assert outcome.events == []
    desk.execute("open_dispute", {"dispute": "d1", "charge": "t-a/1"}, at(60),
                 actor=CUSTOMER_A)
    outcome = desk.fire_timer("dispute_overdue", "d1", "dispute:d1", at(60 * 24 * 7))
    event = list(desk.events.get(Dispute.id_for("d1")))[-1]
    assert outcome.events and event.actor == SCHEDULER.record()


def test_a_command_id_promises_one_command_with_one_set_of_arguments(desk):
    """Issue #14, 5: a reused command id with other arguments was answered as a repeat."""
    first = desk.execute("purchase_credits", {"customer": "a", "purchase": "p2",
                                              "package": 160}, at(60), command_id="buy-1")
    again = desk.execute("purchase_credits", {"customer": "a", "purchase": "p2",
                                              "package": 160}, at(61), command_id="buy-1")
    assert again.repeated and again.events == first.events and first.position
    head = desk.recorder.max_notification_id()
    for command, args in (("purchase_credits", {"customer": "a", "purchase": "p2",
                                                "package": 320}),
                          ("customer_reply", {"ticket": "t-a"})):
        with pytest.raises(SupportlogError) as info:
            desk.execute(command, args, at(63), command_id="buy-1")
        assert info.value.code == "idempotency_key_reused"
    assert desk.recorder.max_notification_id() == head
    assert desk.load(CreditAccount, CreditAccount.id_for("a")).balance == 80 - 20 + 160


def test_principals_are_issued_and_revoked_by_a_desk_admin_as_events(desk):
    issued = issue(desk, principal="agent-77", role="agent", tenant="cart-power",
                   customer=None, name="Ann", now=at(60), actor=ADMIN)
    event = next(iter(desk.events.get(issued.id)))
    assert event.TOPIC == "principal.issued" and event.actor == ADMIN.record()
    assert set(event.payload) == {"principal", "role", "bound_customer", "name"}
    for actor in (AGENT, CUSTOMER_A, SERVICE, AUDITOR):
        with pytest.raises(SupportlogError) as info:
            revoke(desk, "agent-77", now=at(61), actor=actor)
        assert info.value.code == "forbidden"
    with pytest.raises(SupportlogError) as info:
        revoke(desk, "agent-77", now=at(61), actor=Actor("desk_admin", "d", desk="cs-cart"))
    assert info.value.code == "unknown_principal"
    revoke(desk, "agent-77", now=at(62), actor=ADMIN)
    assert desk.load(Principal, Principal.id_for("agent-77")).revoked_at == at(62)
    with pytest.raises(SupportlogError) as info:
        issue(desk, principal="customer-9", role="customer", tenant="cart-power",
              customer="nobody", name=None, now=at(63), actor=ADMIN)
    assert info.value.code == "unknown_customer"
