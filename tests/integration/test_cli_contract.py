"""What the command line promises its user, whatever the command: the exit statuses of
the README (0 ok, 1 a check failed, 2 bad input, 3 a server is unreachable); output
that pastes (a command meant to be copied is never broken across lines, the demo's
report reads at 80 columns); and no output that opens with a blank line."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result
from rich.console import Console

from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.demo import play, report
from supportlog.scenario import ScenarioRunner, load_scenario
from tests.integration.test_projector import cli_env


def test_a_scenario_file_that_is_not_json_is_bad_input_not_a_failed_check(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"profile": "cart-power", "steps": [')
    result = CliRunner().invoke(main, ["scenario", "run", str(broken)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: invalid_argument: {broken}: not a readable JSON")
    assert "failed" not in result.stdout


# --- output that pastes -----------------------------------------------------------------

#: The report's labels, each of which must stay whole on its line.
LABELS = ("commands accepted", "commands rejected", "events stored", "timers fired",
          "credits bought", "credits charged", "credits given back", "money charged",
          "SLA breached, cart-power", "tickets waiting now", "customers banned now",
          "disputes open")


def _demo(env: dict[str, str], end: str = "2026-03-10") -> Result:
    result = CliRunner().invoke(main, ["demo", "--customers", "10", "--days", "8",
                                       "--end", end], env={**env, "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result


def _try_next(text: str) -> list[str]:
    """Returns the command lines of the report's "Try next" section."""
    section = text.split("Try next\n", 1)[1].split("\nThe console\n", 1)[0].splitlines()
    return [line.strip() for line in section if line.strip() and
            not line.strip().startswith("#")]


def _assert_reads_at_80_columns(text: str) -> None:
    commands = _try_next(text)
    assert [c.split()[0] for c in commands] == [
        "psql", "./sl", ".venv/bin/python", "./sl", "./sl", "./sl"]
    assert commands[0].endswith("LIMIT 10'") and "--max-messages 5" in commands[2]
    assert re.search(r"--bootstrap \S+ --topic \S+ --max-messages 5$", commands[2])
    assert all(len(line) <= 80 for line in text.splitlines() if line.strip() not in commands)
    for label in LABELS:
        assert re.search(rf"^│ {re.escape(label)} +│ \S", text, re.M), label


def test_the_demo_report_reads_at_80_columns_and_its_commands_paste_whole(settings):
    """Piped (CliRunner's output is no terminal) and on an 80-column terminal alike:
    no command of "Try next" is broken across lines, no label of the table wraps."""
    piped = _demo(cli_env(settings)).output
    assert piped.splitlines()[0].strip(), "a blank first line"
    _assert_reads_at_80_columns(piped)
    system = bootstrap(settings)
    try:
        again = play(system, seed=7, customers=10, days=8,
                     end=datetime(2026, 3, 10, tzinfo=UTC))
        terminal = Console(force_terminal=True, width=80, record=True, file=io.StringIO())
        report(system, again, terminal)
    finally:
        system.close()
    _assert_reads_at_80_columns(terminal.export_text())


def test_a_second_demo_reports_its_own_run_and_the_whole_database_apart(settings):
    env = cli_env(settings)
    first, second = _demo(env).output, _demo(env, end="2026-03-22").output

    def figure(text: str, label: str) -> str:
        return re.search(rf"^│ {label} +│ (.+?) +│$", text, re.M).group(1)

    assert second.startswith("demo run r2: 2026-03-14 00:00 to 2026-03-22 00:00 UTC\n")
    events = int(figure(first, "events stored")), int(figure(second, "events stored"))
    [in_all] = [line for line in second.splitlines() if line.startswith("in all:")]
    assert in_all == f"in all: 2 runs, 20 customers, {sum(events)} events, all published " \
                     "and projected"
    assert figure(second, "commands rejected") == str(sum(
        int(figure(second, f"  {code}")) for code in re.findall(
            r"^│   (\w+) ", second, re.M)))
    assert "()" not in second and "r1-" not in second.split("Try next")[1]


# --- no blank first line ---------------------------------------------------------------

SCENARIOS = Path(__file__).parents[1] / "scenarios"
CREDITS = SCENARIOS / "cart-power-credits.json"


def test_no_command_opens_its_output_with_a_blank_line(settings, tmp_path: Path):
    """Progress displays and status spinners are for terminals: into a pipe (as here:
    stdout and stderr together, neither a terminal) nothing opens with an empty line."""
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        assert runner.run(load_scenario(CREDITS), base_dir=SCENARIOS).failures == []
        runner.pipeline.sync()
    finally:
        system.close()
    env = cli_env(settings)
    invocations = [
        ["status"], ["verify"], ["verify", "--kafka"], ["audit", "all"],
        ["audit", "charge", "t1/1"], ["asof", "2026-03-02T12:00:00+04:00"],
        ["asof", "2026-03-02T12:00:00+04:00", "--customer", "c1"],
        ["rebuild", "--compare"], ["dlq", "list"], ["dlq", "retry"],
        ["whatif", "--profile", "cart-power", "--set", "credits.unit_minutes=10"],
        ["scenario", "run", str(CREDITS)], ["schema", "export", str(tmp_path / "schemas")],
        ["schema", "docs", "--check"], ["infra", "status"],
    ]
    for args in invocations:
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code in (0, 1), (args, result.output)
        assert result.output.strip(), args
        assert result.output.splitlines()[0].strip(), f"{args}: {result.output[:200]!r}"
