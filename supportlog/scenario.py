"""`supportlog scenario run FILE`: the acceptance language, played through the whole
pipeline (command -> store -> relay -> Kafka -> projector -> read model) with a
simulated clock. Checks read projections only, after the projector caught up.

Before each step every timer due at or before its `at` fires, in due order. A malformed
step fails with a message naming its number; the runner never crashes on bad input.

Commands run as the scenario's operator (`{"role": "operator", "id": "scenario"}`, kept
to the scenario's desk), or, with `"as": {"role": ..., "customer": ...}`, as a principal
of that role on the desk (R-ACL): so a scenario can show what a customer, an agent or an
auditor may not do (`forbidden`, `not_owner`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.actor import TOKEN_ROLES, Actor
from domain.commands import COMMANDS
from domain.commands.args import ident, instant
from domain.errors import ERRORS_BY_CODE, InvalidArgumentError, SupportlogError
from domain.policy.profile import PolicyProfile, builtin_profile
from supportlog.bootstrap import System
from supportlog.pipeline import Pipeline

STEP_KEYS = {"at", "do", "args", "expect_error", "expect", "note", "comment", "as"}
CHECKS = ("balance", "quota", "ticket", "banned", "queue", "charges", "dispute")


class StepError(Exception):
    """A step that could not be run or whose check failed; the message says why."""


class ScenarioFileError(InvalidArgumentError):
    """Raised when a scenario file cannot be read or is not JSON: bad input (exit 2),
    not a failed check, since nothing was played."""


@dataclass
class Report:
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "failures": self.failures}


def parse_instant(value: Any, where: str, name: str = "at") -> datetime:
    """Parses an instant with an offset; raises StepError naming the step."""
    try:
        return instant(value, name)
    except InvalidArgumentError as e:
        raise StepError(f"{where}: {e.message}") from e


def load_profile(spec: Any, base_dir: Path | None) -> PolicyProfile:
    """A profile id ("cart-power"), "id@version", a file path, or an inline object."""
    if isinstance(spec, dict):
        return PolicyProfile.from_data(spec, "scenario")
    if not isinstance(spec, str):
        raise StepError("'profile' must be a profile id, a file or an object")
    candidate = (base_dir / spec) if base_dir else Path(spec)
    if spec.endswith(".json") and candidate.exists():
        return PolicyProfile.from_file(candidate)
    name, _, version = spec.partition("@")
    return builtin_profile(name, int(version) if version.isdigit() else 1)


class ScenarioRunner:
    """Plays one scenario on a system whose database and topic it has to itself."""

    def __init__(self, system: System):
        self.system = system
        self.desk = system.desk
        self.pipeline = Pipeline(system)
        self.conn = system.connect()
        self.scheduler = system.scheduler(sync=self.pipeline.sync)

    def run(self, scenario: Any, base_dir: Path | None = None) -> Report:
        report = Report()
        if not isinstance(scenario, dict) or not isinstance(scenario.get("steps"), list):
            report.failed += 1
            report.failures.append("scenario: expected an object with 'profile' and 'steps'")
            return report
        try:
            self.profile = load_profile(scenario.get("profile"), base_dir)
        except (StepError, SupportlogError) as e:
            report.failed += 1
            report.failures.append(f"scenario: profile: {e}")
            return report
        last_at: datetime | None = None
        adopted = False
        for number, step in enumerate(scenario["steps"], start=1):
            where = f"step {number}"
            try:
                at = self._check_time(step, where, last_at)
                last_at = at
                self._check_step(step, where)
                if not adopted:
                    self.desk.adopt(self.profile, at, actor=self.operator)
                    self.desk.default_profile = self.profile.id
                    adopted = True
                self.fire_due_timers(at)
                if "do" in step:
                    self.run_command(step, at, where)
                else:
                    self.run_checks(step["expect"], at, where)
                report.passed += 1
            except StepError as e:
                report.failed += 1
                report.failures.append(str(e))
            except SupportlogError as e:
                report.failed += 1
                report.failures.append(f"{where}: {e}")
        return report

    def _check_time(self, step: Any, where: str, last_at: datetime | None) -> datetime:
        if not isinstance(step, dict):
            raise StepError(f"{where}: a step must be an object")
        at = parse_instant(step.get("at"), where)
        if last_at is not None and at < last_at:
            raise StepError(f"{where}: 'at' goes backwards ({step['at']})")
        return at

    def _check_step(self, step: dict, where: str) -> None:
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise StepError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if ("do" in step) == ("expect" in step):
            raise StepError(f"{where}: a step has either 'do' or 'expect'")
        if "expect" in step and not isinstance(step["expect"], dict):
            raise StepError(f"{where}: 'expect' must be an object")
        if "do" in step and step["do"] not in COMMANDS:
            raise StepError(f"{where}: unknown command {step['do']!r}")
        code = step.get("expect_error")
        if code is not None and code not in ERRORS_BY_CODE:
            raise StepError(f"{where}: unknown error code {code!r}")

    # --- timers ------------------------------------------------------------------------

    def fire_due_timers(self, at: datetime) -> None:
        """Fires every timer due at or before `at`, in due order, until none is left."""
        self.scheduler.fire_due(at)

    # --- commands ----------------------------------------------------------------------

    @property
    def operator(self) -> Actor:
        return Actor("operator", "scenario", desk=self.profile.id)

    def actor(self, spec: Any, where: str) -> Actor:
        """The principal a step acts as: the scenario's operator, or its `as`."""
        if spec is None:
            return self.operator
        if not isinstance(spec, dict) or set(spec) - {"role", "id", "customer"} or \
                spec.get("role") not in TOKEN_ROLES:
            raise StepError(f"{where}: 'as' is {{\"role\": one of {', '.join(TOKEN_ROLES)}, "
                            "\"id\", \"customer\"}")
        try:
            return Actor(spec["role"], ident(spec.get("id", f"scenario-{spec['role']}"), "id"),
                         desk=self.profile.id, customer=spec.get("customer"))
        except (ValueError, SupportlogError) as e:
            raise StepError(f"{where}: 'as': {e}") from e

    def run_command(self, step: dict, at: datetime, where: str) -> None:
        expected = step.get("expect_error")
        actor = self.actor(step.get("as"), where)
        head_before = self.desk.recorder.max_notification_id() or 0
        try:
            self.desk.execute(step["do"], step.get("args", {}), at, actor=actor)
        except SupportlogError as e:
            if expected is None:
                raise StepError(f"{where}: {step['do']} was rejected: {e}") from e
            if e.code != expected:
                raise StepError(f"{where}: {step['do']} was rejected with {e.code} "
                                f"({e.message}), expected {expected}") from e
            head_after = self.desk.recorder.max_notification_id() or 0
            if head_after != head_before:
                raise StepError(f"{where}: {step['do']} was rejected but wrote events") from e
            return
        if expected is not None:
            raise StepError(f"{where}: {step['do']} succeeded, expected error {expected}")

    # --- checks ------------------------------------------------------------------------

    def run_checks(self, expect: dict, at: datetime, where: str) -> None:
        self.pipeline.sync()
        problems: list[str] = []
        for key, value in expect.items():
            if key not in CHECKS:
                raise StepError(f"{where}: unknown check {key!r}")
            if not isinstance(value, dict):
                raise StepError(f"{where}: {key} must be an object")
            problems.extend(getattr(self, f"_check_{key}")(value))
        if problems:
            raise StepError(f"{where}: " + "; ".join(problems))

    def _one(self, sql: str, *params: Any) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def _check_balance(self, expected: dict) -> list[str]:
        out = []
        for customer, credits in expected.items():
            row = self._one("SELECT credits FROM balances WHERE customer = %s", customer)
            actual = row[0] if row else 0
            if actual != credits:
                out.append(f"balance of {customer} is {actual}, expected {credits}")
        return out

    def _check_quota(self, expected: dict) -> list[str]:
        """A registered customer's quota row exists from the start with its plan's
        allowance (R-QTA-1); a missing row is reported, never read as zero free
        modifications."""
        out = []
        for customer, fields in expected.items():
            row = self._one("SELECT modifications_used, free_limit - free_used, requests_used "
                            "FROM quotas WHERE customer = %s", customer)
            if row is None:
                out.append(f"the quota of {customer} is not in the projection")
                continue
            actual = dict(zip(("modifications_used", "modifications_free_left",
                               "requests_used"), row, strict=True))
            for name, value in fields.items():
                if name not in actual:
                    out.append(f"unknown quota field {name!r}")
                elif actual[name] != value:
                    out.append(f"quota {name} of {customer} is {actual[name]}, "
                               f"expected {value}")
        return out

    def _check_ticket(self, expected: dict) -> list[str]:
        out = []
        for ticket, fields in expected.items():
            row = self._one("SELECT status, first_response_due, sla_breached, "
                            "awaiting_payment FROM tickets WHERE ticket = %s", ticket)
            if row is None:
                out.append(f"ticket {ticket} is not in the projection")
                continue
            actual = dict(zip(("status", "first_response_due", "sla_breached",
                               "awaiting_payment"), row, strict=True))
            for name, value in fields.items():
                if name not in actual:
                    out.append(f"unknown ticket field {name!r}")
                    continue
                have = actual[name]
                if name == "first_response_due" and value is not None and have is not None:
                    try:
                        same = parse_instant(value, f"ticket {ticket}",
                                             "first_response_due") == have
                    except StepError as e:
                        out.append(str(e))
                        continue
                else:
                    same = have == value
                if not same:
                    shown = have.isoformat() if isinstance(have, datetime) else have
                    out.append(f"ticket {ticket} {name} is {shown!r}, expected {value!r}")
        return out

    def _check_banned(self, expected: dict) -> list[str]:
        out = []
        for customer, banned in expected.items():
            row = self._one("SELECT banned FROM bans WHERE customer = %s", customer)
            actual = bool(row and row[0])
            if actual != banned:
                out.append(f"{customer} banned is {actual}, expected {banned}")
        return out

    def _check_queue(self, expected: dict) -> list[str]:
        out = []
        for department, tickets in expected.items():
            rows = self.conn.execute(
                "SELECT ticket FROM service_queue WHERE department = %s AND tenant = %s "
                "ORDER BY position", (department, self.profile.id)).fetchall()
            actual = [r[0] for r in rows]
            if actual != tickets:
                out.append(f"queue {department} is {actual}, expected {tickets}")
        return out

    def _check_charges(self, expected: dict) -> list[str]:
        out = []
        for customer, charges in expected.items():
            rows = self.conn.execute(
                "SELECT charge_id, credits, money FROM charges WHERE customer = %s "
                "ORDER BY at, ticket, n", (customer,)).fetchall()
            actual = [{"charge": c, "credits": cr, "money": m} for c, cr, m in rows]
            if len(actual) != len(charges):
                out.append(f"{customer} has {len(actual)} charges {actual}, "
                           f"expected {len(charges)}")
                continue
            for want, have in zip(charges, actual, strict=True):
                for name, value in want.items():
                    if have.get(name) != value:
                        out.append(f"{customer} charge {have['charge']} {name} is "
                                   f"{have.get(name)!r}, expected {value!r}")
        return out

    def _check_dispute(self, expected: dict) -> list[str]:
        out = []
        for dispute, fields in expected.items():
            row = self._one("SELECT status FROM disputes WHERE dispute = %s", dispute)
            if row is None:
                out.append(f"dispute {dispute} is not in the projection")
                continue
            if "status" in fields and row[0] != fields["status"]:
                out.append(f"dispute {dispute} status is {row[0]}, expected {fields['status']}")
        return out


def load_scenario(path: Path) -> Any:
    """Returns the parsed scenario file; raises ScenarioFileError if it cannot be read
    or is not JSON (a file that is JSON but no scenario fails the run instead, naming
    what is missing)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ScenarioFileError(f"{path}: not a readable JSON file: {e}") from e
