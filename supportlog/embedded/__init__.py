"""The embedded servers: a real PostgreSQL 18 (`postgres`) and a Kafka-API broker (`kafka`:
Tansu, or Apache Kafka with SUPPORTLOG_BROKER=apache-kafka), on loopback ports, started in
a home folder this package owns.

It exists so that a new user runs everything with one command; with `DATABASE_URL` and
`KAFKA_BOOTSTRAP_SERVERS` set, none of this runs. Only the composition root
(`supportlog.bootstrap`) starts it; the domain and the code that only talks to servers
never import it.

The state file (`infra.json`, mode 0600: it holds the passwords) records which broker the
home runs, each server's PID, ports and version, and the PostgreSQL logins. It outlives
`down`: the servers keep their ports for good, so a server started again (`infra up`)
listens where every running client already looks, and the clients carry on by
themselves. A port taken meanwhile by another process is an error, never a silent move.
Servers start implicitly only when nothing is recorded as running (the first command of
a new home, or after `infra down`); a server recorded as running that is gone is a lost
server: commands report it (exit 3) and `infra up` brings it back.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from domain.errors import SupportlogError
from supportlog.embedded import apache_kafka, tansu
from supportlog.embedded.postgres import (
    ANALYST,
    SUPERUSER,
    Credentials,
    start_postgres,
    stop_postgres,
    trusts_anyone,
    url,
)
from supportlog.embedded.processes import EmbeddedError, ServerState, pid_alive, port_open
from supportlog.embedded.tansu import tansu_binary

__all__ = ["BROKERS", "EmbeddedError", "EmbeddedInfra", "InfraState", "ServerState",
           "tansu_binary"]

BROKERS = ("tansu", "apache-kafka")
_STATE_FILE = "infra.json"
_PGPASS_FILE = "pgpass"


class ServerLostError(SupportlogError):
    """Raised when a server recorded as running in the home is gone."""

    retriable = True

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class BrokerMismatchError(SupportlogError):
    """Raised when the home was set up with another broker than the one asked for."""

    code = "invalid_argument"


@dataclass(frozen=True)
class InfraState:
    """The embedded PostgreSQL and broker as recorded in the state file (PID 0: stopped)."""

    broker: str
    postgres: ServerState
    kafka: ServerState
    credentials: Credentials | None = None

    @property
    def database_url(self) -> str:
        """The superuser's URL, password included: for this program, never for display."""
        return self.postgres.address

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.address

    @property
    def recorded_running(self) -> bool:
        return bool(self.postgres.pid and self.kafka.pid)


def _write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


class EmbeddedInfra:
    """The embedded PostgreSQL and broker of one home folder."""

    def __init__(self, home: Path, broker: str = "tansu", cache: Path | None = None):
        if broker not in BROKERS:
            raise ValueError(f"unknown broker {broker!r}; one of {', '.join(BROKERS)}")
        self.home = home.resolve()
        self.broker = broker
        self.cache = cache or Path.home() / ".cache" / "supportlog"
        self.state_path = self.home / _STATE_FILE
        self.pgpass_path = self.home / _PGPASS_FILE
        self.pg_data = self.home / "pgdata"

    # --- the record -------------------------------------------------------------------

    def read_state(self) -> InfraState | None:
        """Returns the recorded state, or None if nothing was recorded. A state file of
        an older version (no broker, no logins) reads as Tansu without logins."""
        try:
            raw = json.loads(self.state_path.read_text())
            creds = raw.get("credentials")
            return InfraState(raw.get("broker", "tansu"), ServerState(**raw["postgres"]),
                              ServerState(**raw["kafka"]),
                              Credentials(**creds) if creds else None)
        except (FileNotFoundError, KeyError, TypeError, ValueError):
            return None

    def _write_state(self, state: InfraState) -> None:
        _write_private(self.state_path, json.dumps(asdict(state), indent=2))
        if state.credentials is not None:
            port = state.postgres.port
            _write_private(self.pgpass_path, "".join(
                f"127.0.0.1:{port}:*:{user}:{password}\n"
                for user, password in ((SUPERUSER, state.credentials.superuser),
                                       (ANALYST, state.credentials.analyst))))

    def analyst_url(self, state: InfraState) -> str:
        """The analyst's URL without its password, which PGPASSFILE=`pgpass_path` gives."""
        return url(state.postgres.port, ANALYST, None)

    # --- starting and stopping ----------------------------------------------------------

    def up(self) -> InfraState:
        """Starts whichever server is not running, on its recorded ports, and returns the
        state. Raises BrokerMismatchError if the home runs another broker."""
        self.home.mkdir(parents=True, exist_ok=True)
        state = self.read_state()
        self._check_broker(state)
        if self.broker == "apache-kafka":
            apache_kafka.preflight(self.cache)
        credentials = self._credentials(state)
        pg = state.postgres if state and self._alive(state.postgres) else None
        if pg is not None and state is not None and state.credentials is None:
            pg = None  # an older server without logins: restarted, and so given them
            stop_postgres(state.postgres, self.pg_data)
        if pg is None:
            pg = start_postgres(self.pg_data, credentials,
                                port=(state.postgres.port or None) if state else None)
        recorded = state.kafka if state else ServerState("kafka", 0, 0, "", "", self.broker)
        self._write_state(InfraState(self.broker, pg, recorded, credentials))
        kafka = recorded if self._alive(recorded) else self._start_broker(recorded)
        new_state = InfraState(self.broker, pg, kafka, credentials)
        self._write_state(new_state)
        return new_state

    def running(self) -> InfraState:
        """Returns the state of servers that are running, starting both only if nothing
        is recorded as running (a new home, or after `down`). Raises ServerLostError,
        naming `supportlog infra up`, if a server recorded as running is gone: starting
        it here would hide the loss from whoever else uses it."""
        state = self.read_state()
        if state is None or not state.recorded_running:
            return self.up()
        self._check_broker(state)
        for name, server, code in (("PostgreSQL", state.postgres, "database_unavailable"),
                                   ("broker", state.kafka, "broker_unavailable")):
            if not self._alive(server):
                raise ServerLostError(code, (
                    f"the embedded {name} of {self.home} ({server.described}, pid "
                    f"{server.pid}, port {server.port}) is not running; `supportlog infra "
                    "up` starts it again on the same port"))
        return state

    def down(self) -> None:
        """Stops both servers by PID. Their data, ports and logins stay recorded."""
        state = self.read_state()
        if state is None:
            return
        (apache_kafka.stop_broker if state.broker == "apache-kafka"
         else tansu.stop_broker)(state.kafka)
        stop_postgres(state.postgres, self.pg_data)
        self._write_state(replace(state, postgres=replace(state.postgres, pid=0),
                                  kafka=replace(state.kafka, pid=0)))

    def wipe(self) -> None:
        """Stops both servers and removes their data and the state (a fresh start)."""
        self.down()
        for folder in (self.pg_data, self.home / "kafka", self.home / "logs"):
            shutil.rmtree(folder, ignore_errors=True)
        self.state_path.unlink(missing_ok=True)
        self.pgpass_path.unlink(missing_ok=True)

    def _start_broker(self, recorded: ServerState) -> ServerState:
        """Starts the broker on its recorded ports (new ones the first time)."""
        port = recorded.port or None
        if self.broker == "apache-kafka":
            return apache_kafka.start_broker(self.home, self.cache, port,
                                             recorded.ports.get("controller"))
        return tansu.start_broker(self.home / "logs", port)

    def _check_broker(self, state: InfraState | None) -> None:
        if state is not None and state.broker != self.broker:
            raise BrokerMismatchError(
                f"{self.home} holds a deployment on the embedded {state.broker} broker; "
                f"use SUPPORTLOG_BROKER={state.broker} there, another SUPPORTLOG_HOME for "
                f"{self.broker}, or start afresh with `supportlog demo --fresh`")

    def _credentials(self, state: InfraState | None) -> Credentials:
        """The recorded logins; new ones for a new data folder or one that still trusts;
        an error if a password-protected data folder lost its record."""
        if state is not None and state.credentials is not None:
            return state.credentials
        if (self.pg_data / "PG_VERSION").exists() and not trusts_anyone(self.pg_data):
            raise EmbeddedError(
                f"the passwords of the embedded PostgreSQL in {self.pg_data} are not in "
                f"{self.state_path}; start afresh with `supportlog demo --fresh` or "
                "another SUPPORTLOG_HOME")
        return Credentials.generate()

    # --- health -------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Returns 'up' or a reason, per server."""
        state = self.read_state()
        if state is None:
            return {"postgres": "not started", "kafka": "not started"}
        return {name: ("up" if self._alive(server) else
                       "stopped" if not server.pid else "down")
                for name, server in (("postgres", state.postgres), ("kafka", state.kafka))}

    def servers(self) -> list[tuple[str, str, ServerState | None]]:
        """Returns (name, health, recorded state or None) of each server, for display."""
        health = self.health()
        state = self.read_state()
        return [(name, status, getattr(state, name) if state else None)
                for name, status in health.items()]

    @staticmethod
    def _alive(server: ServerState) -> bool:
        return pid_alive(server.pid) and port_open(server.port)
