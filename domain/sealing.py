"""The seal of every stored event (R-AUD-3, architecture decision 9): a keyed MAC of its hash.

The hash chain (`domain.chain`) shows that something changed, but anyone who can write
to the database can also recompute it: alter an event, re-hash it and every event after
it, and the chain is whole again. So each event is stored with `mac`, a MAC of its hash
under a key the database does not hold. The desk is given the MAC function (a `Signer`,
built by the composition root from the key); the domain never sees the key, a file or
randomness.

The MAC lives in the stored state, beside `prev_hash`, and is written by the mapper as
the event is encoded, in the same insert, so an event is covered from the moment it is
stored, not only once relayed. It is covered by neither hash: `hash` is computed from
the event's own fields first and the MAC of it added after. Decoding takes it out again,
so the domain event, its hash, its payload and its envelope are exactly what they were
before seals existed: the MAC is a property of the stored row, checked by
`replay.verify`, and it is not published (a subscriber could not check it without the
key; the topic carries `hash`, which is what `verify --kafka` compares).

Events stored before seals existed have no `mac`; their bytes are untouched. A desk
built without a signer (the pure tests' in-memory desks) stores events without one.

Reading is the library's `Mapper.to_domain_event`, step for step, plus two things for
events stored at an older version of their class (`domain.base`): the hash of the
stored form is computed before the upcasters run and kept with the event, so the
chain, the MAC, `verify` and the envelope's `hash` all speak of the bytes that were
stored, whatever shape the code reads them in; and an event stored by a newer version
of the code than this one is refused by name rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from domain.base import STORED_HASH
from domain.chain import event_hash

#: The stored state's key of an event's seal: hex HMAC-SHA256 of its hash.
MAC_FIELD = "mac"

#: The MAC function: an event's hex hash in, its hex MAC out.
Signer = Callable[[str], str]


class SealingMapper(Mapper[UUID]):
    """The library's mapper, plus the seal: added when an event is stored, taken out
    (and handed to whoever asks, `decode_sealed`) when it is read.

    `signer` is set by `SupportDesk` after construction (the library's factory builds
    mappers with a fixed set of arguments)."""

    signer: Signer | None = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """The library's encoding (`Mapper.to_stored_event`, step for step) with the
        seal added to the state before it is encoded."""
        if STORED_HASH in vars(domain_event):
            raise ValueError("an event read from an older stored version is never "
                             "stored again: stored events are not rewritten")
        if self.signer is None:
            return super().to_stored_event(domain_event)
        event_state = dict(vars(domain_event))
        event_state[MAC_FIELD] = self.signer(domain_event.hash)
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(originator_id=originator_id,
                           originator_version=originator_version,
                           topic=get_topic(type(domain_event)), state=stored_state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """The domain event, without its seal."""
        return self.decode_sealed(stored_event)[0]

    def decode_sealed(self, stored_event: StoredEvent) -> tuple[Any, str | None]:
        """Returns the domain event, upcast to its class's version, and the seal stored
        with it (None: stored unsealed)."""
        cls = resolve_topic(stored_event.topic)
        state = self.decoded_state(stored_event)
        mac = state.pop(MAC_FIELD, None)
        stored_version = state.pop("class_version", 1)
        current = getattr(cls, "class_version", 1)
        if stored_version != current:
            if stored_version > current:
                raise MapperDeserialisationError(
                    f"{stored_event.topic} v{stored_event.originator_version} of "
                    f"{stored_event.originator_id} was stored at version {stored_version} "
                    f"of its type; this code reads up to version {current}: upgrade it")
            hashed = state if stored_version == 1 else \
                {**state, "class_version": stored_version}
            stored_hash = event_hash(cls.TOPIC, hashed)
            for version in range(stored_version, current):
                getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            state[STORED_HASH] = stored_hash
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event, mac

    def decoded_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        """Returns the stored state as the transcoder decodes it, with the event's id and
        version: the event as stored, not yet upcast (`Mapper.to_domain_event`)."""
        stored_state = stored_event.state
        try:
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            state: dict[str, Any] = self.transcoder.decode(stored_state)
        except Exception as e:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' "
                f"and originator_version {stored_event.originator_version}: {e}") from e
        state["originator_id"] = stored_event.originator_id if isinstance(
            stored_event.originator_id, UUID) else UUID(str(stored_event.originator_id))
        state["originator_version"] = stored_event.originator_version
        return state
