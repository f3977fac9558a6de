"""The human form of a bench result: one table of stages against their baselines and
goals, then the latency figures and the environment. The JSON form is the result as is.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

#: (ratio key, stage figures, numerator, denominator) in the order the stages run.
_ROWS = (
    ("ingest_vs_es_save", "ingest", "domain", "es_save"),
    ("ingest_sealed_vs_unsealed", "ingest", "domain", "unsealed"),
    ("relay_vs_raw_produce", "relay", "relay", "raw_produce"),
    ("projection_vs_naive", "projection", "projector", "naive"),
    ("projection_vs_raw_consume", "projection", "projector", "raw_consume"),
    ("rebuild_vs_raw_read", "rebuild", "rebuild", "raw_read"),
)


def _verdict(goal: dict[str, Any]) -> str:
    return {True: "[green]met[/green]", False: "[red]missed[/red]"}.get(goal["met"],
                                                                        "not judged")


def _rate(figure: dict[str, Any]) -> str:
    return f"{figure['per_s']:,.0f} {figure['unit']}/s ({figure['items']:,})"


def _fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def print_report(result: dict[str, Any], console: Console) -> None:
    """Prints `result` as tables."""
    goals, figures = result["goals"], result["figures"]
    table = Table(title=f"supportlog bench: {result['events']:,} events "
                        f"in {result['seconds']:.0f}s")
    for column in ("ratio", "stage", "baseline", "value", "goal", ""):
        table.add_column(column)
    for key, stage, ours, base in _ROWS:
        table.add_row(key, _rate(figures[stage][ours]), _rate(figures[stage][base]),
                      _fmt(result["ratios"][key]), goals[key]["goal"], _verdict(goals[key]))
    rss = result["rss"]
    table.add_row("rss_growth", f"{rss['at_n']['peak_rss_bytes'] / 2**20:.0f} MiB at N",
                  f"{rss['at_n_10']['peak_rss_bytes'] / 2**20:.0f} MiB at N/10",
                  _fmt(result["rss_growth"]), goals["rss_growth"]["goal"],
                  _verdict(goals["rss_growth"]))
    lat = result["latency"]
    for name in ("audit", "as_of"):
        if lat.get(name):
            goal = goals[f"{name}_latency_growth"]
            table.add_row(f"{name} latency", f"{lat[name]['at_n_ms']:g} ms at N",
                          f"{lat[name]['at_n_100_ms']:g} ms at N/100",
                          _fmt(lat[name]["ratio"], "x"), goal["goal"], _verdict(goal))
    ours, broker = lat["command_to_projection"], lat["broker_produce_to_consume"]
    goal = goals["command_to_projection_vs_broker_p99"]
    table.add_row("command to projection", f"p50 {ours['p50_ms']:g} / p99 {ours['p99_ms']:g} ms",
                  f"broker p50 {broker['p50_ms']:g} / p99 {broker['p99_ms']:g} ms",
                  _fmt(lat["command_to_projection_vs_broker_p99"], "x"), goal["goal"],
                  _verdict(goal))
    api, local, write = figures["http"]["api"], figures["http"]["in_process"], lat["http_write"]
    goal = goals["http_vs_ingest"]
    table.add_row("http_vs_ingest", _rate(api) + f", write p99 {_fmt(write['p99_ms'])} ms",
                  _rate(local) + " in process", _fmt(result["ratios"]["http_vs_ingest"]),
                  goal["goal"], _verdict(goal))
    console.print(table)
    env = result["environment"]
    console.print(f"{env['cpu_count']} CPUs, Python {env['python']}, PostgreSQL "
                  f"{env['postgresql']}, broker {env['broker']} (API "
                  f"{env['broker_api_version']})")
