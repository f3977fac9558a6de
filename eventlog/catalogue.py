"""The event catalogue: a JSON Schema for every event type and one for the envelope.

The schemas are generated from the event classes themselves (their dataclass fields and
type annotations, `domain.base.EVENT_TYPES`), so the published contract cannot drift
from what the relay sends: a new event type or field appears here by construction, and
a field type this module cannot describe fails loudly instead of being guessed. It
describes the JSON the envelope produces (`eventlog.envelope`): decimals as strings,
instants as RFC 3339 strings, sets as arrays, personal data as sealed values. It names
no Kafka and no database.

Every version of a type that was ever published stays in the catalogue: the topic still
holds records of it. The current version's schema is generated; each earlier one is
kept as it was published, in `published.json` (which also holds the current ones, so a
change to a published version is seen: `publication_problems`, docs/events.md
"Versions of an event type").
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import domain.desk  # noqa: F401  (imports every aggregate, which fills EVENT_TYPES)
from domain.base import ENVELOPE_FIELDS as BASE_ENVELOPE_FIELDS
from domain.base import EVENT_TYPES
from domain.personal import AESGCM, UNPROTECTED, Sealed
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

#: Every published version's schema, by `<type>.v<n>` (see the module doc).
PUBLISHED_FILE = Path(__file__).with_name("published.json")

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

#: The schema of a personal field's value (`domain.personal`, R-PRV-1).
SEALED_SCHEMA: dict[str, Any] = {
    "title": "sealed personal data",
    "description": "Personal data (R-PRV-1): encrypted with the customer's data key "
                   "`kid` (AES-GCM; `ct` is the base64 of the 12-byte nonce, the "
                   "ciphertext and the 16-byte tag), readable only through supportlog while "
                   "that key exists; after `customer.erased` nobody can read it. "
                   "`{\"enc\": \"none\"}` is a value stored in plain text before "
                   "encryption existed.",
    "anyOf": [
        {"type": "object", "properties": {
            "enc": {"const": AESGCM}, "kid": {"type": "string"},
            "ct": {"type": "string", "contentEncoding": "base64"}},
         "required": ["enc", "kid", "ct"], "additionalProperties": False},
        {"type": "object", "properties": {
            "enc": {"const": UNPROTECTED}, "text": {"type": "string"}},
         "required": ["enc", "text"], "additionalProperties": False},
    ],
}
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    Decimal: {"type": "string", "pattern": DECIMAL_PATTERN},
    datetime: {"type": "string", "format": "date-time"},
    UUID: {"type": "string", "format": "uuid"},
    Sealed: SEALED_SCHEMA,
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


@functools.cache
def published_schemas() -> dict[str, dict[str, Any]]:
    """Returns every published version's schema by `<type>.v<n>` (`published.json`)."""
    return json.loads(PUBLISHED_FILE.read_text(encoding="utf-8"))


def versions_of(type_name: str) -> list[int]:
    """Returns every version of the type that may be on the topic, oldest first."""
    return list(range(1, EVENT_TYPES[type_name].class_version + 1))


def event_schema(type_name: str, version: int | None = None) -> dict[str, Any]:
    """Returns the JSON Schema of the `data` of events of `type_name` at `version`
    (default: the current one, generated; an earlier one as it was published)."""
    event_class = EVENT_TYPES[type_name]
    if version is not None and version != event_class.class_version:
        key = f"{type_name}.v{version}"
        if key not in published_schemas():
            raise CatalogueError(f"{key}: no such published version")
        return published_schemas()[key]
    where = f"{type_name} ({event_class.__qualname__})"
    fields = payload_fields(event_class)
    return {
        "$schema": DIALECT,
        "title": f"{type_name} v{event_class.class_version}",
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
    versions = [(name, version) for name in sorted(EVENT_TYPES)
                for version in versions_of(name)]
    properties = {name: {**schema, "description": text}
                  for name, schema, text in ENVELOPE_ATTRIBUTES}
    properties["type"] = {**properties["type"], "enum": sorted(EVENT_TYPES)}
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
            for name, version in versions
        ],
    }


def schema_files() -> dict[str, dict[str, Any]]:
    """Returns every schema document by its path relative to the catalogue's root: the
    envelope and every version of every event type."""
    files = {ENVELOPE_FILE: envelope_schema()}
    for name in sorted(EVENT_TYPES):
        for version in versions_of(name):
            files[event_file(name, version)] = event_schema(name, version)
    return files


def publication_problems() -> list[str]:
    """Returns what `published.json` says against the event classes (empty: nothing).

    Every version of every type must be published; a version once published may only
    gain optional fields (a new field with a default: readers ignore what they do not
    know), never lose, rename or retype one or make one required; that is a new version
    with an upcaster (docs/events.md "Versions of an event type")."""
    problems: list[str] = []
    kept = published_schemas()
    for name in sorted(EVENT_TYPES):
        for version in versions_of(name):
            key = f"{name}.v{version}"
            if key not in kept:
                problems.append(f"{key} is not in {PUBLISHED_FILE.name}: publish it "
                                f"(`supportlog schema publish`)")
        current = EVENT_TYPES[name].class_version
        before, now = kept.get(f"{name}.v{current}"), event_schema(name)
        if before is None:
            continue
        for field, schema in before["properties"].items():
            if field not in now["properties"]:
                problems.append(f"{name}.v{current}: field {field!r} was removed or "
                                "renamed: that is a new version with an upcaster")
            elif now["properties"][field] != schema:
                problems.append(f"{name}.v{current}: field {field!r} changed its type: "
                                "that is a new version with an upcaster")
        if set(now["required"]) != set(before["required"]):
            problems.append(f"{name}.v{current}: its required fields changed (a new field "
                            "must be optional, with a default)")
        elif now["properties"].keys() - before["properties"].keys():
            problems.append(f"{name}.v{current} gained the optional field(s) "
                            f"{sorted(now['properties'].keys() - before['properties'])}: "
                            f"publish it (`supportlog schema publish`)")
    return problems


def published_now() -> dict[str, dict[str, Any]]:
    """Returns `published.json` as it must read after publishing the current versions:
    earlier versions as they were, the current ones as generated."""
    kept = dict(published_schemas())
    for name in EVENT_TYPES:
        kept[f"{name}.v{EVENT_TYPES[name].class_version}"] = event_schema(name)
    return dict(sorted(kept.items()))
