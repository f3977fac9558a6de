"""A hostile command run: thousands of generated hostile lines through one real
`supportlog command` process, and what came of them (docs/reliability.md).

The lines are drawn from the property tests' strategies (tests/domain/test_hostile_input:
hostile values in every field of every command, in `do`, `at`, `command_id` and the
request itself, raw bytes that are not JSON or not UTF-8), one in four well formed, after
a few lines that give the commands something to aim at. Afterwards:

- crashes: the process must exit 0 having answered every line, each answer a JSON
  object with a code from the documented list; `internal_error` counts as a crash (bad
  input must be caught by the checks, not by the last resort);
- partial writes: the events stored during the run must be exactly the events the
  accepted answers name, by aggregate and version: a refused line wrote nothing, an
  accepted one all it said (the desk's receipts of commands sent with a command_id are
  saved with them and named by no answer: they are left out of the count).

    .venv/bin/python -m tests.reliability.hostile_run --lines 10000 [--broker apache-kafka]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field

import orjson
import psycopg

from supportlog.bootstrap import bootstrap
from supportlog.settings import Settings

SETUP = [
    {"do": "register_customer", "args": {"customer": "c1"}, "at": "2026-03-02T09:00:00Z"},
    {"do": "purchase_credits", "args": {"customer": "c1", "purchase": "p1", "package": 80},
     "at": "2026-03-02T09:01:00Z"},
    {"do": "open_ticket", "args": {"customer": "c1", "ticket": "t1", "department": "technical",
                                   "channel": "helpdesk", "subject": "Checkout fails"},
     "at": "2026-03-02T09:02:00Z"},
    {"do": "log_work", "args": {"ticket": "t1", "agent": "a1", "minutes": 20,
                                "kind": "investigation",
                                "classification": "third_party_addon"},
     "at": "2026-03-02T09:03:00Z"},
]


@dataclass
class HostileFigures:
    """What a hostile run did."""

    broker: str
    lines: int
    answered: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    crashes: int = 0
    partial_writes: int = 0
    events_stored: int = 0
    events_answered: int = 0
    exit_status: int | None = None
    seconds: float = 0.0


def hostile_lines(count: int, seed: int) -> list[bytes]:
    """`count` lines drawn from the property tests' strategies, reproducibly."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st

    from tests.domain.test_hostile_input import RAW_LINES, as_line, requests

    lines: list[bytes] = []

    @with_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, 1), requests(), RAW_LINES)
    def draw(path: int, request: object, raw: bytes) -> None:
        line = as_line(request) if path == 0 else raw
        lines.append(line if line is not None else raw)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(lines) < count:
            draw()
    return lines[:count]


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTLOG_")}
    env.update({"DATABASE_URL": settings.database_url or "",
                "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap or "",
                "SUPPORTLOG_TOPIC": settings.topic, "SUPPORTLOG_GROUP": settings.group_id,
                "SUPPORTLOG_PARTITIONS": str(settings.partitions),
                "SUPPORTLOG_HOME": str(settings.home), "SUPPORTLOG_BROKER": settings.broker})
    return env


#: The desk's receipt of a command sent with a command_id, saved with its events but not
#: named in the answer (it is how a repeat is recognised).
RECEIPT = "command.accepted"


def stored_after(settings: Settings, position: int) -> list[tuple[str, int]]:
    """(aggregate id, version) of every event stored after `position`, receipts aside."""
    with psycopg.connect(settings.database_url or "") as conn:
        return [(str(a), int(v)) for a, v, topic in conn.execute(
            "SELECT originator_id, originator_version, topic FROM supportdesk_events "
            "WHERE notification_id > %s", (position,)) if not topic.endswith(RECEIPT)]


def run_hostile(settings: Settings, count: int, seed: int = 1) -> HostileFigures:
    """Sends `count` hostile lines through `supportlog command` and checks the store."""
    from domain.errors import ERRORS_BY_CODE

    system = bootstrap(settings)
    system.close()
    env = cli_env(settings)
    subprocess.run([sys.executable, "-m", "supportlog.cli", "adopt", "cart-power",
                    "--at", "2026-03-01T00:00:00Z"], env=env, check=True,
                   capture_output=True, timeout=120)
    setup = subprocess.run([sys.executable, "-m", "supportlog.cli", "command", "--desk",
                            "cart-power"], env=env, capture_output=True, timeout=120,
                           input="".join(json.dumps(line) + "\n" for line in SETUP).encode())
    assert setup.returncode == 0, setup.stderr.decode()[-2000:]
    before = stored_after(settings, 0)
    lines = hostile_lines(count, seed)
    data = b"\n".join(lines) + b"\n"
    expected = sum(1 for segment in data.split(b"\n") if segment.strip())
    figures = HostileFigures(settings.broker, lines=len(lines))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "supportlog.cli", "command", "--desk",
                           "cart-power"], input=data, env=env, capture_output=True,
                          timeout=3600)
    figures.seconds = round(time.monotonic() - started, 1)
    figures.exit_status = done.returncode
    answers = [orjson.loads(line) for line in done.stdout.splitlines()]
    figures.answered = len(answers)
    named: Counter[tuple[str, int]] = Counter()
    refused: Counter[str] = Counter()
    for answer in answers:
        if answer.get("accepted"):
            figures.accepted += 1
            named.update((e["aggregate_id"], e["version"]) for e in answer["events"]
                         if not answer.get("repeated"))
        else:
            refused[answer.get("code")] += 1
            if answer.get("code") not in ERRORS_BY_CODE or answer["code"] == "internal_error":
                figures.crashes += 1
    figures.refused = dict(refused.most_common())
    if done.returncode != 0 or len(answers) != expected:
        figures.crashes += 1
    stored = Counter(stored_after(settings, 0)) - Counter(before)
    figures.events_stored = sum(stored.values())
    figures.events_answered = sum(named.values())
    figures.partial_writes = sum(((stored - named) + (named - stored)).values())
    return figures


def main(argv: list[str] | None = None) -> int:
    from tests.reliability.servers import own_servers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broker", choices=("tansu", "apache-kafka"), default="tansu")
    args = parser.parse_args(argv)
    with own_servers(args.broker) as settings:
        figures = run_hostile(settings, args.lines, args.seed)
    print(json.dumps(asdict(figures), indent=2))
    ok = figures.crashes == 0 and figures.partial_writes == 0
    print(f"{figures.lines} hostile lines: {figures.accepted} accepted, "
          f"{sum(figures.refused.values())} refused, {figures.crashes} crashes, "
          f"{figures.partial_writes} partial writes, {figures.seconds} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
