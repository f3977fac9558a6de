"""Rebuild: events/s of a full rebuild of the read models from the store, against a bare
decoded read of the whole store (`rebuild_vs_raw_read`).

The rebuild is `replay.rebuild.rebuild` as `supportlog rebuild` runs it: pages of 1,000
notifications, decoded straight into envelopes without the event hash, planned with
the projector's `plan_batch` and folded, the changes played in memory into final rows,
each shadow table written once with COPY at the end (23 tables), then dropped. The
baseline reads the same pages with the recorder and decodes each into its domain event
with the application's mapper, and does nothing else: the floor any rebuild from the
store pays.
"""

from __future__ import annotations

from collections.abc import Callable

from replay.rebuild import rebuild
from replay.streams import BATCH_SIZE
from supportlog.bench.measure import Rate
from supportlog.bootstrap import System

Advance = Callable[[int], None]


def run_rebuild(system: System, advance: Advance | None = None) -> Rate:
    """Rebuilds every read model of `system` into the shadow schema; returns events/s."""
    done = 0

    def progress(now_done: int, _total: int) -> None:
        nonlocal done
        if advance:
            advance(now_done - done)
        done = now_done

    rate = Rate(notes={"batch_size": BATCH_SIZE})
    with rate.timing():
        result = rebuild(system, progress=progress)
    rate.items = result.events + result.skipped
    rate.notes["tables"] = len(result.tables)
    return rate


def raw_read(system: System, advance: Advance | None = None) -> Rate:
    """Reads and decodes every stored event in pages of the rebuild's size; returns
    events per second."""
    recorder, mapper = system.desk.recorder, system.desk.mapper
    rate = Rate(notes={"batch_size": BATCH_SIZE})
    position = 0
    with rate.timing():
        while True:
            page = recorder.select_notifications(position, BATCH_SIZE,
                                                 inclusive_of_start=False)
            if not page:
                break
            for notification in page:
                mapper.to_domain_event(notification)
            rate.items += len(page)
            position = page[-1].id
            if advance:
                advance(len(page))
    return rate
