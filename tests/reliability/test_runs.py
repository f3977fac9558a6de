"""The long reliability runs of docs/reliability.md, small, so they keep working: a kill
-9 loop of the relay and the projector (2 kills here, 100 for the document) and a
hostile command run (200 lines here, 10,000 for the document)."""

from __future__ import annotations

from tests.reliability.hostile_run import run_hostile
from tests.reliability.kill_loop import run_kill_loop


def test_a_short_kill_loop_loses_nothing_and_counts_nothing_twice(settings, tmp_path):
    figures = run_kill_loop(settings, kills=2, workdir=tmp_path)
    assert sum(figures.kills.values()) == 2
    assert (figures.lost, figures.differing_tables, figures.order_violations,
            figures.quarantined) == (0, 0, 0, 0), figures
    assert figures.events > 0 and figures.records >= figures.events


def test_a_short_hostile_run_crashes_nothing_and_writes_nothing_partly(settings):
    figures = run_hostile(settings, 200)
    assert figures.crashes == 0 and figures.partial_writes == 0, figures
    assert figures.accepted > 0 and figures.refused and figures.exit_status == 0
