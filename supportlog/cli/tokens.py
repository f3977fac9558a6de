"""Commands of principals: `token create`, `token list`, `token revoke` (R-ACL-1).

The command line is a trusted local tool: it manages any desk's principals and records
itself as the operator who did (`cli:<os user>`). A new token is printed once, as the
last line of the output, so a script can take it with `tail -n 1`; only its hash is kept.
"""

from __future__ import annotations

import json

import click

from domain.actor import TOKEN_ROLES
from supportlog.cli.shared import operator, system


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(token)


@click.group()
def token() -> None:
    """Bearer tokens of the HTTP API: one principal of one desk each (R-ACL)."""


@token.command("create")
@click.option("--desk", required=True, help="The desk (profile id) the principal acts on.")
@click.option("--role", required=True, type=click.Choice(TOKEN_ROLES),
              help="customer, agent, desk_admin, auditor or service.")
@click.option("--customer", default=None, help="The customer a customer principal is.")
@click.option("--name", default=None, help="A label for people (who holds it).")
def token_create(desk: str, role: str, customer: str | None, name: str | None) -> None:
    """Issue a principal and print its bearer token, once, as the last line."""
    with system() as built:
        record, secret = built.principals().create(desk=desk, role=role, customer=customer,
                                                   name=name, by=operator())
    bound = f" as customer {record.customer}" if record.customer else ""
    click.echo(f"principal {record.principal}: {record.role} of desk {record.desk}{bound}")
    click.echo("the token below is shown only this once; only its hash is kept:")
    click.echo(secret)


@token.command("list")
@click.option("--desk", required=True, help="The desk whose principals to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def token_list(desk: str, as_json: bool) -> None:
    """List a desk's principals (never their tokens), oldest first."""
    with system() as built:
        records = built.principals().list(desk, operator())
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    for r in records:
        state = f"revoked {r.revoked_at.isoformat()}" if r.revoked_at else "active"
        bound = f" customer {r.customer}" if r.customer else ""
        label = f" \"{r.name}\"" if r.name else ""
        click.echo(f"{r.principal:<28} {r.role:<10}{bound}{label}  issued "
                   f"{r.issued_at.isoformat()}, {state}")
    if not records:
        click.echo(f"desk {desk} has no principals")


@token.command("revoke")
@click.argument("principal")
def token_revoke(principal: str) -> None:
    """Revoke PRINCIPAL's token: it stops working at once."""
    with system() as built:
        record = built.principals().revoke(principal, operator())
    assert record.revoked_at is not None
    click.echo(f"principal {record.principal} revoked at {record.revoked_at.isoformat()}")
