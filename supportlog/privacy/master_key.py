"""The master key of personal data: where it comes from, and whether it is the store's.

Every customer's data key is stored wrapped by the master key (`supportlog.privacy.
keys`), so the database alone never holds a key that opens personal data: a copy of
the database, a dump or a backup is ciphertext and wrapped keys (docs/privacy.md). The
master key is `SUPPORTLOG_MASTER_KEY` (64 hex digits or base64 of 32 bytes), or the file
`SUPPORTLOG_HOME/master.key` (mode 0600, created on first use, `supportlog.keyfile`).

The store records which master key it is sealed under (`privacy_master`: the key's id,
never the key) and the key that makes domains' refs, wrapped by it. A process whose
master key is missing or another one may not seal personal data (commands that carry
it are refused, saying why) and reads show `[cannot decrypt: ...]` instead of the text:
never garbage, and never a new key that would seal what nobody can read later.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from domain.errors import SupportlogError
from supportlog.keyfile import create_secret_file, parse_secret, read_secret_file
from supportlog.settings import Settings

#: The key file's name under `SUPPORTLOG_HOME`.
MASTER_KEY_FILE = "master.key"
_WHAT = "master key"


class MasterKeyError(SupportlogError):
    """Raised when personal data cannot be sealed or opened: the master key is missing,
    unreadable, exposed or not this store's."""

    code = "master_key"


@dataclass(frozen=True)
class MasterKey:
    """The master key; its repr and its id never show the key."""

    raw: bytes

    def __repr__(self) -> str:
        return f"MasterKey(id={self.id})"

    @property
    def id(self) -> str:
        """A short public name of the key (16 hex digits of a hash): safe to print."""
        return hashlib.sha256(b"supportlog master key id\x00" + self.raw).hexdigest()[:16]

    def wrap(self, key: bytes) -> bytes:
        """Returns `key` wrapped with this key (AES key wrap, RFC 3394)."""
        return aes_key_wrap(self.raw, key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Returns the key `wrapped` holds; raises MasterKeyError if this key did not
        wrap it (AES key wrap checks its integrity: a wrong key never gives a key)."""
        try:
            return aes_key_unwrap(self.raw, wrapped)
        except InvalidUnwrap as e:
            raise MasterKeyError(f"master key {self.id} does not unwrap this store's keys "
                                 "(a wrong key, or the wrapped key was altered)") from e


def key_path(settings: Settings) -> Path:
    """Returns where the key file is (or would be created)."""
    return settings.home / MASTER_KEY_FILE


def configured_master_key(settings: Settings) -> MasterKey | None:
    """Returns the key `SUPPORTLOG_MASTER_KEY` or the key file gives (None: neither)."""
    if settings.master_key is not None:
        return MasterKey(parse_secret(settings.master_key, "SUPPORTLOG_MASTER_KEY", _WHAT,
                                      MasterKeyError))
    raw = read_secret_file(key_path(settings), _WHAT, MasterKeyError)
    return None if raw is None else MasterKey(raw)


@dataclass(frozen=True)
class SettledMaster:
    """The store's master key as this process has it and the ref key it unwraps; or,
    when personal data may not be sealed or opened, why (`problem`)."""

    key: MasterKey | None
    ref_key: bytes | None
    problem: str | None


def read_record(conn: psycopg.Connection) -> tuple[str, bytes] | None:
    """Returns the store's (master key id, wrapped ref key), or None."""
    row = conn.execute("SELECT master_key_id, wrapped_ref_key FROM privacy_master").fetchone()
    return None if row is None else (row[0], bytes(row[1]))


def settle_master(settings: Settings, conn: psycopg.Connection,
                  create: Callable[[Path], MasterKey] | None = None) -> SettledMaster:
    """Returns the master key to seal with, checked against the store's record.

    With no key configured and none recorded, it creates one (the key file) and records
    it with a new ref key. It never raises for a missing or foreign key: the problem is
    returned, personal data is then neither sealed nor opened, and everything else goes
    on."""
    create = create or (lambda path: MasterKey(create_secret_file(
        path, _WHAT, "SUPPORTLOG_MASTER_KEY", MasterKeyError)))
    record = read_record(conn)
    try:
        key = configured_master_key(settings)
        if key is None and record is None:
            key = create(key_path(settings))
    except MasterKeyError as e:
        return SettledMaster(None, None, e.message)
    if record is None:
        assert key is not None
        conn.execute("INSERT INTO privacy_master (master_key_id, wrapped_ref_key) "
                     "VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (key.id, key.wrap(secrets.token_bytes(32))))
        record = read_record(conn)  # another starter may have recorded its key first
        assert record is not None
    source = "SUPPORTLOG_MASTER_KEY" if settings.master_key is not None \
        else str(key_path(settings))
    if key is None:
        return SettledMaster(None, None, (
            f"this store's personal data is sealed under master key {record[0]}, and no "
            f"master key is configured: {key_path(settings)} does not exist and "
            "SUPPORTLOG_MASTER_KEY is unset; restore the key file (mode 0600) or set "
            "SUPPORTLOG_MASTER_KEY"))
    if key.id != record[0]:
        interrupted = (f"; {next_path(settings)} holds the key of an interrupted "
                       "rotation: `supportlog privacy master-key rotate --yes` finishes it"
                       if next_path(settings).exists() else "")
        return SettledMaster(None, None, (
            f"the master key from {source} (id {key.id}) is not this store's (id "
            f"{record[0]}): use the key the store's personal data was sealed under"
            f"{interrupted}"))
    try:
        return SettledMaster(key, key.unwrap(record[1]), None)
    except MasterKeyError as e:
        return SettledMaster(None, None, e.message)


def next_path(settings: Settings) -> Path:
    """Where a rotation writes the new key before the store is rewrapped under it."""
    return key_path(settings).with_name(MASTER_KEY_FILE + ".next")


def rotate_master(settings: Settings, conn: psycopg.Connection, current: MasterKey
                  ) -> MasterKey:
    """Wraps every live data key and the ref key under a new master key, which replaces
    the key file; returns it. The data keys themselves do not change, so no sealed value
    changes: a copy of a wrapped key made before (the write-ahead log, a backup, free
    space in the table's files), an erased customer's included, opens only with the old
    master key, which is gone once its file and that file's backups are.

    The new key is written to `master.key.next` first and the store rewrapped in one
    transaction, then the file put in place: interrupted, `master.key.next` holds the key
    the store needs (a later rotation finishes the job). Raises MasterKeyError when the
    key comes from SUPPORTLOG_MASTER_KEY (the operator holds it; this process writes no
    secret anywhere else) or `current` is not the store's."""
    if settings.master_key is not None:
        raise MasterKeyError("the master key comes from SUPPORTLOG_MASTER_KEY: rotate it "
                             "where it is kept, with the key file (unset the variable)")
    pending = next_path(settings)
    staged = read_secret_file(pending, _WHAT, MasterKeyError)
    record = read_record(conn)
    if record is None or record[0] not in (current.id, staged and MasterKey(staged).id):
        raise MasterKeyError("the master key is not this store's: nothing to rotate")
    if staged is None or MasterKey(staged).id != record[0]:
        pending.unlink(missing_ok=True)  # a rotation that never reached the store
        new = MasterKey(create_secret_file(pending, _WHAT, "SUPPORTLOG_MASTER_KEY",
                                           MasterKeyError))
        with conn.transaction():
            record = conn.execute("SELECT master_key_id, wrapped_ref_key FROM "
                                  "privacy_master FOR UPDATE").fetchone()
            if record[0] != current.id:
                raise MasterKeyError("the store's master key changed meanwhile")
            conn.execute("UPDATE privacy_master SET master_key_id = %s, wrapped_ref_key = %s",
                         (new.id, new.wrap(current.unwrap(bytes(record[1])))))
            rows = conn.execute("SELECT customer, wrapped_key FROM customer_keys WHERE "
                                "wrapped_key IS NOT NULL FOR UPDATE").fetchall()
            with conn.cursor() as cursor:
                cursor.executemany(
                    "UPDATE customer_keys SET wrapped_key = %s WHERE customer = %s",
                    [(new.wrap(current.unwrap(bytes(w))), c) for c, w in rows])
    else:
        new = MasterKey(staged)  # the store was rewrapped; the file was not yet replaced
    os.replace(pending, key_path(settings))
    return new
