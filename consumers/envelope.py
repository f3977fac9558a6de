"""The documented event envelope: what every subscriber of the topic receives.

Attribute names follow CloudEvents 1.0 where they fit (`specversion`, `id`, `source`,
`type`, `subject` (the business id: ticket, dispute, customer...), `time`,
`datacontenttype`, `data`) plus extensions for the log:
`customer` (the partition key), `tenant` (the desk's profile id), `aggregateid` and
`aggregateversion` (the stream position; a consumer skips what it has applied),
`position` (the store's notification id), `schemaversion`, and `prevhash`/`hash` (the
aggregate's hash chain, R-AUD-3). The body is orjson; the routing fields are repeated as
Kafka headers so a subscriber can filter without decoding the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

import orjson

SPEC_VERSION = "1.0"
SOURCE = "supportlog"
HEADER_NAMES = ("ce_type", "ce_id", "customer", "tenant", "aggregate_id",
                "aggregate_version", "position", "schema_version")


class EnvelopeError(ValueError):
    """Raised when a record's value is not a well-formed envelope."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_id(aggregate_id: UUID, version: int) -> UUID:
    """Returns the event's stable id: the same on every re-publication."""
    return uuid5(aggregate_id, str(version))


@dataclass(frozen=True)
class Envelope:
    """One published event, decoded."""

    id: str
    type: str
    schema_version: int
    time: str
    customer: str
    tenant: str
    ref: str
    aggregate_id: str
    aggregate_version: int
    position: int
    prev_hash: str
    hash: str
    data: dict[str, Any]

    @classmethod
    def from_event(cls, event: Any, position: int) -> Envelope:
        """Builds the envelope of a domain event stored at `position`."""
        data = orjson.loads(orjson.dumps(event.payload, default=_default))
        return cls(
            id=str(event_id(event.originator_id, event.originator_version)),
            type=event.TOPIC,
            schema_version=event.SCHEMA_VERSION,
            time=_iso(event.timestamp),
            customer=event.customer,
            tenant=event.tenant,
            ref=event.ref,
            aggregate_id=str(event.originator_id),
            aggregate_version=event.originator_version,
            position=position,
            prev_hash=event.prev_hash,
            hash=event.hash,
            data=data,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": f"{SOURCE}/{self.tenant}",
            "type": self.type,
            "schemaversion": self.schema_version,
            "subject": self.ref,
            "time": self.time,
            "datacontenttype": "application/json",
            "customer": self.customer,
            "tenant": self.tenant,
            "aggregateid": self.aggregate_id,
            "aggregateversion": self.aggregate_version,
            "position": self.position,
            "prevhash": self.prev_hash,
            "hash": self.hash,
            "data": self.data,
        }

    def encode(self) -> bytes:
        """Returns the Kafka record value."""
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        """Returns the Kafka record key: the customer, so one customer is one partition."""
        return self.customer.encode()

    def headers(self) -> list[tuple[str, bytes]]:
        """Returns the routing fields as Kafka headers."""
        values = (self.type, self.id, self.customer, self.tenant, self.aggregate_id,
                  self.aggregate_version, self.position, self.schema_version)
        return [(name, str(value).encode()) for name, value in zip(HEADER_NAMES, values,
                                                                   strict=True)]

    @classmethod
    def decode(cls, value: bytes) -> Envelope:
        """Parses a Kafka record value; raises EnvelopeError if it is malformed."""
        try:
            raw = orjson.loads(value)
            return cls(
                id=raw["id"], type=raw["type"], schema_version=int(raw["schemaversion"]),
                time=raw["time"], customer=raw["customer"], tenant=raw["tenant"],
                ref=raw["subject"], aggregate_id=raw["aggregateid"],
                aggregate_version=int(raw["aggregateversion"]),
                position=int(raw["position"]), prev_hash=raw["prevhash"], hash=raw["hash"],
                data=dict(raw["data"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise EnvelopeError(f"malformed envelope: {e}") from e
