"""The AsyncAPI 3.0 document of the published log: one channel (the topic), one message
per event type, built from the same generated schemas as the JSON Schema catalogue.

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


def asyncapi_document(topic: str, partitions: int) -> dict[str, Any]:
    """Returns the AsyncAPI 3.0 document of `topic` with `partitions` partitions."""
    types = sorted(EVENT_TYPES.items())
    messages = {
        name: {
            "name": name,
            "title": f"{name} v{cls.SCHEMA_VERSION}",
            "summary": description_of(cls) or name,
            "contentType": "application/json",
            "headers": _headers(name),
            "payload": _payload(name, cls.SCHEMA_VERSION),
            "bindings": {"kafka": {
                "key": {"type": "string", "description": "The customer id."},
                "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        for name, cls in types
    }
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
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name, _ in types},
            "bindings": {"kafka": {"topic": topic, "partitions": partitions,
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
        }},
        "operations": {"publishEvents": {
            "action": "send",
            "title": "The relay publishes every stored event",
            "channel": {"$ref": "#/channels/events"},
            "messages": [{"$ref": f"#/channels/events/messages/{name}"} for name, _ in types],
        }},
        "components": {
            "messages": messages,
            "schemas": {_component_name(name, cls.SCHEMA_VERSION): _embedded(event_schema(name))
                        for name, cls in types},
        },
    }
