"""Envelopes of earlier versions, read as the current one (docs/events.md "Versions").

The topic keeps every record it was ever given: records published before an event type
moved to a new version stay at their version. A reader that folds (supportlog's own
projector, a rebuild from the topic) wants one shape per type, so it upcasts `data`
with the very functions the store's mapper runs on stored events (`domain.base`: an
upcaster touches only the event's own JSON fields). The envelope's `hash` stays the one
published: it is the hash of the event as stored, whatever shape it is read in.
"""

from __future__ import annotations

import dataclasses

from domain.base import EVENT_TYPES
from eventlog.envelope import Envelope


def current(envelope: Envelope) -> Envelope:
    """Returns `envelope` with its data upcast to its type's current version (itself if
    it is current, of a type this code does not know, or of a later version: the
    reader that folds it decides what to do with those)."""
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None or envelope.schema_version >= cls.class_version:
        return envelope
    data = dict(envelope.data)
    for version in range(envelope.schema_version, cls.class_version):
        getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
    return dataclasses.replace(envelope, schema_version=cls.class_version, data=data)
