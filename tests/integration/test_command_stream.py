"""`supportlog command` answers every line and reads on: the lines that ended it with a
traceback (instants past year 9999 or before year 1, `do` a list or an object, a NUL
in an id), bytes that are not UTF-8, and an unexpected failure, which is answered
`internal_error` with an id that its JSON log line on stderr carries."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime

from domain.policy.profile import builtin_profile
from supportlog.bootstrap import bootstrap
from supportlog.cli.run import answer_line
from supportlog.logs import JsonLines
from tests.conftest import cli_env

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUPPORTLOG = [sys.executable, "-m", "supportlog.cli"]

HOSTILE = [
    b'{"do": "register_customer", "args": {"customer": "x1"}, '
    b'"at": "9999-12-31T23:59:59-12:00"}',
    b'{"do": "register_customer", "args": {"customer": "x2"}, '
    b'"at": "0001-01-01T00:30:00+14:00"}',
    b'{"do": "ban", "args": {"customer": "c1", "agent": "a1", "reason": "spam", '
    b'"until": "9999-12-31T23:59:59-12:00"}}',
    b'{"do": []}',
    b'{"do": {}}',
    b'{"do": "register_customer", "args": {"customer": "nul\\u0000cust"}}',
    b'{"do": "register_customer", "args": {"customer": "\\ud800"}}',
    b'\xff\xfe not UTF-8',
]


def env_for(settings) -> dict[str, str]:
    return {**os.environ, **cli_env(settings)}


def test_hostile_lines_are_each_answered_and_the_rest_of_stdin_is_read(settings):
    system = bootstrap(settings)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0)
        system.desk.execute("register_customer", {"customer": "c1"}, T0)
    finally:
        system.close()
    good = [json.dumps({"do": "register_customer", "args": {"customer": f"ok{n}"},
                        "at": "2026-03-02T10:00:00Z"}).encode() for n in range(len(HOSTILE))]
    lines = [line for pair in zip(HOSTILE, good, strict=True) for line in pair]
    done = subprocess.run([*SUPPORTLOG, "command", "--desk", "cart-power"],
                          input=b"\n".join(lines) + b"\n", env=env_for(settings),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(lines)
    assert [a["accepted"] for a in answers] == [False, True] * len(HOSTILE)
    assert {a["code"] for a in answers[::2]} == {"invalid_argument"}
    assert b"Traceback" not in done.stderr


class _Broken:
    """A desk whose every command fails as a bug would."""

    def execute(self, *args, **kwargs):
        raise ZeroDivisionError("a bug")


def test_an_unexpected_failure_is_answered_internal_error_and_logged_with_its_id(caplog):
    with caplog.at_level(logging.ERROR, logger="supportlog.run"):
        answer = answer_line(_Broken(), '{"do": "register_customer", "args": {}}',
                             lambda: T0, new_error_id=lambda: "e-42")
        after = answer_line(_Broken(), "{nope", lambda: T0, new_error_id=lambda: "e-43")
    assert answer["accepted"] is False and answer["code"] == "internal_error"
    assert "(id e-42)" in answer["message"]
    assert after["code"] == "invalid_argument"  # and the stream goes on
    [record] = caplog.records
    logged = json.loads(JsonLines().format(record))
    assert logged["error_id"] == "e-42" and logged["level"] == "error"
    assert "ZeroDivisionError: a bug" in logged["error"]
