"""A 32-byte secret kept outside the database: in a file of mode 0600, or an env value.

The master key of personal data (`supportlog.privacy.master_key`) is kept as the log
key is (`supportlog.log_key`): 64 hex digits (or the base64 of 32 bytes) in a file
under `SUPPORTLOG_HOME` that only its owner may read or write, created on first use
under a temporary name and linked into place (a reader never sees half a key; two
starters agree on one), or in an environment variable that never creates a file. A file
others may use is refused, not trusted or fixed silently. Errors name where the secret
came from, never the secret; the error class is the caller's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from pathlib import Path

from domain.errors import SupportlogError

SECRET_BYTES = 32


def parse_secret(text: str, source: str, what: str, error: type[SupportlogError]) -> bytes:
    """Returns the 32 bytes written in `text` (64 hex digits, or base64 of 32 bytes,
    either alphabet); raises `error` naming `source`, never the text."""
    raw = _decode(text.strip())
    if raw is None or len(raw) != SECRET_BYTES:
        raise error(f"{source} is not a {what}: it must be {2 * SECRET_BYTES} hex digits "
                    f"or the base64 of {SECRET_BYTES} bytes")
    return raw


def _decode(text: str) -> bytes | None:
    if len(text) == 2 * SECRET_BYTES:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text)
    for alphabet in (b"+/", b"-_"):
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(text, altchars=alphabet, validate=True)
    return None


def read_secret_file(path: Path, what: str, error: type[SupportlogError]) -> bytes | None:
    """Returns the secret in `path` (None if there is no such file); raises `error` for
    a file that is not a regular file, that its owner's group or others may use, or
    that does not hold a secret."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"the {what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise error(f"the {what} {path} has mode {stat.S_IMODE(info.st_mode):04o}: others "
                    f"may read or change it; after checking who had access, "
                    f"`chmod 600 {path}`")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"the {what} {path} cannot be read: {type(e).__name__}") from e
    return parse_secret(text, str(path), what, error)


def create_secret_file(path: Path, what: str, variable: str,
                       error: type[SupportlogError]) -> bytes:
    """Creates `path` with a new random secret, mode 0600, unless another process
    created it first; returns the secret the file holds."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise error(f"cannot create the {what} {path} ({type(e).__name__}: {e.strerror}): "
                    f"make SUPPORTLOG_HOME a folder this process may write, or set "
                    f"{variable}") from e
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_bytes(SECRET_BYTES).hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another starter won: use its secret
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    secret = read_secret_file(path, what, error)
    assert secret is not None
    return secret
