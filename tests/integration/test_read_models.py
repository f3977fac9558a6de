"""Read models answered from the projections, through the real pipeline."""

from __future__ import annotations

from supportlog.bootstrap import bootstrap
from supportlog.scenario import ScenarioRunner


def play(settings, profile: str, steps: list[dict]):
    system = bootstrap(settings)
    runner = ScenarioRunner(system)
    report = runner.run({"profile": profile, "steps": steps})
    return system, runner, report


def step(at: str, do: str, **args) -> dict:
    return {"at": f"2026-03-0{at}+03:00", "do": do, "args": args}


def test_r_tkt_6_queue_serves_plan_rank_first_then_the_oldest_customer_comment(settings):
    """R-TKT-6: ImageCMS serves premium licences before pro, then by last comment."""
    steps = []
    for n, product in ((1, "shop-pro"), (2, "shop-pro"), (3, "shop-premium")):
        steps += [step(f"2T1{n}:00:00", "register_customer", customer=f"c{n}"),
                  step(f"2T1{n}:10:00", "buy_license", customer=f"c{n}", license=f"l{n}",
                       product=product),
                  step(f"2T1{n}:20:00", "open_ticket", customer=f"c{n}", ticket=f"t{n}",
                       department="technical", channel="helpdesk", subject="x")]
    steps += [step("2T14:00:00", "customer_reply", ticket="t1"),
              {"at": "2026-03-02T14:01:00+03:00",
               "expect": {"queue": {"technical": ["t3", "t2", "t1"]}}}]
    system, _, report = play(settings, "imagecms", steps)
    system.close()
    assert report.failures == [] and report.passed == len(steps)


def test_r_ban_4_the_ban_list_says_who_why_from_until_and_by_whom(settings):
    """R-BAN-4: the ban list is a projection of the ban events."""
    steps = [step("2T10:00:00", "register_customer", customer="c1"),
             step("2T10:05:00", "ban", customer="c1", agent="a7", reason="rudeness",
                  until="2026-03-09T10:00:00+03:00")]
    system, runner, report = play(settings, "cart-power", steps)
    try:
        assert report.failures == []
        runner.pipeline.sync()
        row = runner.conn.execute(
            "SELECT banned, scope, reason, since, until, by_agent FROM bans").fetchone()
        assert row[:3] == (True, "customer", "rudeness") and row[5] == "a7"
        assert row[3].isoformat() == "2026-03-02T07:05:00+00:00"
        assert row[4].isoformat() == "2026-03-09T07:00:00+00:00"
    finally:
        system.close()
