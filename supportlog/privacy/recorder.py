"""The event store's recorder, which destroys an erased customer's data key in the very
transaction that stores `customer.erased` (R-PRV-1, R-PRV-2).

The domain decides an erasure and records it; it holds no key and names no table. The
library's PostgreSQL recorder runs `_insert_events` inside the transaction that inserts
the events, before them, for exactly such work (its process recorder writes tracking
records there). Here, for each `customer.erased` being stored, the customer's row of
`customer_keys` loses its wrapped key and gets `erased_at` (a customer who never had a
key gets a row that says so, so no key can be made for them later). So the log never
says "erased" while the key lives, and the key is never gone without the log saying so:
whoever erases (`supportlog erase`, the command stream, an API route, a scenario), the
two commit together or not at all. The composition root names this class in the desk's
environment (`APPLICATION_RECORDER_TOPIC`).

PostgreSQL keeps the old version of the row (with the wrapped key) until VACUUM removes
it; `supportlog erase` vacuums the table at once (`supportlog.privacy.erase`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from domain.customer import Customer

ERASED_TOPIC = Customer.Erased.TOPIC

_DESTROY = (
    "INSERT INTO customer_keys (customer, customer_id, key_id, wrapped_key, erased_at) "
    "VALUES (%s, %s, %s, NULL, now()) ON CONFLICT (customer) DO UPDATE "
    "SET wrapped_key = NULL, erased_at = coalesce(customer_keys.erased_at, now())")


class ErasingRecorder(PostgresApplicationRecorder):
    """The library's recorder, plus the destruction of erased customers' keys."""

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        for stored in stored_events:
            if stored.topic == ERASED_TOPIC:
                customer = orjson.loads(stored.state)["customer"]
                curs.execute(_DESTROY, (customer, stored.originator_id,
                                        f"erased-{stored.originator_id}"))
