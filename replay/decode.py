"""Stored events straight into envelopes for folding: no domain event, no hash.

A rebuild folds every stored event, and the folds read only the envelope's routing
fields and `data`, never its hash. The general path (`Envelope.from_event` of the
mapper's domain event) decodes the stored JSON with the standard library into Python
objects (datetimes, UUIDs, decimals), builds the event, then encodes its payload with
orjson and decodes it again, and hashes the whole event (R-AUD-3): most of a rebuild's
reading time. Here the stored JSON is decoded once with orjson and each transcoded
value (`{"_type_": ..., "_data_": ...}`, the eventsourcing transcoder's marker) is
turned directly into the JSON form the envelope's payload gives it, by the transcoder's
own transcoding and orjson, as `from_event` would. The envelope's `hash` is left empty:
whoever needs the chain (`verify`, the relay, the audit) builds its envelopes the
general way.

An event stored at an earlier version of its class has its payload upcast by the
class's own upcasters (they change only JSON fields, `domain.base`), as the mapper
would have upcast the event. Anything this path does not know how to reproduce exactly
(an encrypted or compressed store, an event stored by a newer version of the code, a
transcoding it cannot name, JSON orjson refuses) goes the general way instead, so the
result is always the envelope `from_event` would build, with an empty hash;
`tests/integration/test_rebuild_bulk.py` checks that on a whole log, and
`tests/integration/test_main_log.py` on a log of events stored at version 1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import resolve_topic

from domain.base import ENVELOPE_FIELDS, SupportAggregate
from domain.sealing import MAC_FIELD
from eventlog.envelope import Envelope, event_id_text, json_default, utc_text

#: Stored keys that are not the payload: the envelope's own fields and the event's seal
#: (`domain.sealing`), which the mapper's domain event does not carry either.
_NOT_DATA = ENVELOPE_FIELDS | {MAC_FIELD}


class _Slow(Exception):
    """This stored event must go the general way (mapper, then `from_event`)."""


class EnvelopeDecoder:
    """Turns the notifications of one desk's store into hash-free envelopes."""

    def __init__(self, mapper: Any):
        self.mapper = mapper
        transcoder = mapper.transcoder
        self.transcodings: dict[str, Any] = dict(getattr(transcoder, "names", {}) or {})
        #: The fast path needs plain JSON: no cipher, no compressor, the JSON transcoder.
        self.fast = (mapper.cipher is None and mapper.compressor is None
                     and bool(self.transcodings))
        #: Per stored topic: (class, type name, schema version), or None: the general way.
        self._classes: dict[str, tuple[Any, str, int] | None] = {}
        #: Per aggregate id: its text and its bytes (for event ids).
        self._aggregates: dict[UUID, tuple[str, bytes]] = {}

    def envelopes(self, notifications: list[Any]) -> list[Envelope]:
        """Returns the envelope of each notification, in order."""
        if not self.fast:
            return [self._general(n) for n in notifications]
        out: list[Envelope] = []
        for n in notifications:
            try:
                out.append(self._fast(n))
            except (_Slow, KeyError, TypeError, ValueError, AttributeError):
                out.append(self._general(n))
        return out

    def _general(self, notification: Any) -> Envelope:
        """The envelope of the mapper's domain event (raises what the mapper raises)."""
        event = self.mapper.to_domain_event(notification)
        return Envelope.from_event(event, notification.id, with_hash=False)

    def _aggregate(self, aggregate_id: UUID) -> tuple[str, bytes]:
        """Returns the aggregate id's text and bytes, kept for its next events (one pair
        per aggregate of the log: the rebuild keeps as much per aggregate anyway)."""
        pair = self._aggregates[aggregate_id] = (str(aggregate_id), aggregate_id.bytes)
        return pair

    def _class_of(self, topic: str) -> tuple[Any, str, int]:
        """Returns the class, type name and schema version of the event class stored as
        `topic`; raises _Slow for a class whose events need the domain event."""
        if topic not in self._classes:
            cls = resolve_topic(topic)
            # a class that computes its payload its own way needs the domain event
            simple = (hasattr(cls, "TOPIC")
                      and getattr(cls, "payload", None) is SupportAggregate.Event.payload)
            self._classes[topic] = (cls, cls.TOPIC, cls.class_version) if simple else None
        known = self._classes[topic]
        if known is None:
            raise _Slow
        return known

    def _fast(self, n: Any) -> Envelope:
        cls, type_name, schema_version = self._class_of(n.topic)
        try:
            state = orjson.loads(n.state)
        except orjson.JSONDecodeError as e:  # NaN, an infinite number, a lone surrogate
            raise _Slow from e
        stored_version = state.pop("class_version", 1)
        if type(stored_version) is not int or stored_version > schema_version:
            raise _Slow  # (the mapper says what is wrong with it)
        stamp = state["timestamp"]
        customer, tenant, ref = state["customer"], state["tenant"], state["ref"]
        prev_hash = state["prev_hash"]
        actor = state.get("actor")
        if actor is not None and (type(actor) is not dict or any(
                type(v) is not str for v in actor.values())):
            raise _Slow  # (who acted is plain text, as `domain.actor` records it)
        if type(stamp) is not dict or len(stamp) != 2 \
                or stamp.get("_type_") != "datetime_iso" or type(customer) is not str \
                or type(tenant) is not str or type(ref) is not str \
                or type(prev_hash) is not str:
            raise _Slow  # (the envelope copies these four as they are: plain text only)
        aggregate = self._aggregates.get(n.originator_id)
        if aggregate is None:
            aggregate = self._aggregate(n.originator_id)
        data = {k: self._value(v) for k, v in state.items() if k not in _NOT_DATA}
        for version in range(stored_version, schema_version):
            getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
        return Envelope(
            id=event_id_text(n.originator_id, n.originator_version, aggregate[1]),
            type=type_name,
            schema_version=schema_version,
            time=utc_text(datetime.fromisoformat(stamp["_data_"])),
            customer=customer,
            tenant=tenant,
            ref=ref,
            aggregate_id=aggregate[0],
            aggregate_version=n.originator_version,
            position=n.id,
            prev_hash=prev_hash,
            hash="",
            data=data,
            actor=actor,
        )

    def _value(self, value: Any) -> Any:
        """The payload form of one decoded JSON value: transcoded values become what
        orjson makes of the object they stand for; text, integers, booleans and null are
        already that. A float goes the general way: orjson reads an integer beyond 64
        bits as a float, where the standard library keeps it whole (and `from_event`
        then refuses it), and the payloads hold no floats of their own."""
        kind = type(value)
        if kind is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                transcoding = self.transcodings.get(value["_type_"])
                if transcoding is None or type(value["_data_"]) is not str:
                    raise _Slow  # (the transcoder would decode nested data first)
                return orjson.loads(orjson.dumps(transcoding.decode(value["_data_"]),
                                                 default=json_default))
            return {k: self._value(v) for k, v in value.items()}
        if kind is list:
            return [self._value(v) for v in value]
        if kind is float:
            raise _Slow
        return value
