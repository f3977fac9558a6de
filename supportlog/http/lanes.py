"""Where the API runs a command: on one of a few desk threads, chosen by customer.

The desk keeps each thread's aggregates between commands (`domain.cache`) and evicts
what another thread changed. A request served by whichever pool thread is free would
scatter one customer's commands over dozens of threads: each would load the customer,
its account and tickets again, and evict the others' copies. So commands run on
`lanes` threads, each customer always on the same one: its aggregates stay warm in one
cache, as they do for the relay's or the bench's workers. The customer is the
principal's own, or the command's `customer` argument; a command naming only a ticket,
dispute or subscription follows the customer that opened it, as learnt from the
command that did (`customer` and `ticket` together in `open_ticket`, ...), or, for one
this process has not seen, the id itself. Routing decides only speed, never outcome:
every attempt still refreshes its cache from the store's log.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from domain.actor import Actor

T = TypeVar("T")

#: Arguments naming something a customer owns.
_OWNED = ("ticket", "dispute", "subscription")
#: Owners remembered (id -> customer), least recently used forgotten first.
_REMEMBERED = 100_000


class DeskLanes:
    """`lanes` single-thread executors; a customer's commands always share one."""

    def __init__(self, lanes: int):
        self.executors = [ThreadPoolExecutor(1, thread_name_prefix=f"desk-lane-{i}")
                          for i in range(lanes)]
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def customer_of(self, actor: Actor, args: Any) -> str:
        """The customer a command is about, as far as the request says (or learnt)."""
        if not isinstance(args, Mapping):
            return actor.customer or ""
        customer = actor.customer or args.get("customer")
        with self._lock:
            if isinstance(customer, str):
                for name in _OWNED:
                    if isinstance(args.get(name), str):
                        self._owners[args[name]] = customer
                        self._owners.move_to_end(args[name])
                while len(self._owners) > _REMEMBERED:
                    self._owners.popitem(last=False)
                return customer
            for name in _OWNED:
                subject = args.get(name)
                if isinstance(subject, str):
                    return self._owners.get(subject, subject)
        return ""

    def run(self, actor: Actor, args: Any, work: Callable[[], T]) -> T:
        """Runs `work` on the lane of the command's customer and returns its result."""
        key = self.customer_of(actor, args)
        lane = zlib.crc32(key.encode()) % len(self.executors)
        return self.executors[lane].submit(work).result()

    def close(self) -> None:
        for executor in self.executors:
            executor.shutdown(wait=True, cancel_futures=True)
