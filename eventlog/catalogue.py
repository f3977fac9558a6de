"""The event catalogue: a JSON Schema for every event type and one for the envelope.

The schemas are generated from the event classes themselves (their dataclass fields and
type annotations, `domain.base.EVENT_TYPES`), so the published contract cannot drift
from what the relay sends: a new event type or field appears here by construction, and
a field type this module cannot describe fails loudly instead of being guessed. It
describes the JSON the envelope produces (`eventlog.envelope`): decimals as strings,
instants as RFC 3339 strings, sets as arrays. It names no Kafka and no database.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import domain.desk  # noqa: F401  (imports every aggregate, which fills EVENT_TYPES)
from domain.base import ENVELOPE_FIELDS as BASE_ENVELOPE_FIELDS
from domain.base import EVENT_TYPES
from eventlog.envelope import SPEC_VERSION

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: The envelope's file at the catalogue's root; each event type's is under `events/`.
#: No file carries an `$id`: each is known by where it lies, so the envelope's relative
#: `$ref`s resolve to the files beside it wherever the folder is copied, and a validator
#: never goes to the network for them (an absolute `$id` made every `$ref` a URL).
ENVELOPE_FILE = "envelope.schema.json"

#: Event fields that the envelope carries as attributes, not in `data` (the same set
#: `SupportAggregate.Event.payload` leaves out; the catalogue test checks they agree).
ENVELOPE_FIELDS = BASE_ENVELOPE_FIELDS

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    Decimal: {"type": "string", "pattern": DECIMAL_PATTERN},
    datetime: {"type": "string", "format": "date-time"},
    UUID: {"type": "string", "format": "uuid"},
    Any: {},
}


class CatalogueError(TypeError):
    """Raised when an event field has a type the catalogue cannot describe."""


def json_schema_of(hint: Any, where: str) -> dict[str, Any]:
    """Returns the JSON Schema of values of the Python type `hint`, as the envelope
    encodes them. Raises CatalogueError for a type it does not know."""
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [json_schema_of(a, where) for a in args if a is not type(None)]
        nullable = len(options) < len(args)
        if len(options) == 1 and isinstance(options[0].get("type"), str) and nullable:
            return {**options[0], "type": [options[0]["type"], "null"]}
        return {"anyOf": options + ([{"type": "null"}] if nullable else [])}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if hint is dict or origin is dict:
        return {"type": "object"}
    if hint in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        items = json_schema_of(args[0], where) if args and origin is not tuple else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    raise CatalogueError(f"{where}: cannot describe type {hint!r} in JSON Schema")


def description_of(event_class: type) -> str:
    """Returns the docstring the event class was written with (the library replaces
    `__doc__` of the class it builds with a generated signature)."""
    for klass in event_class.__mro__:
        doc = klass.__dict__.get("__doc__")
        if klass.__name__ == event_class.__name__ and doc and \
                not doc.startswith(f"{klass.__name__}("):
            return " ".join(doc.split())
    return ""


def payload_fields(event_class: type) -> list[tuple[str, Any]]:
    """Returns (name, type) of each field the event carries in `data`, in declared order."""
    hints = typing.get_type_hints(event_class)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(event_class)
            if f.name not in ENVELOPE_FIELDS]


def optional_fields(event_class: type) -> set[str]:
    """Returns the fields added to an event type after events of it were stored: they
    have a default, and a stored event from before lacks them in `data` (its bytes and
    hash never change), so a consumer must treat them as optional."""
    return {f.name for f in dataclasses.fields(event_class)
            if f.default is not dataclasses.MISSING and f.name not in ENVELOPE_FIELDS}


def event_file(type_name: str, version: int) -> str:
    """Returns the path of an event type's schema, relative to the catalogue's root."""
    return f"events/{type_name}.v{version}.schema.json"


def event_schema(type_name: str) -> dict[str, Any]:
    """Returns the JSON Schema of the `data` of events of `type_name`."""
    event_class = EVENT_TYPES[type_name]
    where = f"{type_name} ({event_class.__qualname__})"
    fields = payload_fields(event_class)
    return {
        "$schema": DIALECT,
        "title": f"{type_name} v{event_class.SCHEMA_VERSION}",
        "description": description_of(event_class),
        "type": "object",
        "properties": {name: json_schema_of(hint, f"{where}.{name}")
                       for name, hint in fields},
        "required": [name for name, _ in fields if name not in optional_fields(event_class)],
        "additionalProperties": False,
    }


#: The envelope's attributes: (name, schema, description). CloudEvents 1.0 names first,
#: then this log's extensions.
ENVELOPE_ATTRIBUTES: list[tuple[str, dict[str, Any], str]] = [
    ("specversion", {"const": SPEC_VERSION}, "CloudEvents spec version."),
    ("id", {"type": "string", "format": "uuid"},
     "The event's id, the same on every re-publication: deduplicate on it."),
    ("source", {"type": "string", "pattern": "^supportlog/"},
     "`supportlog/<tenant>`: the desk that recorded the event."),
    ("type", {"type": "string"}, "Stable event type name, e.g. `credit.charged`."),
    ("schemaversion", {"type": "integer", "minimum": 1},
     "Version of the `data` schema of this type."),
    ("subject", {"type": "string"},
     "The business id the event is about (ticket, customer, dispute, charge...)."),
    ("time", {"type": "string", "format": "date-time"},
     "When it happened (the command's `now`), UTC."),
    ("datacontenttype", {"const": "application/json"}, "Encoding of `data`."),
    ("customer", {"type": "string"},
     "The customer: the Kafka key, so one customer's events are in order in one "
     "partition."),
    ("tenant", {"type": "string"}, "The desk (policy profile id)."),
    ("aggregateid", {"type": "string", "format": "uuid"}, "The aggregate's id."),
    ("aggregateversion", {"type": "integer", "minimum": 1},
     "The event's version in its aggregate: skip a version already applied."),
    ("position", {"type": "integer", "minimum": 1},
     "The event's position in the store's log (notification id)."),
    ("prevhash", _HASH, "Hash of the aggregate's previous event (zeros for the first)."),
    ("hash", _HASH, "SHA-256 of this event's type and content (R-AUD-3)."),
    ("data", {"type": "object"}, "The event's own fields; see the schema of its type."),
    ("actor", {"type": "object", "properties": {"role": {"type": "string"},
                                                "id": {"type": "string"}},
               "required": ["role", "id"], "additionalProperties": False},
     "Who caused it (R-ACL-1): the principal's role (`customer`, `agent`, `desk_admin`, "
     "`service`; `operator` for the local command line, `system` for timers) and id, "
     "never a token. Absent on events recorded before principals existed."),
]

#: Attributes an envelope may lack (events stored before the attribute existed).
OPTIONAL_ATTRIBUTES = frozenset({"actor"})
#: The attributes every envelope has.
REQUIRED_ATTRIBUTES = [name for name, _, _ in ENVELOPE_ATTRIBUTES
                       if name not in OPTIONAL_ATTRIBUTES]


def envelope_schema() -> dict[str, Any]:
    """Returns the JSON Schema of a record value: the envelope, with `data` checked
    against the schema of the record's type and version, by a `$ref` relative to the
    envelope's own file (`events/<type>.v<n>.schema.json`)."""
    versions = {name: cls.SCHEMA_VERSION for name, cls in sorted(EVENT_TYPES.items())}
    properties = {name: {**schema, "description": text}
                  for name, schema, text in ENVELOPE_ATTRIBUTES}
    properties["type"] = {**properties["type"], "enum": list(versions)}
    return {
        "$schema": DIALECT,
        "title": "supportlog event envelope",
        "description": "A CloudEvents 1.0 event in structured JSON mode; the record key "
                       "is the customer; routing fields are repeated in Kafka headers.",
        "type": "object",
        "properties": properties,
        "required": REQUIRED_ATTRIBUTES,
        "additionalProperties": False,
        "allOf": [
            {"if": {"properties": {"type": {"const": name},
                                   "schemaversion": {"const": version}},
                    "required": ["type", "schemaversion"]},
             "then": {"properties": {"data": {"$ref": event_file(name, version)}}}}
            for name, version in versions.items()
        ],
    }


def schema_files() -> dict[str, dict[str, Any]]:
    """Returns every schema document by its path relative to the catalogue's root."""
    files = {ENVELOPE_FILE: envelope_schema()}
    for name, cls in sorted(EVENT_TYPES.items()):
        files[event_file(name, cls.SCHEMA_VERSION)] = event_schema(name)
    return files
