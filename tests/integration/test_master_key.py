"""R-PRV-1: the master key that wraps every customer's data key lives outside the
database: created once with mode 0600 (a file others may read is refused), or given as
SUPPORTLOG_MASTER_KEY; it never shows in a message or a repr. A process whose master key
is missing or not the store's never seals personal data and never shows garbage: it
refuses the commands that carry personal data, saying why, and shows `[cannot decrypt:
why]` where the text would be; everything else goes on. A sealed value moved to another
field, or a wrapped key altered, does not open."""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from domain.errors import SupportlogError
from domain.policy.profile import builtin_profile
from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.privacy.master_key import (
    MasterKey,
    MasterKeyError,
    configured_master_key,
    key_path,
)
from supportlog.settings import ENVIRONMENT, Settings
from tests.conftest import cli_env

SECRET = bytes(range(32, 64))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NAME = "Zofia Brzęczyszczykiewicz"


def test_r_prv_1_the_master_key_never_shows_and_a_malformed_one_is_refused(tmp_path):
    settings = Settings.from_env({"SUPPORTLOG_MASTER_KEY": SECRET.hex(),
                                  "SUPPORTLOG_HOME": str(tmp_path)})
    key = configured_master_key(settings)
    assert key == MasterKey(SECRET) and repr(key) == f"MasterKey(id={key.id})"
    assert SECRET.hex() not in repr(settings) and "SUPPORTLOG_MASTER_KEY" in ENVIRONMENT
    with pytest.raises(MasterKeyError) as raised:
        configured_master_key(replace(settings, master_key="zz" * 32))
    assert "SUPPORTLOG_MASTER_KEY is not a master key" in raised.value.message
    assert "zz" * 32 not in raised.value.message


def first_store(settings: Settings):
    """A store with one named customer and a ticket, written with the master key of
    `settings.home` (created there on first use, mode 0600)."""
    system = bootstrap(settings)
    try:
        assert stat.S_IMODE(key_path(settings).stat().st_mode) == 0o600
        system.desk.adopt(builtin_profile("cart-power"), T0)
        system.desk.execute("register_customer", {"customer": "z1", "name": NAME}, T0)
        system.desk.execute("purchase_credits", {"customer": "z1", "purchase": "p1",
                                                 "package": 80}, T0)
        system.desk.execute("open_ticket", {"customer": "z1", "ticket": "z1-t1",
                                            "department": "technical", "channel": "email",
                                            "subject": "Brzęczyszczykiewicz shop"}, T0)
        return system.personal.master_key_id
    finally:
        system.close()


def other_home(settings: Settings, name: str) -> Settings:
    """Another host's home: the store's log key copied there, not its master key."""
    home = settings.home / name
    home.mkdir()
    shutil.copy(settings.home / "log.key", home / "log.key")
    return replace(settings, home=home)


@pytest.mark.parametrize("case", ["missing", "another", "another-file", "garbage-file",
                                  "exposed"])
def test_r_prv_1_without_the_store_s_master_key_nothing_personal_is_sealed_or_shown(
        settings, case):
    recorded = first_store(settings)
    other = other_home(settings, "host2")
    if case == "another":
        other = replace(other, master_key=SECRET.hex())
        expected = (f"id {MasterKey(SECRET).id}) is not this store's (id {recorded})")
    elif case in ("another-file", "garbage-file"):  # a wrong key file, kept properly
        key_path(other).write_text(SECRET.hex() if case == "another-file"
                                   else "not a key at all\n")
        key_path(other).chmod(0o600)
        expected = (f"{key_path(other)} (id {MasterKey(SECRET).id}) is not this store's "
                    f"(id {recorded})" if case == "another-file" else
                    f"{key_path(other)} is not a master key: it must be 64 hex digits")
    elif case == "exposed":
        shutil.copy(key_path(settings), key_path(other))
        key_path(other).chmod(0o644)
        expected = "has mode 0644"
    else:
        expected = f"sealed under master key {recorded}, and no master key is configured"
    system = bootstrap(other)
    try:
        assert system.personal.problem is not None and expected in system.personal.problem
        with pytest.raises(SupportlogError) as refused:
            system.desk.execute("register_customer", {"customer": "z2", "name": "Z",
                                                     "desk": "cart-power"}, T0)
        assert refused.value.code == "master_key" and expected in refused.value.message
        system.desk.execute("log_work", {"ticket": "z1-t1", "agent": "a1", "minutes": 10,
                                         "kind": "investigation"}, T0)  # nothing personal
    finally:
        system.close()
    if case == "missing":
        assert not key_path(other).exists()  # never a new key for a sealed store
    env = {**cli_env(other), "SUPPORTLOG_MASTER_KEY": other.master_key or ""}
    shown = CliRunner().invoke(main, ["privacy", "show", "z1", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert {v["text"] for v in json.loads(shown.output)} == {
        f"[cannot decrypt: {system.personal.problem}]"}
    assert NAME not in shown.output
    key = CliRunner().invoke(main, ["privacy", "master-key", "show"], env=env)
    assert key.exit_code == 1 and expected in key.output


def test_r_prv_1_a_moved_ciphertext_or_an_altered_wrapped_key_does_not_open(settings):
    first_store(settings)
    system = bootstrap(settings)
    try:
        conn = system.connect()
        row = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb FROM supportdesk_events "
            "WHERE topic = 'customer.registered'").fetchone()[0]
        name = row["name"]
        show = system.personal.revealer("z1")
        assert show("customer.registered", "name", name) == NAME
        assert show("customer.registered", "email", name).startswith(
            "[cannot decrypt: the value does not open")
        assert system.personal.revealer("z2")("customer.registered", "name", name) \
            .startswith("[cannot decrypt: key")
        conn.execute("UPDATE customer_keys SET wrapped_key = set_byte(wrapped_key, 3, "
                     "get_byte(wrapped_key, 3) # 1) WHERE customer = 'z1'")
        assert "does not unwrap" in system.personal.revealer("z1")(
            "customer.registered", "name", name)
    finally:
        system.close()


def test_r_prv_1_a_rotated_master_key_leaves_old_copies_of_wrapped_keys_unopenable(
        settings):
    """After an erasure, a copy of the erased key wrapped by the master key may live on
    in a backup or the write-ahead log; once the master key is rotated (and the old one
    destroyed) it opens with nothing that exists, and every live key still opens."""
    recorded = first_store(settings)
    system = bootstrap(settings)
    try:
        system.desk.execute("register_customer", {"customer": "z3", "name": "Keeper",
                                                  "desk": "cart-power"}, T0)
        copy = bytes(system.connect().execute(  # as a backup holds it
            "SELECT wrapped_key FROM customer_keys WHERE customer = 'z1'").fetchone()[0])
        system.erase_customer("z1", reason="request 5", by="dpo")
    finally:
        system.close()
    old = configured_master_key(settings)
    rotated = CliRunner().invoke(main, ["privacy", "master-key", "rotate", "--yes"],
                                 env=cli_env(settings))
    assert rotated.exit_code == 0, rotated.output
    new = configured_master_key(settings)
    assert old.id == recorded and new.id != old.id
    assert stat.S_IMODE(key_path(settings).stat().st_mode) == 0o600
    assert old.unwrap(copy)  # the old key opened the copy; it is gone now
    with pytest.raises(MasterKeyError):
        new.unwrap(copy)
    system = bootstrap(settings)
    try:
        assert system.personal.master_key_id == new.id
        assert system.personal.reveal("z3", "customer.registered", "name",
                                      _sealed_name(system, "z3")) == "Keeper"
    finally:
        system.close()


def _sealed_name(system, customer: str):
    return system.connect().execute(
        "SELECT convert_from(state, 'UTF8')::jsonb -> 'name' FROM supportdesk_events "
        "WHERE topic = 'customer.registered' AND convert_from(state, 'UTF8')::jsonb "
        "->> 'customer' = %s", (customer,)).fetchone()[0]
