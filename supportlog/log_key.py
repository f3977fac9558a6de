"""Where the log key comes from: `SUPPORTLOG_LOG_KEY`, or `SUPPORTLOG_HOME/log.key`.

The key (`eventlog.log_key`) must live outside the database, or a writer of the
database could forge seals. On first use, with no key configured and none recorded by
the store, the composition root creates one: 32 bytes from the operating system's
random source, written as 64 hex digits to `log.key` with mode 0600 (created under a
temporary name and linked into place, so a reader never sees half a key and two
starters agree on one). A key file that others may read or write is refused rather than
trusted or fixed silently: the key proves the log only while nobody else has it.

`SUPPORTLOG_LOG_KEY` (64 hex digits, or the base64 of 32 bytes) takes precedence and
never creates a file: for containers and hosts whose home folder is not kept. Errors
name where the key came from, never the key.

Every process checks its key against the store's key record when it starts
(`settle_key`): a process with another key (a second host with a fresh home folder, a
lost file replaced by a new key) would seal events that `verify` then reports as
forged, so it may not write, and the error names both keys' ids. It still reads: a
lost key loses the proof, not the data (`supportlog log-key new` starts a new key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from domain.errors import SupportlogError
from eventlog.log_key import LogKey, read_key_record, record_key
from supportlog.keyfile import create_secret_file, parse_secret, read_secret_file
from supportlog.settings import Settings

#: The key file's name under `SUPPORTLOG_HOME`.
KEY_FILE = "log.key"
_WHAT = "log key"


class LogKeyError(SupportlogError):
    """Raised when the log key is missing, unreadable, exposed or not this store's."""

    code = "log_key"


def key_path(settings: Settings) -> Path:
    """Returns where the key file is (or would be created)."""
    return settings.home / KEY_FILE


def parse_key(text: str, source: str) -> LogKey:
    """Returns the key written in `text` (64 hex digits, or base64 of 32 bytes, either
    alphabet); raises LogKeyError naming `source`, never the text."""
    return LogKey(parse_secret(text, source, _WHAT, LogKeyError))


def read_key_file(path: Path) -> LogKey | None:
    """Returns the key in `path` (None if there is no such file); raises LogKeyError for
    a file that is not a regular file, or that its owner's group or others may use."""
    raw = read_secret_file(path, _WHAT, LogKeyError)
    return None if raw is None else LogKey(raw)


def create_key_file(path: Path) -> LogKey:
    """Creates `path` with a new random key, mode 0600, unless another process created
    it first; returns the key the file holds."""
    return LogKey(create_secret_file(path, _WHAT, "SUPPORTLOG_LOG_KEY", LogKeyError))


def configured_key(settings: Settings) -> LogKey | None:
    """Returns the key `SUPPORTLOG_LOG_KEY` or the key file gives (None: neither)."""
    if settings.log_key is not None:
        return parse_key(settings.log_key, "SUPPORTLOG_LOG_KEY")
    return read_key_file(key_path(settings))


class KeySlot:
    """The desk's signer: seals with the store's key once it is settled, and refuses,
    saying why, while writing is not allowed (a read-only system, a missing or foreign
    key, a removed key record)."""

    def __init__(self, problem: str = "the log key is not settled yet") -> None:
        #: The store's key as configured, for verifying (None: none this process has).
        self.key: LogKey | None = None
        #: Why this process must not write (None: it may).
        self.problem: str | None = problem

    def settle(self, settled: SettledKey) -> None:
        """Holds `settled`'s key and, if writing must be refused, why."""
        self.key, self.problem = settled.key, settled.problem

    def __call__(self, event_hash: str) -> str:
        if self.key is None or self.problem is not None:
            raise LogKeyError(self.problem or "no log key")
        return self.key.event_mac(event_hash)


@dataclass(frozen=True)
class SettledKey:
    """The store's key as this process has it (None: none it can use) and, if it must
    not write, why. A key with a problem can still verify (the record is missing)."""

    key: LogKey | None
    problem: str | None


def settle_key(settings: Settings, conn: psycopg.Connection,
               newest: Callable[[], tuple[int, bool]]) -> SettledKey:
    """Returns the key to seal with, checked against the store's key record.

    With no key configured and none recorded, it creates one (the key file) and records
    it, sealing every event after the store's head (`newest()`: the head's position and
    whether that event carries a MAC). It never raises for a missing or foreign key: the
    system is then read-only, writers are refused with the reason, and readers go on;
    losing the key loses the proof, not the data.
    """
    record = read_key_record(conn)
    try:
        key = configured_key(settings)
        if key is None and record is None:
            key = create_key_file(key_path(settings))
    except LogKeyError as e:
        return SettledKey(None, e.message)
    if key is None:
        assert record is not None
        return SettledKey(None, (
            f"this store is sealed with log key {record.key_id}, and no key is configured: "
            f"{key_path(settings)} does not exist and SUPPORTLOG_LOG_KEY is unset; restore "
            "the key file (mode 0600) or set SUPPORTLOG_LOG_KEY (a lost key: `supportlog "
            "log-key new`)"))
    if record is None:
        head, sealed = newest()
        if sealed:
            return SettledKey(key, (
                f"the store's key record is missing, though its newest event (position "
                f"{head}) carries a MAC: it was removed. `supportlog verify` checks the "
                "store with this key; `supportlog log-key new` records a key again"))
        record = record_key(conn, key, head)
    if record.key_id != key.id:
        source = "SUPPORTLOG_LOG_KEY" if settings.log_key is not None \
            else str(key_path(settings))
        return SettledKey(None, (
            f"the log key from {source} (id {key.id}) is not this store's key (id "
            f"{record.key_id}): events sealed with it would not verify. Use the key the "
            "store was written with (copy its log.key, mode 0600, or set "
            "SUPPORTLOG_LOG_KEY); if this key is the right one, the store's key record "
            "was changed"))
    return SettledKey(key, None)
