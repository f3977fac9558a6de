"""Processes of the embedded servers: free loopback ports, liveness by PID, waiting
with a deadline, and stopping by PID (SIGTERM, then SIGKILL after a short deadline).

Shared by every embedded server; it knows none of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


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


def kill_by_pid(pid: int) -> None:
    """Stops the process `pid`: SIGTERM, then SIGKILL if it is still there after
    STOP_TIMEOUT_S; returns once it is gone."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
