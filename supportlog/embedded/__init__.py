"""The embedded servers: a real PostgreSQL 18 (`postgres`) and the Tansu Kafka-API broker
(`tansu`), on free loopback ports, started in a folder this package owns.

It records their addresses and PIDs in a state file and stops them by PID. It exists so
that a new user runs everything with one command; with `DATABASE_URL` and
`KAFKA_BOOTSTRAP_SERVERS` set, none of this runs. Only the composition root
(`supportlog.bootstrap`) starts it; the domain and the code that only talks to servers
never import it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from supportlog.embedded.postgres import start_postgres, stop_postgres
from supportlog.embedded.processes import EmbeddedError, ServerState, pid_alive, port_open
from supportlog.embedded.tansu import start_broker, stop_broker, tansu_binary

__all__ = ["EmbeddedError", "EmbeddedInfra", "InfraState", "ServerState", "tansu_binary"]

_STATE_FILE = "infra.json"


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

    def servers(self) -> list[tuple[str, str, ServerState | None]]:
        """Returns (name, health, recorded state or None) of each server, for display."""
        health = self.health()
        state = self.read_state()
        return [(name, status, getattr(state, name) if state else None)
                for name, status in health.items()]

    @staticmethod
    def _pg_alive(server: ServerState) -> bool:
        return pid_alive(server.pid) and port_open(server.port)

    @staticmethod
    def _kafka_alive(server: ServerState) -> bool:
        return pid_alive(server.pid) and port_open(server.port)
