"""The AsyncAPI 3.0 document of the published log: one channel (the topic), one message
per version of each event type, built from the same schemas as the JSON Schema catalogue.
The current version of a type is the message named by the type (`credit.charged`);
each earlier version the topic may still hold is `<type>.v<n>` (`customer.registered.v1`).

It describes the application that publishes (the relay), so its operation is `send`;
a subscriber generates its client from the same document. Schemas are embedded in the
AsyncAPI default schema format (a superset of JSON Schema draft-07; the generated
schemas use no keyword outside it), without the `$schema` of the standalone files;
every `$ref` points inside the document.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from domain.base import EVENT_TYPES
from eventlog.catalogue import (
    ENVELOPE_ATTRIBUTES,
    REQUIRED_ATTRIBUTES,
    description_of,
    event_schema,
    versions_of,
)
from eventlog.envelope import HEADER_NAMES

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"

#: Which envelope attribute each Kafka header repeats.
HEADER_ATTRIBUTES = dict(zip(HEADER_NAMES, (
    "type", "id", "customer", "tenant", "aggregateid", "aggregateversion", "position",
    "schemaversion"), strict=True))

DELIVERY = (
    "Every event stored by supportlog, in store order, keyed by customer: one "
    "customer's tickets, credits, subscriptions and bans are in one partition, in order. "
    "Delivery is at least once: after a crash or a refill an event may appear again, "
    "never be skipped. Deduplicate on `id`, or apply an aggregate's events only when "
    "`aggregateversion` is above the last one applied.")


def _component_name(type_name: str, version: int) -> str:
    return f"{type_name}.v{version}"


def _embedded(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "$schema"}


def _headers(type_name: str) -> dict[str, Any]:
    descriptions = {name: text for name, _, text in ENVELOPE_ATTRIBUTES}
    properties = {header: {"type": "string",
                           "description": f"= `{attribute}`: {descriptions[attribute]}"}
                  for header, attribute in HEADER_ATTRIBUTES.items()}
    properties["ce_type"]["const"] = type_name
    return {"type": "object", "properties": properties, "required": list(HEADER_NAMES)}


def _payload(type_name: str, version: int) -> dict[str, Any]:
    properties = {name: {**schema, "description": text}
                  for name, schema, text in ENVELOPE_ATTRIBUTES}
    properties["type"] = {"const": type_name, "description": properties["type"]["description"]}
    properties["schemaversion"] = {"const": version}
    properties["data"] = {"$ref": f"#/components/schemas/{_component_name(type_name, version)}"}
    return {"type": "object", "properties": properties,
            "required": REQUIRED_ATTRIBUTES,
            "additionalProperties": False}


def _version() -> str:
    try:
        return metadata.version("supportlog")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def message_name(type_name: str, version: int) -> str:
    """Returns the name of the message of `type_name` at `version` (see the module doc)."""
    current = EVENT_TYPES[type_name].class_version
    return type_name if version == current else _component_name(type_name, version)


def asyncapi_document(topic: str, partitions: int) -> dict[str, Any]:
    """Returns the AsyncAPI 3.0 document of `topic` with `partitions` partitions."""
    versions = [(name, version) for name in sorted(EVENT_TYPES)
                for version in versions_of(name)]
    messages = {
        message_name(name, version): {
            "name": message_name(name, version),
            "title": f"{name} v{version}",
            "summary": (event_schema(name, version).get("description")
                        or description_of(EVENT_TYPES[name]) or name),
            "contentType": "application/json",
            "headers": _headers(name),
            "payload": _payload(name, version),
            "bindings": {"kafka": {
                "key": {"type": "string", "description": "The customer id."},
                "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        for name, version in versions
    }
    names = list(messages)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "supportlog events",
            "version": _version(),
            "description": "The published log of a support desk: tickets, credits, "
                           "subscriptions, disputes and bans, as CloudEvents. " + DELIVERY,
        },
        "servers": {"kafka": {
            "host": "{bootstrap}", "protocol": "kafka",
            "description": "The cluster named by KAFKA_BOOTSTRAP_SERVERS.",
            "variables": {"bootstrap": {"default": "localhost:9092",
                                        "description": "host:port of a bootstrap server"}},
        }},
        "defaultContentType": "application/json",
        "channels": {"events": {
            "address": topic,
            "title": "Every stored event",
            "description": DELIVERY,
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {"kafka": {"topic": topic, "partitions": partitions,
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
        }},
        "operations": {"publishEvents": {
            "action": "send",
            "title": "The relay publishes every stored event",
            "channel": {"$ref": "#/channels/events"},
            "messages": [{"$ref": f"#/channels/events/messages/{name}"} for name in names],
        }},
        "components": {
            "messages": messages,
            "schemas": {_component_name(name, version):
                        _embedded(event_schema(name, version)) for name, version in versions},
        },
    }
