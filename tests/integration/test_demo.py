"""The demo's generated month, played small, through the real pipeline."""

from __future__ import annotations

from rich.console import Console

from supportlog.bootstrap import bootstrap
from supportlog.demo import play, report
from supportlog.workload import Workload


def test_the_workload_is_deterministic_from_its_seed():
    assert Workload(3, 10, 5).build() == Workload(3, 10, 5).build()
    assert Workload(3, 10, 5).build() != Workload(4, 10, 5).build()


def test_demo_plays_every_desk_and_runs_again_on_the_same_data(settings):
    system = bootstrap(settings)
    try:
        first = play(system, seed=1, customers=10, days=5)
        second = play(system, seed=1, customers=10, days=5)
        assert (first.prefix, second.prefix) == ("r1-", "r2-")
        assert first.commands > 100 and first.commands == second.commands
        conn = system.connect()
        tenants = {row[0] for row in conn.execute("SELECT DISTINCT tenant FROM tickets")}
        assert tenants == {"cs-cart", "cart-power", "imagecms", "prem-site", "insales"}
        stored = system.desk.recorder.max_notification_id()
        projected = conn.execute("SELECT SUM(next_offset) FROM projector_offsets").fetchone()
        assert projected[0] == stored  # every stored event was published and projected
        console = Console(record=True, width=120)
        report(system, second, console)
        text = console.export_text()
        assert f"{stored} / {stored} / {stored}" in text and "audit charge" in text
    finally:
        system.close()
