"""What the projector reads: Kafka records, decoded into planning items.

A consumed record with a value is kept as kafka-python's `ConsumerRecord` itself (copying
it cost a tuple per record); a record rebuilt from the quarantine (dead letters) or
consumed without a value (a tombstone) is a `Record`, which has the same fields. Code
that reads a record uses only those fields, and `header` and `headers_json`, which work
on either.
"""

from __future__ import annotations

import base64
import re
from typing import Any, NamedTuple

from domain.base import EVENT_TYPES
from eventlog.envelope import Envelope, EnvelopeError
from eventlog.versions import current
from projections.planning import Incoming

_BIGINT = 2**63
#: What `str(UUID)` writes and PostgreSQL's `uuid::text` reads back. Applied versions
#: are matched by this text, so another spelling of the same id (upper case, no
#: hyphens, braces) would escape the duplicate check; a regular expression is also
#: several times cheaper than building a `UUID` per record.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Record(NamedTuple):
    """One Kafka record rebuilt from the quarantine, or a consumed record with no value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: Any) -> Record:
        """Returns the projector's copy of a kafka-python ConsumerRecord."""
        return cls(record.topic, record.partition, record.offset, record.key,
                   record.value or b"", tuple(record.headers or ()))


def header(record: Any, name: str) -> str | None:
    """Returns the record's header `name` as text, or None (a `Record` or a
    `ConsumerRecord`)."""
    for key, value in record.headers or ():
        if key == name:
            return (value or b"").decode("utf-8", "replace")
    return None


def headers_json(record: Any) -> list[list[str]]:
    """Returns the record's headers as [name, base64 value] pairs, byte for byte."""
    return [[k, base64.b64encode(v or b"").decode()] for k, v in record.headers or ()]


def safe_text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: a record must not be able to wedge the loop."""
    return value.replace("\x00", "\\0") if value is not None else None


def decode_record(record: Any) -> Incoming:
    """Decodes the record's envelope into a planning item, its data upcast to the
    current version of its type (`eventlog.versions`); an envelope whose stream
    position PostgreSQL could not store or match (an aggregate id not in the canonical
    UUID form the relay writes, a number out of range) counts as undecodable, or it
    would fail every retry of its batch."""
    try:
        envelope = current(Envelope.decode(record.value))
    except EnvelopeError as e:
        return Incoming(record, None, safe_text(f"{e}"))
    known = EVENT_TYPES.get(envelope.type)
    if known is not None and envelope.schema_version > known.class_version:
        return Incoming(record, None, safe_text(
            f"{envelope.type} v{envelope.schema_version}: written by a newer version of "
            f"supportlog, which reads up to v{known.class_version}: upgrade the projector"))
    agg = envelope.aggregate_id
    if not (isinstance(agg, str) and _CANONICAL_UUID.fullmatch(agg)):
        return Incoming(record, None, safe_text(
            f"malformed envelope: aggregateid: not a canonical UUID: {agg!r}"))
    if not (0 < envelope.aggregate_version < _BIGINT and 0 <= envelope.position < _BIGINT):
        return Incoming(record, None, "malformed envelope: aggregateversion or position "
                                      "out of range")
    return Incoming(record, envelope)


def decode_batch(batch: dict[Any, list[Any]]) -> list[Incoming]:
    """Decodes each record of a poll's batch, kept as it is unless it has no value (a
    tombstone, copied into a `Record` with an empty value: undecodable, as any)."""
    return [decode_record(r if r.value is not None else Record.of(r))
            for records in batch.values() for r in records]
