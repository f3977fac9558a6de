"""Principals on the command line (R-ACL-1): a token is printed once, as the last line,
and kept only as a hash; listing never shows it; revoking stops it at once; issuing and
revoking are events recorded with the operator who did it. The command line itself acts
as the operator, kept to `--desk` when given."""

from __future__ import annotations

import hashlib
import json

import psycopg
from click.testing import CliRunner

from domain.desk import SupportDesk
from domain.policy.profile import builtin_profile
from domain.principal import Principal
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.cli.run import answer_line
from supportlog.cli.shared import operator
from supportlog.principals import TRUST_S, Principals
from supportlog.scheduler import wall_clock
from tests.integration.test_run import T0, env_for


def invoke(settings, *args: str, stdin: str | None = None):
    result = CliRunner().invoke(main, list(args), env=env_for(settings), input=stdin)
    return result


def prepared(settings) -> None:
    system = bootstrap(settings)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0)
        system.desk.adopt(builtin_profile("cs-cart"), T0)
        system.desk.execute("register_customer", {"customer": "c1"}, T0)
    finally:
        system.close()


def test_token_create_prints_the_token_last_and_keeps_only_its_hash(settings):
    prepared(settings)
    made = invoke(settings, "token", "create", "--desk", "cart-power", "--role", "customer",
                  "--customer", "c1", "--name", "portal of c1")
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    principal = token.split(".")[1]
    assert token.startswith("sl.customer-") and len(token) > 50
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT token_sha256, role, customer, name FROM principals "
                           "WHERE principal = %s", (principal,)).fetchone()
        stored = conn.execute("SELECT count(*) FROM principals WHERE "
                              "position(%s in coalesce(name, '')) > 0",
                              (token,)).fetchone()[0]
    assert bytes(row[0]) == hashlib.sha256(token.encode()).digest()
    assert row[1:] == ("customer", "c1", "portal of c1") and stored == 0

    listed = invoke(settings, "token", "list", "--desk", "cart-power", "--json")
    assert listed.exit_code == 0 and token.split(".")[2] not in listed.output
    [entry] = json.loads(listed.output)
    assert entry["principal"] == principal and entry["revoked_at"] is None
    assert entry["issued_by"] == operator().record()

    system = bootstrap(settings)
    try:
        seconds = [0.0]  # a clock the test moves: a server trusts a token TRUST_S seconds
        principals = Principals(system.desk, system.pool(1), wall_clock,
                                monotonic=lambda: seconds[0])
        assert principals.authenticate(token).customer == "c1"
        assert principals.authenticate(token[:-1] + "x") is None
        revoked = invoke(settings, "token", "revoke", principal)
        assert revoked.exit_code == 0, revoked.output
        # Revoked by another process: still trusted here until TRUST_S has passed.
        assert principals.authenticate(token) is not None
        seconds[0] += TRUST_S
        assert principals.authenticate(token) is None
        events = list(system.desk.events.get(Principal.id_for(principal)))
        assert [e.TOPIC for e in events] == ["principal.issued", "principal.revoked"]
        assert all(e.actor == operator().record() for e in events)
        assert token not in repr([vars(e) for e in events])
    finally:
        system.close()
    again = invoke(settings, "token", "revoke", principal)
    assert again.exit_code == 2 and "invalid_transition" in again.output


def test_token_create_refuses_what_does_not_fit(settings):
    prepared(settings)
    for args, code in ((["--role", "customer"], "invalid_argument"),
                       (["--role", "agent", "--customer", "c1"], "invalid_argument"),
                       (["--role", "customer", "--customer", "zz"], "unknown_customer")):
        result = invoke(settings, "token", "create", "--desk", "cart-power", *args)
        assert result.exit_code == 2 and code in result.output, result.output
    nowhere = invoke(settings, "token", "create", "--desk", "nowhere", "--role", "agent")
    assert nowhere.exit_code == 2 and "no desk 'nowhere'" in nowhere.output


def test_the_command_line_records_itself_and_keeps_to_its_desk(settings):
    """Issue #14's fourth probe: a `--desk cs-cart` session logged work on a Cart-Power
    ticket. Now the other desk's ticket does not exist for it."""
    prepared(settings)
    system = bootstrap(settings)
    try:
        desk: SupportDesk = system.desk
        clock = lambda: T0  # noqa: E731
        line = json.dumps({"do": "open_ticket", "args": {
            "customer": "c1", "ticket": "t1", "department": "technical",
            "channel": "helpdesk", "subject": "x"}})
        assert answer_line(desk, line, clock, operator("cart-power"))["accepted"]
        work = json.dumps({"do": "log_work", "args": {
            "ticket": "t1", "agent": "a1", "minutes": 15, "kind": "investigation"}})
        refused = answer_line(desk, work, clock, operator("cs-cart"))
        assert refused["code"] == "unknown_ticket"
        accepted = answer_line(desk, work, clock, operator("cart-power"))
        assert accepted["accepted"] and accepted["position"]
        last = desk.mapper.to_domain_event(desk.recorder.select_notifications(
            accepted["position"], 1)[0])
        assert last.actor == {"role": "operator", "id": operator().id}
        reused = json.dumps({"do": "log_work", "command_id": "w1", "args": {
            "ticket": "t1", "agent": "a1", "minutes": 15, "kind": "investigation"}})
        assert answer_line(desk, reused, clock)["accepted"]
        other = reused.replace('"minutes": 15', '"minutes": 30')
        assert answer_line(desk, other, clock)["code"] == "idempotency_key_reused"
    finally:
        system.close()
