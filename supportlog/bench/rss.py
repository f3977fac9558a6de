"""Projector memory: peak RSS of a projector that folds N events, against one that folds
the first N/10 of the same topic (`rss_growth` = the first over the second, minus 1;
goal: at most 0.2).

Each run is a child process (`python -m supportlog.bench.rss`), so the peak is the
projector's alone, not the benchmark's with its encoded baselines. The peak is the
kernel's high-water mark of the process's own memory (`VmHWM`); `ru_maxrss` would not
do, since Linux carries the parent's peak into a child across fork and exec. It
projects a topic from the start into a fresh database until it has written the given
number of records and prints one JSON line. Both read the same topic, so the consumer's
fetch buffers (up to 1 MiB a partition, filled ahead of the position) are as full in the
N/10 run as in the N run: a topic only a tenth as long would leave them half empty and
the difference would measure the topic, not the projector.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

_DEADLINE_S = 900.0


def project(database_url: str, bootstrap_servers: str, topic: str, records: int
            ) -> dict[str, Any]:
    """Projects `records` records of `topic` into `database_url`'s read models; returns
    the records written, the seconds taken and the process's peak RSS in bytes."""
    from supportlog.bootstrap import bootstrap
    from supportlog.settings import Settings

    system = bootstrap(Settings(database_url=database_url, kafka_bootstrap=bootstrap_servers,
                                topic=topic), prepare=False)
    projector = system.projector("supportlog-bench-rss", client_id="supportlog-bench-rss")
    before = _status_bytes("VmRSS")  # everything imported and connected, nothing read yet
    written, started = 0, time.perf_counter()
    while written < records:
        written += projector.poll_once(100).records
        if time.perf_counter() - started > _DEADLINE_S:
            raise SystemExit(f"projected {written} of {records} records in {_DEADLINE_S}s")
    seconds = time.perf_counter() - started
    system.close()
    return {"records": written, "seconds": round(seconds, 3),
            "peak_rss_bytes": _status_bytes("VmHWM"), "rss_at_end_bytes": _status_bytes("VmRSS"),
            "rss_before_bytes": before}


def _status_bytes(field: str) -> int:
    """Returns a memory figure of this process from /proc/self/status (Linux), or, where
    there is none, the peak by getrusage (KiB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(database_url: str, bootstrap: str, topic: str, records: int) -> dict[str, Any]:
    """Runs `project` in a fresh interpreter and returns what it printed."""
    out = subprocess.run(
        [sys.executable, "-m", "supportlog.bench.rss", "--database-url", database_url,
         "--bootstrap", bootstrap, "--topic", topic, "--records", str(records)],
        capture_output=True, text=True, check=False, timeout=_DEADLINE_S + 60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        raise RuntimeError(f"the projector child failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(project(args.database_url, args.bootstrap, args.topic, args.records)))


if __name__ == "__main__":
    main()
