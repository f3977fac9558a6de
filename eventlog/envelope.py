"""The documented event envelope: what every subscriber of the topic receives.

Attribute names follow CloudEvents 1.0 where they fit (`specversion`, `id`, `source`,
`type`, `subject` (the business id: ticket, dispute, customer...), `time`,
`datacontenttype`, `data`) plus extensions for the log:
`customer` (the partition key), `tenant` (the desk's profile id), `aggregateid` and
`aggregateversion` (the stream position; a consumer skips what it has applied),
`position` (the store's notification id), `schemaversion`, `prevhash`/`hash` (the
aggregate's hash chain, R-AUD-3) and `actor`, the principal whose command caused the
event (R-ACL-1), present only when the event records one: an event stored before
principals existed encodes to exactly the bytes it always did. The body is orjson; the
routing fields are repeated as Kafka headers so a subscriber can filter without decoding
the body.

An envelope built from an event keeps the orjson bytes of its payload, so `encode` writes
them as they are instead of encoding the payload a second time (the relay's hot path);
the record value is the same bytes either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
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


def json_default(value: Any) -> Any:
    """orjson's fallback for payload values: decimals as text, sets as sorted lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def utc_text(instant: datetime) -> str:
    """Returns the envelope's `time`: the instant in UTC, ISO 8601 with a `Z`."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_id(aggregate_id: UUID, version: int) -> UUID:
    """Returns the event's stable id: the same on every re-publication."""
    return uuid5(aggregate_id, str(version))


def event_id_text(aggregate_id: UUID, version: int, id_bytes: bytes | None = None) -> str:
    """Returns `str(event_id(aggregate_id, version))`, computed without building UUID
    objects (the relay does this for every event): RFC 4122 name-based SHA-1, version 5.
    `id_bytes`, if given, is `aggregate_id.bytes`, kept by a caller that sees many
    events of one aggregate (the rebuild)."""
    name = (aggregate_id.bytes if id_bytes is None else id_bytes) + str(version).encode()
    digest = bytearray(hashlib.sha1(name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    #: Who caused the event ({"role", "id"}), None if the event records nobody.
    actor: dict[str, str] | None = None
    #: `data` as orjson encoded it, when built from an event: `encode` reuses these bytes.
    #: Not an init field, so `dataclasses.replace(envelope, data=...)` drops it.
    data_json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_event(cls, event: Any, position: int, with_hash: bool = True) -> Envelope:
        """Builds the envelope of a domain event stored at `position`.

        With `with_hash=False` the event's hash is not computed and `hash` is empty: for
        readers that fold the data and never publish or verify it (a rebuild); the hash
        is the costliest part of an envelope.
        """
        data_json = orjson.dumps(event.payload, default=json_default)
        envelope = cls(
            id=event_id_text(event.originator_id, event.originator_version),
            type=event.TOPIC,
            schema_version=event.SCHEMA_VERSION,
            time=utc_text(event.timestamp),
            customer=event.customer,
            tenant=event.tenant,
            ref=event.ref,
            aggregate_id=str(event.originator_id),
            aggregate_version=event.originator_version,
            position=position,
            prev_hash=event.prev_hash,
            hash=event.hash if with_hash else "",
            data=orjson.loads(data_json),
            actor=event.actor,
        )
        object.__setattr__(envelope, "data_json", data_json)
        return envelope

    def to_dict(self) -> dict[str, Any]:
        """Returns the record value's JSON object, field by field."""
        return self._body(self.data)

    def _body(self, data: Any) -> dict[str, Any]:
        body = {
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
            "data": data,
        }
        if self.actor is not None:
            body["actor"] = self.actor
        return body

    def encode(self) -> bytes:
        """Returns the Kafka record value (the payload's bytes reused when known: orjson
        writes a decoded payload back to the very bytes it was decoded from)."""
        if self.data_json is None:
            return orjson.dumps(self.to_dict())
        return orjson.dumps(self._body(orjson.Fragment(self.data_json)))

    def key(self) -> bytes:
        """Returns the Kafka record key: the customer, so one customer is one partition."""
        return self.customer.encode()

    def headers(self) -> list[tuple[str, bytes]]:
        """Returns the routing fields as Kafka headers, named and ordered as HEADER_NAMES
        (spelled out: this runs for every published event)."""
        return [("ce_type", str(self.type).encode()), ("ce_id", str(self.id).encode()),
                ("customer", str(self.customer).encode()),
                ("tenant", str(self.tenant).encode()),
                ("aggregate_id", str(self.aggregate_id).encode()),
                ("aggregate_version", str(self.aggregate_version).encode()),
                ("position", str(self.position).encode()),
                ("schema_version", str(self.schema_version).encode())]

    @classmethod
    def decode(cls, value: bytes) -> Envelope:
        """Parses a Kafka record value; raises EnvelopeError if it is malformed.

        The instance's fields are set in one step rather than through the generated
        `__init__`, which, the class being frozen, sets each of its 15 fields with
        `object.__setattr__`: a third of the cost of decoding, paid for every record a
        projector reads. The result is the same instance `__init__` would make."""
        try:
            raw = orjson.loads(value)
            envelope = object.__new__(cls)
            vars(envelope).update(
                id=raw["id"], type=raw["type"], schema_version=int(raw["schemaversion"]),
                time=raw["time"], customer=raw["customer"], tenant=raw["tenant"],
                ref=raw["subject"], aggregate_id=raw["aggregateid"],
                aggregate_version=int(raw["aggregateversion"]),
                position=int(raw["position"]), prev_hash=raw["prevhash"], hash=raw["hash"],
                data=dict(raw["data"]), actor=raw.get("actor"), data_json=None,
            )
            return envelope
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise EnvelopeError(f"malformed envelope: {e}") from e
