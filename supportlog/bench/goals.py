"""The goals of issues 9, 14 and 19, as data: which figure, which bound, and whether a run
met it.

Ratios are throughput over the baseline's (higher is better); `rss_growth` and the
latency ratios are costs (lower is better). A figure that could not be measured (no
charge in a tiny log) is reported as not judged rather than as met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    """`path` locates the figure in the result; `at_least` or `at_most` bounds it."""

    name: str
    path: tuple[str, ...]
    at_least: float | None = None
    at_most: float | None = None

    def bound(self) -> str:
        return f">= {self.at_least:g}" if self.at_least is not None else f"<= {self.at_most:g}"

    def judge(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.at_least is not None:
            return value >= self.at_least
        assert self.at_most is not None
        return value <= self.at_most


GOALS = (
    Goal("ingest_vs_es_save", ("ratios", "ingest_vs_es_save"), at_least=0.8),
    # R-PRV-1: sealing personal data costs at most 15% of ingest throughput.
    Goal("ingest_sealed_vs_unsealed", ("ratios", "ingest_sealed_vs_unsealed"),
         at_least=0.85),
    Goal("relay_vs_raw_produce", ("ratios", "relay_vs_raw_produce"), at_least=0.5),
    Goal("projection_vs_naive", ("ratios", "projection_vs_naive"), at_least=10),
    Goal("projection_vs_raw_consume", ("ratios", "projection_vs_raw_consume"), at_least=0.3),
    Goal("rebuild_vs_raw_read", ("ratios", "rebuild_vs_raw_read"), at_least=0.4),
    Goal("rss_growth", ("rss_growth",), at_most=0.2),
    Goal("audit_latency_growth", ("latency", "audit", "ratio"), at_most=1.5),
    Goal("as_of_latency_growth", ("latency", "as_of", "ratio"), at_most=1.5),
    Goal("command_to_projection_vs_broker_p99",
         ("latency", "command_to_projection_vs_broker_p99"), at_most=3),
    Goal("http_vs_ingest", ("ratios", "http_vs_ingest"), at_least=0.6),
)


def lookup(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    """Returns the value at `path` in the nested result, or None if it is missing."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def judge(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Returns each goal's value, bound and verdict (True, False, or None: not judged)."""
    out = {}
    for goal in GOALS:
        value = lookup(result, goal.path)
        out[goal.name] = {"value": value, "goal": goal.bound(), "met": goal.judge(value)}
    return out
