"""Processes of the embedded servers: loopback ports (a free one the first time, the
recorded one ever after), liveness by PID, waiting with a deadline, and stopping by PID
(SIGTERM, then SIGKILL after a deadline).

Shared by every embedded server; it knows none of them.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import SupportlogError

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
#: How long a recorded port may stay taken before starting on it is given up.
PORT_WAIT_S = 10.0


class EmbeddedError(SupportlogError):
    """Raised when an embedded server cannot be started or does not answer in time (a
    server unavailable: exit status 3, one line naming what to do)."""

    code = "server_unavailable"
    retriable = True


@dataclass(frozen=True)
class ServerState:
    """What an embedded server is: its PID (0 once stopped), loopback port, the address
    clients use, its log, what it is (`kind`, `version`) and any other port it listens
    on (`ports`: Apache Kafka's controller). The ports are kept for good: a server
    started again listens where its clients already look."""

    name: str
    pid: int
    port: int
    address: str
    log_path: str
    kind: str = ""
    version: str = ""
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def described(self) -> str:
        """What it is, for people: `apache-kafka 4.4.0`, `postgres 18.1`."""
        return f"{self.kind or self.name} {self.version}".strip()


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux: 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """Returns a loopback TCP port that is free now, below the kernel's ephemeral range.

    A server keeps its port for good, and while it is down (a restart, a kill -9) a port
    in the ephemeral range may be handed to any outgoing connection on the machine as
    its source port, which then blocks the restart; below the range it cannot be."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        if not port_taken(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # let the OS pick
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    """Returns True if something listens on 127.0.0.1:`port` (a port in TIME_WAIT is
    free: the servers bind with SO_REUSEADDR, and so does this check)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def claim_port(port: int | None, what: str) -> int:
    """Returns `port` if it is free, a free port if None; raises EmbeddedError naming
    `what` if the recorded port is taken, rather than moving the server elsewhere, where
    its running clients would never find it."""
    if port is None:
        return free_port()
    deadline = time.monotonic() + PORT_WAIT_S  # an outgoing connection's, for a moment
    while port_taken(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    if port_taken(port):
        raise EmbeddedError(
            f"port {port}, recorded for {what}, is taken by another process; free it "
            "(or remove the state file infra.json to let supportlog choose new ports, "
            "then restart every client)")
    return port


def pid_alive(pid: int) -> bool:
    """Returns True if a process with `pid` exists and is not a zombie."""
    if pid <= 0:
        return False
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


def kill_by_pid(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stops the process `pid`: SIGTERM, then SIGKILL if it is still there after
    `timeout_s`; returns once it is gone."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        deadline = time.monotonic() + STOP_TIMEOUT_S  # not our child: the kernel reaps it
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
