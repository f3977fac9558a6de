"""Servers for the long reliability runs: a home of their own in a temporary folder (or
the one given), started with the code `supportlog infra up` runs, stopped at the end."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from supportlog.embedded import EmbeddedInfra
from supportlog.settings import Settings


@contextlib.contextmanager
def own_servers(broker: str, home: Path | None = None) -> Iterator[Settings]:
    """Settings for a fresh database and topic on an embedded home of `broker`."""
    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="supportlog-reliability-"))) / "home"
        infra = EmbeddedInfra(home, broker, Settings.from_env().cache_dir)
        state = infra.up()
        stack.callback(infra.down)
        name = f"r_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(state.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        yield Settings(database_url=state.database_url.rsplit("/", 1)[0] + f"/{name}",
                       kafka_bootstrap=state.kafka_bootstrap, home=home,
                       topic=f"events-{name}", partitions=4, group_id=f"group-{name}",
                       broker=broker)
