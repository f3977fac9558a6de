"""The command reference (`supportlog commands`, docs/commands.md): every command and
argument of the specs is described, every documented limit is the one the checks
enforce, every error code a command answers with is in its documented list, and the
page is generated from the current specs."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from domain.commands.args import CHECK_KINDS, SPECS, parse_args
from domain.commands.reference import (
    EVERY_COMMAND_RAISES,
    RAISES,
    TYPES,
    command_reference,
    describe_check,
)
from domain.desk import SupportDesk
from domain.errors import ERRORS_BY_CODE, InvalidArgumentError, SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from supportlog.cli import main
from supportlog.cli.reference import markdown_page

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_every_command_and_argument_of_the_specs_is_in_the_reference():
    reference = command_reference()
    assert [c["command"] for c in reference] == list(SPECS)
    for command in reference:
        required, optional = SPECS[command["command"]]
        assert [a["name"] for a in command["arguments"]] == [*required, *optional]
        assert [a["required"] for a in command["arguments"]] == \
            [True] * len(required) + [False] * len(optional)
        assert all(a["description"] and a["type"] in TYPES for a in command["arguments"])
        assert command["errors"][-len(EVERY_COMMAND_RAISES):] == list(EVERY_COMMAND_RAISES)
        assert set(command["errors"]) <= set(ERRORS_BY_CODE)
    assert {kind for kind, _ in CHECK_KINDS.values()} <= set(TYPES)


def _arguments_with(command: str, name: str, value: Any) -> dict[str, Any]:
    """Valid arguments of `command` (each required one its smallest valid value) with
    `value` for `name`."""
    samples = {"id": "x", "name": "x", "text": "", "boolean": True, "integer": 1, "number": 0,
               "instant": "2026-03-02T09:00:00+04:00"}
    required, _ = SPECS[command]
    args = {}
    for field, check in required.items():
        kind = describe_check(check, field)
        args[field] = kind["values"][0] if kind["values"] else samples[kind["type"]]
    return {**args, name: value}


@pytest.mark.parametrize("command", list(SPECS))
def test_every_documented_limit_is_the_one_the_checks_enforce(command):
    for argument in next(c for c in command_reference() if c["command"] == command)[
            "arguments"]:
        name, limits = argument["name"], argument["limits"]

        def accepted(value: Any, name: str = name) -> bool:
            try:
                parse_args(command, _arguments_with(command, name, value))
            except InvalidArgumentError:
                return False
            return True

        if "max_length" in limits:
            assert accepted("x" * limits["max_length"])
            assert not accepted("x" * (limits["max_length"] + 1))
        if "minimum" in limits:
            assert accepted(limits["minimum"]) and not accepted(limits["minimum"] - 1)
        if "maximum" in limits:
            assert accepted(limits["maximum"]) and not accepted(limits["maximum"] + 1)
        for value in argument["values"] or ():
            assert accepted(value)
        if argument["values"]:
            assert not accepted("none_of_these")


def _expected_errors_of_the_scenario_files() -> set[tuple[str, str]]:
    pairs = set()
    for path in (ROOT / "tests" / "scenarios").glob("*.json"):
        for step in json.loads(path.read_text())["steps"]:
            if "expect_error" in step:
                pairs.add((step["do"], step["expect_error"]))
    return pairs


#: Ids that make random commands meet each other's aggregates, and values that pass the
#: argument checks, so the commands get past parsing into the handlers' rules.
IDS = {"customer": ["c0", "c1", "c2"], "ticket": ["t0", "t1", "t2"], "of": ["t0", "t1"],
       "subscription": ["s0", "s1"], "license": ["l0"], "purchase": ["p0", "p1"],
       "addon": ["a0"], "dispute": ["d0", "d1"], "charge": ["t0/1", "t1/1", "x/1"],
       "agent": ["a1"], "domain": ["one.example", "two.example"]}
GOOD = {"product": ["cs-cart", "shop-pro"], "plan": ["plus", "premium", "site", "free"],
        "term": ["month", "1m"], "package": [80, "incident"],
        "department": ["technical", "consultation", "sales"],
        "channel": ["helpdesk", "email", "phone"], "category": ["account", "technical"],
        "reason": ["rudeness", "spam", "cannot_reproduce"],
        "until": ["2026-06-01T00:00:00+00:00"], "anonymous": [True, False],
        "notice": ["charge_over_40", "replenish_after_60"]}


def _random_args(rng: random.Random, command: str) -> dict[str, Any]:
    required, optional = SPECS[command]
    args = {}
    for field in [*required, *(f for f in optional if f != "desk" and rng.random() < 0.4)]:
        if field in IDS or field in GOOD:
            args[field] = rng.choice(IDS.get(field) or GOOD[field])
        else:
            kind = describe_check({**required, **optional}[field], field)
            args[field] = rng.choice(kind["values"]) if kind["values"] else {
                "id": "x", "text": "words", "boolean": rng.random() < 0.5,
                "integer": rng.choice([15, 45, 90]), "number": 2,
                "instant": "2026-06-01T00:00:00+00:00"}[kind["type"]]
    return args


def test_every_code_a_command_answers_with_is_in_its_documented_list():
    """Held against every `expect_error` of the scenario files and every refusal of
    random command sequences on every desk."""
    documented = {(c, code) for c, codes in RAISES.items()
                  for code in (*codes, *EVERY_COMMAND_RAISES)}
    observed = _expected_errors_of_the_scenario_files()
    rng = random.Random(18)
    for round_ in range(120):
        desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        profile = PROFILE_IDS[round_ % len(PROFILE_IDS)]
        desk.adopt(builtin_profile(profile), T0)
        desk.default_profile = profile
        now = T0
        for _ in range(40):
            command = rng.choice(list(SPECS))
            now += timedelta(minutes=rng.randint(1, 600))
            try:
                desk.execute(command, _random_args(rng, command), now)
            except SupportlogError as e:
                observed.add((command, e.code))
    assert observed - documented == set()
    assert len({code for _, code in observed}) >= 10  # the sequences got deep enough


def test_docs_commands_md_is_generated_from_the_current_specs():
    page = (ROOT / "docs" / "commands.md").read_text()
    assert page == markdown_page(command_reference()), \
        "docs/commands.md is stale: run `supportlog commands --markdown > docs/commands.md`"


def test_supportlog_commands_lists_every_command_with_its_arguments_and_codes():
    listed = CliRunner().invoke(main, ["commands", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == command_reference()
    text = CliRunner().invoke(main, ["commands"]).output
    assert all(f"\n{command}\n" in f"\n{text}" for command in SPECS)
    assert all(len(line) <= 80 for line in text.splitlines())
    one = CliRunner().invoke(main, ["commands", "log_work"]).output
    assert one.startswith("log_work\n") and "[classification]" in one
    assert "integer, 1 to 100000" in one and "insufficient_credits" in one
    unknown = CliRunner().invoke(main, ["commands", "drop_table"])
    assert unknown.exit_code == 2 and "no command 'drop_table'" in unknown.output
