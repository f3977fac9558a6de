"""Generated requests against the served OpenAPI document (schemathesis), as each role.

`fuzz(url, tokens, examples)` loads `/v1/openapi.json` from a running server and, for
each role's token and for schema-valid and schema-invalid data in turn, sends
`examples` generated requests (Hypothesis, derandomized: the same requests every run)
to the operations of the desk the tokens belong to, checking each response: no 5xx,
and a status code, content type, headers and body the document describes. It returns
the counts and every failure instead of stopping at the first, so a long run reports
all it found. The default suite runs a few hundred (`test_schemathesis.py`); a long run
is `python -m tests.http.fuzz --examples N` against a server it starts itself.
"""

from __future__ import annotations

import argparse
import collections
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@dataclass
class FuzzReport:
    """What a run sent and found."""

    requests: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "server_errors": self.server_errors,
                "failures": len(self.failures), "statuses": dict(sorted(self.statuses.items())),
                "seconds": round(self.seconds, 1), "first_failures": self.failures[:10]}


def fuzz(url: str, desk: str, tokens: dict[str, str], examples: int,
         exclude_paths: tuple[str, ...] = ()) -> FuzzReport:
    """Sends `examples` generated requests per role and mode; returns the report."""
    schema = schemathesis.openapi.from_url(f"{url}/v1/openapi.json")
    for path in exclude_paths:
        schema = schema.exclude(path=path)
    operations = [result.ok() for result in schema.get_all_operations()]
    report = FuzzReport()
    started = time.monotonic()
    session = requests.Session()
    for role, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = st.one_of([
                op.as_strategy(generation_mode=mode, headers=headers,
                               path_parameters={"desk": desk} if "{desk}" in op.path else None)
                for op in operations])
            _run(strategy, examples, url, session, report, f"{role}/{mode.value}")
    report.seconds = time.monotonic() - started
    return report


def _run(strategy: Any, examples: int, url: str, session: requests.Session,
         report: FuzzReport, label: str) -> None:
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def one(case: Any) -> None:
        report.requests += 1
        try:
            response = case.call(base_url=url, session=session, timeout=60)
        except requests.RequestException as e:  # a server that drops a request fails too
            report.failures.append(f"{label} {case.method} {case.formatted_path}: {e!r}")
            return
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            report.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as e:  # schemathesis reports failed checks this way
            report.failures.append(f"{label} {case.method} {case.formatted_path} -> "
                                   f"{response.status_code}: {str(e)[:600]}")

    one()


def main() -> None:
    """A long run against a server started for it on the session's embedded servers."""
    import json
    from pathlib import Path
    from tempfile import mkdtemp

    import psycopg

    from supportlog.embedded import EmbeddedInfra
    from supportlog.settings import Settings
    from tests.http.conftest import ROLES, running_api

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1000,
                        help="requests per role and mode (2 modes x 5 roles)")
    parser.add_argument("--with-what-if", action="store_true")
    options = parser.parse_args()
    infra = EmbeddedInfra(Path(mkdtemp(prefix="fuzz-")))
    state = infra.up()
    try:
        with psycopg.connect(state.database_url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "fuzz"')
        settings = Settings(database_url=state.database_url.rsplit("/", 1)[0] + "/fuzz",
                            kafka_bootstrap=state.kafka_bootstrap, partitions=2,
                            topic="fuzz", group_id="fuzz", rate_per_s=0)
        with running_api(settings) as api:
            tokens = {role: api.token("cart-power", role) for role in ROLES}
            excluded = () if options.with_what_if else ("/v1/desks/{desk}/what-if",)
            report = fuzz(api.url, "cart-power", tokens, options.examples, excluded)
        print(json.dumps(report.to_dict(), indent=2))
    finally:
        infra.down()


if __name__ == "__main__":
    main()
