"""What the figures were measured on: CPUs, Python, PostgreSQL and the broker.

A ratio is only comparable between runs on like machines, so the report says which.
The broker is named with its version as the embedded home recorded it (Tansu's binary,
Apache Kafka's jar) when it is the embedded one; for a configured cluster, by the kind
`SUPPORTLOG_BROKER` gives, with the API version kafka-python negotiated with it.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from eventlog.kafka_config import make_producer
from supportlog.bootstrap import System, embedded_infra


def _broker(system: System, embedded: bool) -> str:
    if not embedded:
        return f"{system.settings.broker} (configured)"
    state = embedded_infra(system.settings).read_state()
    return state.kafka.described if state else system.settings.broker


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
        "broker": _broker(system, embedded),
        "broker_api_version": ".".join(map(str, api)) if api else None,
        "embedded": embedded,
    }
