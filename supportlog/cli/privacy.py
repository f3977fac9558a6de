"""Commands of personal data (R-PRV, docs/privacy.md): `erase`, and `privacy show`,
`privacy report`, `privacy migrate` and `privacy master-key show|rotate`.

Wiring only: each command builds the system from the settings, calls one function of
`supportlog.privacy` and prints its answer. The command line is the operator's, who is
entitled to see personal data (`privacy show`); erasing is irreversible, so it asks for
`--yes` and says first what it will do.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import click

from supportlog.cli.shared import EXIT_CHECK_FAILED, operator, settings, system


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(erase)
    main.add_command(privacy)


@click.command()
@click.argument("customer")
@click.option("--reason", required=True,
              help="Why (the request's reference); kept in the log for ever, so never "
                   "the customer's personal data.")
@click.option("--by", "by", default=None, metavar="WHO",
              help="Who erases, recorded on the event [default: this command line's "
                   "operator, cli:<os user>].")
@click.option("--yes", "confirmed", is_flag=True,
              help="Confirm: the customer's personal data can never be read again.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def erase(customer: str, reason: str, by: str | None, confirmed: bool,
          as_json: bool) -> None:
    """Erase CUSTOMER's personal data (R-PRV-1, R-PRV-2): `customer.erased` is recorded
    and published, and the customer's data key destroyed with it; balances, charges,
    receipts and verification stay. Without --yes, only say what would be erased."""
    from supportlog.privacy.report import unprotected_events

    with system() as built:
        if not confirmed:
            row = built.personal.key_row(customer)
            plain = unprotected_events(built.desk, customer).events
            key = (f"data key {row.key_id}" if row and row.wrapped else
                   "no data key" if row is None else f"its key, destroyed {row.erased_at}")
            raise click.UsageError(
                f"erasing {customer} destroys {key}: their sealed personal data can "
                f"never be read again; {plain} stored event(s) hold theirs in plain text, "
                "which erasure cannot reach (`supportlog privacy migrate`). Add --yes "
                "to erase")
        actor = operator()
        done = built.erase_customer(customer, reason=reason, by=by or actor.id, actor=actor)
    if as_json:
        click.echo(json.dumps(done.to_dict(), indent=2))
        return
    when = done.erased_at.isoformat() if done.erased_at else "-"
    click.echo(f"{customer}: " + ("erased before, at " if done.before else "erased at ")
               + when + (f"; data key {done.key_id} destroyed" if done.key_id else ""))
    if done.unprotected:
        click.echo(f"warning: {done.unprotected} stored event(s) of {customer} hold "
                   "personal data in plain text, written before it was sealed: erasure "
                   "cannot reach them; `supportlog privacy migrate` copies the store "
                   "without them (docs/privacy.md)")


@click.group()
def privacy() -> None:
    """Personal data (docs/privacy.md): what the store holds of a customer, what of it
    is in plain text, re-encrypting an old store, the master key."""


@privacy.command("show")
@click.argument("customer")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def privacy_show(customer: str, as_json: bool) -> None:
    """Every personal field the store holds of CUSTOMER, decrypted (the customer's right
    of access): `[erased]` once they were erased."""
    from supportlog.privacy.report import personal_data

    with system() as built:
        values = personal_data(built.desk, built.personal, customer)
    if as_json:
        click.echo(json.dumps(values, indent=2, ensure_ascii=False))
        return
    if not values:
        click.echo(f"the store holds no personal data of {customer}")
    for v in values:
        click.echo(f"position {v['position']} {v['event']} {v['field']} ({v['stored']}): "
                   f"{v['text']}")


@privacy.command("report")
@click.option("--customer", metavar="C", help="Only this customer's events.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def privacy_report(customer: str | None, as_json: bool) -> None:
    """Stored events that hold personal data in plain text (written before it was
    sealed); exit 1 if there are any."""
    from supportlog.privacy.report import unprotected_events

    with system() as built:
        found = unprotected_events(built.desk, customer)
        keys = built.connect().execute(
            "SELECT count(*), count(*) FILTER (WHERE wrapped_key IS NULL) "
            "FROM customer_keys").fetchone()
    if as_json:
        click.echo(json.dumps({**found.to_dict(), "keys": keys[0], "erased": keys[1]},
                              indent=2))
    else:
        click.echo(f"{keys[0]} customer key(s), {keys[1]} of them destroyed (erased)")
        click.echo(f"{found.events} stored event(s) of {len(found.by_customer)} "
                   "customer(s) hold personal data in plain text"
                   + (": " + ", ".join(f"{t} {n}" for t, n in sorted(found.by_type.items()))
                      if found.events else ""))
    if found.events:
        sys.exit(EXIT_CHECK_FAILED)


@privacy.command("migrate")
@click.option("--into", "target_url", required=True, metavar="DATABASE_URL",
              help="The new, empty store.")
@click.option("--topic", "target_topic", required=True,
              help="The new store's topic (not the old one: it holds plain text).")
@click.option("--by", "by", required=True, metavar="WHO", help="Who migrates.")
@click.option("--reason", required=True, help="Why: recorded in the new store.")
@click.option("--yes", "confirmed", is_flag=True, help="Confirm.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def privacy_migrate(target_url: str, target_topic: str, by: str, reason: str,
                    confirmed: bool, as_json: bool) -> None:
    """Copy this store into a new one with every personal field sealed, verified event
    by event, and recorded (`privacy.store_migrated`); the old store is only read."""
    from supportlog.bootstrap import bootstrap
    from supportlog.privacy.migrate import migrate_store, prepare_target

    if not confirmed:
        raise click.UsageError("the new store is written from scratch: add --yes")
    chosen = settings()
    if target_topic == chosen.topic:
        raise click.UsageError("the new store needs a new topic: the old one holds the "
                               "plain text")
    with system() as source:
        prepare_target(source.connect(), target_url)
        target = bootstrap(replace(source.settings, database_url=target_url,
                                   topic=target_topic))
        try:
            report = migrate_store(source, target, by=by, reason=reason)
        finally:
            target.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"copied {report.events} events up to position {report.source_head}: "
               f"{report.rewritten} rewritten, {report.sealed} personal values sealed, "
               f"{len(report.erased_customers)} erased customer(s); the new store "
               f"verifies, and every event reads as before (mapping sha256 "
               f"{report.mapping_sha256[:16]})")
    click.echo("next: relay the new store to its topic (DATABASE_URL=<new> "
               f"SUPPORTLOG_TOPIC={target_topic} supportlog run); then drop the old "
               "database, delete the old topic and destroy their backups")


@privacy.group("master-key")
def master_key() -> None:
    """The master key that wraps every customer's data key (ids only, never a key)."""


@master_key.command("show")
def master_key_show() -> None:
    """Which master key this process has and which the store records (ids only, never a
    key); exit 1 if personal data cannot be sealed or opened."""
    from supportlog.privacy.master_key import read_record

    with system() as built:
        record = read_record(built.connect())
        key_id, problem = built.personal.master_key_id, built.personal.problem
    click.echo(f"this process: {f'master key {key_id}' if key_id else 'no usable master key'}")
    if record is not None:
        click.echo(f"the store:    master key {record[0]}")
    if problem is not None:
        click.echo(f"personal data can be neither sealed nor read: {problem}")
        sys.exit(EXIT_CHECK_FAILED)


@master_key.command("rotate")
@click.option("--yes", "confirmed", is_flag=True,
              help="Confirm: the old master key stops opening anything.")
def master_key_rotate(confirmed: bool) -> None:
    """Wrap every data key under a new master key, which replaces SUPPORTLOG_HOME/
    master.key. Copies of wrapped keys made before (backups, the write-ahead log), an
    erased customer's included, then open only with the old key: destroy it and its
    backups. Stop every other process of the deployment first."""
    from supportlog.privacy.master_key import configured_master_key, rotate_master

    if not confirmed:
        raise click.UsageError("the old master key will open nothing any more (keep it "
                               "only as long as backups that need it): add --yes")
    with system() as built:
        current = configured_master_key(built.settings)
        if current is None:
            raise click.UsageError("no master key is configured: nothing to rotate")
        new = rotate_master(built.settings, built.connect(), current)
    click.echo(f"master key {new.id} now wraps every data key (was {current.id}); "
               "destroy every copy of the old key file")
