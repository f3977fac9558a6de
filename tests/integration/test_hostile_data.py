"""Data that got into the store before commands were checked (a NUL character in an id,
a name or a work log's agent) breaks none of the log's readers: the projector
quarantines the events whose rows PostgreSQL refuses, `rebuild --compare` reaches the
same verdict and finds no difference (it crashed in its COPY before), and `verify` and
`audit all` pass (R-AUD-1, R-AUD-2, R-AUD-3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from domain.commands import args as arg_specs
from domain.policy.profile import builtin_profile
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.pipeline import Pipeline
from tests.conftest import cli_env

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def cli(settings, *args: str):
    env = cli_env(settings)
    return CliRunner().invoke(main, list(args), env=env)


def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets any string through the argument specs, as before NULs were refused."""
    def any_string(value, name):
        return value

    for command, (required, optional) in list(arg_specs.SPECS.items()):
        monkeypatch.setitem(arg_specs.SPECS, command, (
            {k: any_string if v in (arg_specs.ident, arg_specs.text) else v
             for k, v in required.items()},
            {k: any_string if v in (arg_specs.ident, arg_specs.text) else v
             for k, v in optional.items()}))


HISTORY = [
    # a customer whose id holds a NUL: every row of it and of its account is refused (a
    # NUL in a name reaches no row any more: the name is sealed, R-PRV-1, and a customer
    # id with a NUL can have no data key, so this one registers without personal data)
    ("register_customer", {"customer": "nul\x00cust"}),
    ("register_customer", {"customer": "c0", "name": "a\x00b"}),
    ("purchase_credits", {"customer": "nul\x00cust", "purchase": "p1", "package": 80}),
    # a clean ticket whose second event holds a NUL: it and the later ones wait
    ("register_customer", {"customer": "c1"}),
    ("purchase_credits", {"customer": "c1", "purchase": "p2", "package": 80}),
    ("open_ticket", {"customer": "c1", "ticket": "t1", "department": "technical",
                     "channel": "helpdesk", "subject": "Checkout fails"}),
    ("log_work", {"ticket": "t1", "agent": "a\x001", "minutes": 30,
                  "kind": "investigation", "classification": "third_party_addon"}),
    ("log_work", {"ticket": "t1", "agent": "a1", "minutes": 15,
                  "kind": "investigation", "classification": "third_party_addon"}),
    ("register_customer", {"customer": "c2"}),
]


def test_r_aud_2_a_nul_stored_before_checks_breaks_no_rebuild_verify_or_audit(
        settings, monkeypatch):
    system = bootstrap(settings)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0)
        with monkeypatch.context() as patch:
            unchecked(patch)
            for n, (command, args) in enumerate(HISTORY, start=1):
                system.desk.execute(command, args, T0 + timedelta(minutes=n))
        Pipeline(system).sync()
        quarantined = system.connect().execute(
            "SELECT count(*) FROM quarantine").fetchone()[0]
    finally:
        system.close()
    assert quarantined >= 3  # the live projector refused them

    rebuilt = cli(settings, "rebuild", "--compare", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    result = json.loads(rebuilt.output)
    assert result["differs"] is False, result["differences"]
    assert any("NUL character" in f for f in result["failures"])
    assert any(f.startswith("ticket.work_logged") and "parked" in f
               for f in result["failures"])

    verified = cli(settings, "verify", "--kafka")
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output

    audited = cli(settings, "audit", "all")
    assert audited.exit_code == 0, audited.output
    assert "2 charges audited, 2 agree" in audited.output
