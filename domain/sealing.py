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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

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
        """Returns the domain event and the seal stored with it (None: stored unsealed)."""
        event = super().to_domain_event(stored_event)
        return event, vars(event).pop(MAC_FIELD, None)
