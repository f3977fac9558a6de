"""What the command line promises its user, whatever the command: the exit statuses of
the README (0 ok, 1 a check failed, 2 bad input, 3 a server is unreachable)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from supportlog.cli import main


def test_a_scenario_file_that_is_not_json_is_bad_input_not_a_failed_check(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"profile": "cart-power", "steps": [')
    result = CliRunner().invoke(main, ["scenario", "run", str(broken)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: invalid_argument: {broken}: not a readable JSON")
    assert "failed" not in result.stdout
