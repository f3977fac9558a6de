"""Servers of a test's own, to kill and start again: a broker of the run's kind (Tansu,
or Apache Kafka under `./sl test --broker apache-kafka`), and whole embedded homes.

The session's servers are shared by every test, so a test that kills a server kills one
of its own. Each is started with the same code as `supportlog infra up`, on the ports it
was first given, so a client running across the kill finds it again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from supportlog.embedded import EmbeddedInfra, apache_kafka, tansu
from supportlog.embedded.processes import ServerState, pid_alive
from supportlog.settings import Settings
from tests.conftest import BROKER

CACHE = Settings.from_env().cache_dir


def wait_gone(pid: int, timeout_s: float = 30.0) -> None:
    """Waits until process `pid` is gone (reaping it if it is our child)."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} still there after {timeout_s}s")
        time.sleep(0.02)


def kill9(pid: int) -> None:
    """SIGKILLs `pid` and waits until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid)


class OwnBroker:
    """A broker of the run's kind in `home`, started on the same ports every time."""

    def __init__(self, home: Path, kind: str = BROKER):
        self.home = home
        self.kind = kind
        self.state: ServerState | None = None

    @property
    def bootstrap(self) -> str:
        assert self.state is not None
        return self.state.address

    @property
    def persistent(self) -> bool:
        """Whether a restarted broker still holds what it had (Tansu: memory only)."""
        return self.kind == "apache-kafka"

    def start(self) -> OwnBroker:
        """Starts the broker (on its earlier ports, if it ran before); returns once it
        serves."""
        port = self.state.port if self.state else None
        if self.kind == "apache-kafka":
            controller = self.state.ports.get("controller") if self.state else None
            self.state = apache_kafka.start_broker(self.home, CACHE, port, controller)
        else:
            self.state = tansu.start_broker(self.home / "logs", port)
        return self

    def kill(self) -> None:
        """kill -9."""
        assert self.state is not None
        kill9(self.state.pid)

    def stop(self) -> None:
        """A clean stop (SIGTERM; Tansu needs SIGKILL after a deadline)."""
        assert self.state is not None
        (apache_kafka.stop_broker if self.kind == "apache-kafka" else tansu.stop_broker)(
            self.state)


def own_home(path: Path) -> EmbeddedInfra:
    """An embedded home of the run's broker kind, with both servers started."""
    infra = EmbeddedInfra(path, BROKER, CACHE)
    infra.up()
    return infra


def home_env(infra: EmbeddedInfra) -> dict[str, str]:
    """The environment of a `supportlog` command on the embedded home `infra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SUPPORTLOG_") and k not in ("DATABASE_URL",
                                                            "KAFKA_BOOTSTRAP_SERVERS")}
    env.update({"SUPPORTLOG_HOME": str(infra.home), "SUPPORTLOG_BROKER": infra.broker,
                "SUPPORTLOG_PARTITIONS": "4"})
    return env
