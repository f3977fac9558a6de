"""What the figures were measured on: CPUs, Python, PostgreSQL and the broker.

A ratio is only comparable between runs on like machines, so the report says which.
The broker's version is the embedded Tansu binary's own when it is the embedded one;
for a configured cluster, the API version kafka-python negotiated with it.
"""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

from eventlog.kafka_config import make_producer
from supportlog.bootstrap import System


def _tansu_version() -> str | None:
    try:
        from supportlog.embedded import tansu_binary

        out = subprocess.run([str(tansu_binary()), "--version"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return None
    return out.stdout.strip() or None


def describe(system: System, embedded: bool) -> dict[str, Any]:
    """Returns the environment of a run on `system`'s servers (`embedded`: started by
    the program, so the broker's binary can be asked its version)."""
    conn = system.connect()
    postgres = conn.execute("SHOW server_version").fetchone()[0]
    producer = make_producer(system.kafka_bootstrap)
    try:
        api = producer.config.get("api_version")
    finally:
        producer.close()
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": postgres,
        "broker": _tansu_version() if embedded else "configured",
        "broker_api_version": ".".join(map(str, api)) if api else None,
        "embedded": embedded,
    }
