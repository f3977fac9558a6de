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

Every process that writes checks its key against the store's key record before it
writes anything (`check_store`): a process with another key (a second host with a fresh
home folder, a lost file replaced by a new key) would seal events that `verify` then
reports as forged, so it is refused with both keys' ids instead.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from pathlib import Path

import psycopg

from domain.errors import SupportlogError
from eventlog.log_key import KEY_BYTES, KeyRecord, LogKey, record_key
from supportlog.settings import Settings

#: The key file's name under `SUPPORTLOG_HOME`.
KEY_FILE = "log.key"


class LogKeyError(SupportlogError):
    """Raised when the log key is missing, unreadable, exposed or not this store's."""

    code = "log_key"


def key_path(settings: Settings) -> Path:
    """Returns where the key file is (or would be created)."""
    return settings.home / KEY_FILE


def parse_key(text: str, source: str) -> LogKey:
    """Returns the key written in `text` (64 hex digits, or base64 of 32 bytes, either
    alphabet); raises LogKeyError naming `source`, never the text."""
    raw = _decode(text.strip())
    if raw is None or len(raw) != KEY_BYTES:
        raise LogKeyError(f"{source} is not a log key: it must be {2 * KEY_BYTES} hex "
                          f"digits or the base64 of {KEY_BYTES} bytes")
    return LogKey(raw)


def _decode(text: str) -> bytes | None:
    if len(text) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text)
    for alphabet in (b"+/", b"-_"):
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(text, altchars=alphabet, validate=True)
    return None


def read_key_file(path: Path) -> LogKey | None:
    """Returns the key in `path` (None if there is no such file); raises LogKeyError for
    a file that is not a regular file, or that its owner's group or others may use."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise LogKeyError(f"the log key {path} is not a regular file")
    if info.st_mode & 0o077:
        raise LogKeyError(
            f"the log key {path} has mode {stat.S_IMODE(info.st_mode):04o}: others may "
            f"read or change it, so it proves nothing; after checking who had access, "
            f"`chmod 600 {path}`")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise LogKeyError(f"the log key {path} cannot be read: {type(e).__name__}") from e
    return parse_key(text, str(path))


def create_key_file(path: Path) -> LogKey:
    """Creates `path` with a new random key, mode 0600, unless another process created
    it first; returns the key the file holds."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise LogKeyError(
            f"cannot create the log key {path} ({type(e).__name__}: {e.strerror}): make "
            "SUPPORTLOG_HOME a folder this process may write, or set SUPPORTLOG_LOG_KEY"
        ) from e
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another starter won: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    key = read_key_file(path)
    assert key is not None
    return key


def configured_key(settings: Settings) -> LogKey | None:
    """Returns the key `SUPPORTLOG_LOG_KEY` or the key file gives (None: neither)."""
    if settings.log_key is not None:
        return parse_key(settings.log_key, "SUPPORTLOG_LOG_KEY")
    return read_key_file(key_path(settings))


def key_for_store(settings: Settings, record: KeyRecord | None) -> LogKey:
    """Returns the configured key, or a new one (a new key file) if none is configured
    and the store records none; raises LogKeyError if none is configured but the store
    records one, or if the configured key is not the one it records."""
    key = configured_key(settings)
    if key is None:
        if record is not None:
            raise LogKeyError(
                f"this store is sealed with log key {record.key_id}, and no key is "
                f"configured: {key_path(settings)} does not exist and SUPPORTLOG_LOG_KEY "
                "is unset; restore the key file (mode 0600) or set SUPPORTLOG_LOG_KEY")
        key = create_key_file(key_path(settings))
    if record is not None:
        _same_key(settings, key, record)
    return key


def check_store(settings: Settings, conn: psycopg.Connection, key: LogKey,
                head: int) -> KeyRecord:
    """Records `key` as the store's key if it records none yet (every event after
    `head` must then be sealed); raises LogKeyError if the store's key is another."""
    record = record_key(conn, key, head)
    _same_key(settings, key, record)
    return record


def _same_key(settings: Settings, key: LogKey, record: KeyRecord) -> None:
    if record.key_id != key.id:
        source = "SUPPORTLOG_LOG_KEY" if settings.log_key is not None \
            else str(key_path(settings))
        raise LogKeyError(
            f"the log key from {source} (id {key.id}) is not this store's key (id "
            f"{record.key_id}): events sealed with it would not verify. Use the key the "
            "store was first written with (copy its log.key, mode 0600, or set "
            "SUPPORTLOG_LOG_KEY); if this key is the right one, the store's key record "
            "was changed")
