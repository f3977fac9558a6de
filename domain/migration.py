"""The StoreMigration aggregate: a store re-encrypted from one written before personal
data was sealed (R-PRV-1, docs/privacy.md "Events written before encryption").

Events cannot be edited, so a store whose events hold personal data in plain text is
copied, once, into a new store in which those values are sealed; everything else is
kept (positions, ids, times, amounts), and each event's old and new hash are kept in a
mapping verified before this event is recorded (`supportlog.privacy.migrate`). The
event is the record of that copy in the new store, published like any other: who did
it, why, from what, and the digest of the mapping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import SupportAggregate, aggregate_id, stable_names

#: The partition key and tenant of deployment-wide records (no customer's, no desk's).
DEPLOYMENT = "deployment"


@stable_names("aggregate.store_migration")
class StoreMigration(SupportAggregate):
    """One re-encryption of a store into this one."""

    @staticmethod
    def id_for(name: str):
        return aggregate_id("store-migration", name)

    class Migrated(SupportAggregate.Created):
        """This store is a copy of another, verified event by event, in which every
        personal field the other held in plain text is sealed (R-PRV-1). `source_head`
        is the other store's last position and `source_key` its log key's id; `events`
        were copied, `rewritten` of them changed (sealed values, refs, links), `sealed`
        values were sealed, and `erased_customers` had been erased (their values are
        sealed under keys that were never stored). `mapping_sha256` is the digest of the
        mapping of every position to its old and new event id and hash, kept in the
        table `privacy_migration_map`."""

        TOPIC = "privacy.store_migrated"
        by: str
        reason: str
        source_head: int
        source_key: str
        events: int
        rewritten: int
        sealed: int
        erased_customers: int
        mapping_sha256: str

        def evolve(self, aggregate: Any) -> None:
            aggregate.mapping_sha256 = self.mapping_sha256

    @classmethod
    def record(cls, name: str, now: datetime, **fields: Any) -> StoreMigration:
        """Returns the record of the migration `name` at `now`."""
        return cls.start(cls.Migrated, id=cls.id_for(name), now=now, customer=DEPLOYMENT,
                         tenant=DEPLOYMENT, ref=name, **fields)
