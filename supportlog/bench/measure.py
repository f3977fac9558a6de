"""Small measuring helpers shared by the stages: throughput, percentiles, medians.

Time is `time.perf_counter`: monotonic and the finest clock the platform has. A stage
measures only the work it names; setup (creating topics, encoding a baseline's input)
happens outside the timed region, so a ratio compares like with like.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rate:
    """`items` handled in `seconds`; `unit` names what an item is."""

    items: int = 0
    seconds: float = 0.0
    unit: str = "events"
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        """Items per second (0 when nothing was timed)."""
        return self.items / self.seconds if self.seconds > 0 else 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Adds the time spent in the block to `seconds`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "unit": self.unit, "seconds": round(self.seconds, 4),
                "per_s": round(self.per_s, 1), **self.notes}


def ratio(numerator: Rate, denominator: Rate) -> float | None:
    """Returns numerator's throughput over denominator's, or None if either is empty."""
    if numerator.per_s <= 0 or denominator.per_s <= 0:
        return None
    return round(numerator.per_s / denominator.per_s, 3)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Returns the `q`-th percentile (0-100) by linear interpolation, None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median_ms(call: Callable[[], object], repeats: int) -> float:
    """Calls `call` once to warm caches, then `repeats` times; returns the median in ms.

    The median, not the mean: one preempted call on a shared machine must not move it.
    """
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)


def ms(seconds: float | None) -> float | None:
    """Seconds to milliseconds, rounded for the report."""
    return None if seconds is None else round(seconds * 1000, 3)
