"""Process-level tuning of the long-running workers: the cyclic garbage collector.

A relay or projector allocates tens of thousands of short-lived containers a batch
(records, envelopes, rows), so Python's cyclic collector runs often, and each of its
full passes walks every object the process holds, most of them the modules, classes
and settings loaded at start, which never become garbage. `gc.freeze()` moves those
into a permanent generation the collector skips, so a pass costs what the batch
allocated, not what the program is. Reference counting still frees everything, and
the collector still finds cycles made after the freeze.

The workers call `settle_heap` once, after start-up; the benchmark uses `settled_heap`
around each measured stage, so a stage pays for its own allocations and not for what
earlier stages of the same run left alive.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def settle_heap() -> int:
    """Collects what start-up left as garbage, then freezes every surviving object;
    returns how many objects are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextmanager
def settled_heap() -> Iterator[None]:
    """Freezes the heap for the duration of the block, then unfreezes it, so that what
    the block leaves behind is collected normally afterwards."""
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()
