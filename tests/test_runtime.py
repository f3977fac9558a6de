"""The workers' heap tuning: frozen objects are out of the collector's reach, and the
benchmark's freeze ends with its block."""

from __future__ import annotations

import gc

from supportlog.runtime import settle_heap, settled_heap


def test_settling_freezes_what_is_alive_and_the_block_unfreezes_it() -> None:
    assert gc.get_freeze_count() == 0
    with settled_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 1000, "the modules and classes loaded so far are frozen"
        kept = [object() for _ in range(10)]
        assert gc.get_freeze_count() == frozen, "objects made later stay collectable"
    assert gc.get_freeze_count() == 0
    assert kept


def test_cycles_made_after_settling_are_still_collected() -> None:
    try:
        settle_heap()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
