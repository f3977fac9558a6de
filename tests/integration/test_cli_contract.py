"""What the command line promises its user, whatever the command: the exit statuses of
the README (0 ok, 1 a check failed, 2 bad input, 3 a server is unreachable), and no
output that opens with a blank line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from supportlog.bootstrap import bootstrap
from supportlog.cli import main
from supportlog.scenario import ScenarioRunner, load_scenario
from tests.integration.test_projector import cli_env


def test_a_scenario_file_that_is_not_json_is_bad_input_not_a_failed_check(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"profile": "cart-power", "steps": [')
    result = CliRunner().invoke(main, ["scenario", "run", str(broken)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: invalid_argument: {broken}: not a readable JSON")
    assert "failed" not in result.stdout


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
