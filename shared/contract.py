"""The event contract, generated from the models so it cannot drift from them: the AsyncAPI 3.0
document of every topic Rebound owns, and the OpenAPI request bodies of the partner ingest.

A flight event reaches Rebound as its own JSON or as a CloudEvent; in a CloudEvent the data need
not repeat what the attributes say (`type`, the partner's event id, the time it happened)."""

import copy
from typing import Any, Literal

from pydantic import TypeAdapter

from shared import system, topics
from shared.events import FLIGHT_EVENT_TYPES, TRACEPARENT, Envelope, FlightEvent, type_name

REF = "#/components/schemas/{model}"
MAX_BATCH = 500
# In a CloudEvent these come from its attributes when the data leaves them out.
FROM_ATTRIBUTES = {"type": "type", "partner_event_id": "id", "occurred_at": "time"}

CLOUD_EVENT_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 context attributes (spec.md). Extension attributes (lower-case letters and "
                   "digits, e.g. `partitionkey`, `sequence`) are accepted and ignored, except the distributed-"
                   "tracing pair, which is carried on every event that follows.",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "const": "1.0"},
        "id": {"type": "string", "minLength": 1, "maxLength": 128,
               "description": "Unique per event across every source (a UUID): an id seen before is a duplicate. "
                              "For a flight event without `partner_event_id`, it is the partner's event id."},
        "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
        "type": {"type": "string", "description": "The event type, bare (`flight.cancelled`) or under a reverse-DNS "
                                                  "prefix (`com.example.ops.flight.cancelled`)"},
        "subject": {"type": "string"},
        "time": {"type": "string", "format": "date-time",
                 "description": "When it happened: a flight event's `occurred_at` when the data gives none"},
        "datacontenttype": {"type": "string", "description": "application/json, with parameters or not"},
        "dataschema": {"type": "string", "format": "uri"},
        "traceparent": {"type": "string", "pattern": TRACEPARENT,
                        "description": "W3C trace context (CloudEvents distributed-tracing extension)"},
        "tracestate": {"type": "string"},
        "data": {"description": "The event's data, a JSON object"},
        "data_base64": {"type": "string", "contentEncoding": "base64", "description": "Or the data, base64"},
    },
    "propertyNames": {"pattern": "^[a-z0-9]+$|^data_base64$"},
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}


def _schemas(adapter: TypeAdapter[Any], mode: Literal["validation", "serialization"] = "validation"
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the schema, its definitions) with references into `components/schemas`."""
    schema = adapter.json_schema(ref_template=REF, mode=mode)
    return schema, schema.pop("$defs", {})


def flight_event_data(model: type) -> dict[str, Any]:
    """A flight event's schema as a CloudEvent's data: what the attributes say may be left out."""
    schema, _ = _schemas(TypeAdapter(model))
    schema["required"] = [f for f in schema.get("required", []) if f not in FROM_ATTRIBUTES]
    schema["title"] = f"{model.__name__} (CloudEvent data)"
    return schema


def components() -> dict[str, Any]:
    """Every schema the documents refer to."""
    found: dict[str, Any] = {}
    for model in topics.all_payloads():
        schema, defs = _schemas(TypeAdapter(model))
        found |= defs | {model.__name__: schema}
    envelope, defs = _schemas(TypeAdapter(Envelope))
    found |= defs | {"Envelope": envelope, "CloudEventAttributes": CLOUD_EVENT_ATTRIBUTES}
    for model in FLIGHT_EVENT_TYPES:
        found[f"{model.__name__}Data"] = flight_event_data(model)
    return found


def _cloud_event(model: type) -> dict[str, Any]:
    bare = type_name(model).replace(".", "\\.")
    return {"allOf": [{"$ref": REF.format(model="CloudEventAttributes")}],
            "properties": {"type": {"type": "string", "pattern": f"^([a-z0-9-]+\\.)*{bare}$"},
                           "data": {"$ref": REF.format(model=f"{model.__name__}Data")}}}


def flight_event_bodies() -> dict[str, Any]:
    """OpenAPI request bodies of `/v1/flight-events`, by media type."""
    plain, _ = _schemas(TypeAdapter(FlightEvent))
    structured = {"oneOf": [_cloud_event(m) for m in FLIGHT_EVENT_TYPES]}
    return {
        "application/json": {"schema": {"oneOf": [plain, {"type": "array", "items": plain, "minItems": 1,
                                                          "maxItems": MAX_BATCH}]},
                             "example": {"type": "flight.cancelled", "partner_event_id": "ops-2013-02-08-0001",
                                         "flight": {"carrier": "B6", "number": "1001",
                                                    "departure_date": "2013-02-08", "origin": "JFK"},
                                         "reason": "weather", "occurred_at": "2013-02-08T12:00:00Z"}},
        "application/cloudevents+json": {"schema": structured},
        "application/cloudevents-batch+json": {"schema": {"type": "array", "items": structured, "minItems": 1,
                                                          "maxItems": MAX_BATCH}},
    }


def binary_mode_headers() -> list[dict[str, Any]]:
    """The `ce-*` headers of a binary-mode CloudEvent (its body is the data, as application/json)."""
    described = {"ce-specversion": "1.0: marks the request as a binary-mode CloudEvent",
                 "ce-id": "The event's id (the partner's event id when the data has none)",
                 "ce-source": "Who sent it, a URI reference", "ce-type": "e.g. flight.cancelled",
                 "ce-time": "When it happened (RFC 3339)", "ce-subject": "Optional",
                 "ce-traceparent": "W3C trace context, carried on", "traceparent": "W3C trace context (HTTP)"}
    return [{"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": text}
            for name, text in described.items()]


# --- AsyncAPI ----------------------------------------------------------------------------------

_KAFKA_BINDING = "0.5.0"


def _message_id(model: type) -> str:
    return type_name(model).replace(".", "_")


def _for_asyncapi(schema: Any) -> Any:
    """JSON Schema as pydantic writes it → AsyncAPI's dialect: a discriminator is a property name."""
    if isinstance(schema, dict):
        fixed = {k: _for_asyncapi(v) for k, v in schema.items()}
        if isinstance(fixed.get("discriminator"), dict):
            fixed["discriminator"] = fixed["discriminator"]["propertyName"]
        return fixed
    if isinstance(schema, list):
        return [_for_asyncapi(v) for v in schema]
    return schema


def asyncapi(version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.1 document: a channel per topic (and its dead-letter topic), the messages each
    carries with their Kafka key, and Rebound's operations on them."""
    schemas = components()
    messages = _messages()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics.ALL:
        names = [_message_id(m) for m in topics.CARRIES[topic]]
        if topic == topics.FLIGHT_EVENTS:
            names += [f"{n}_{mode}" for n in names for mode in ("structured", "binary")]
        channels |= _channels(topic, names)
        operations |= _operations(topic, names)
    document: dict[str, Any] = _for_asyncapi({
        "asyncapi": "3.1.0",
        "info": {"title": "Rebound events", "version": version,
                 "description": "Every topic Rebound owns. Events are CloudEvents 1.0; Rebound writes them in "
                                "structured mode (`content-type: application/cloudevents+json`) and reads either "
                                "mode. Topic names take the deployment's prefix (`REBOUND_TOPIC_PREFIX`)."},
        "defaultContentType": "application/cloudevents+json",
        "servers": {"kafka": {"host": "{bootstrap}", "protocol": "kafka-secure", "protocolVersion": "3.9",
                              "description": "TLS with SASL/SCRAM-SHA-512: one principal per service and per "
                                             "feeding system, allowed its own topics only",
                              "variables": {"bootstrap": {"default": "kafka:9093"}},
                              "security": [{"$ref": "#/components/securitySchemes/scram"}]}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": copy.deepcopy(schemas), "messages": messages,
                       "securitySchemes": {"scram": {"type": "scramSha512",
                                                     "description": "A principal per service or feeding system"}}},
    })
    return document


def _messages() -> dict[str, Any]:
    """Every message: each payload in Rebound's structured mode, each flight event as partners may
    send it (binary and structured mode), and the dead letter."""
    # Each message's Kafka key is its topic's (a notice's, on either notice topic, is the booking).
    keyed = {model: {"kafka": {"key": {"type": "string", "description": topics.KEYS[topic]},
                               "bindingVersion": _KAFKA_BINDING}}
             for topic in topics.ALL for model in topics.CARRIES[topic]}
    messages: dict[str, Any] = {}
    for model in topics.all_payloads():
        envelope = {"allOf": [{"$ref": REF.format(model="Envelope")}],
                    "properties": {"type": {"const": type_name(model)},
                                   "data": {"$ref": REF.format(model=model.__name__)}}}
        messages[_message_id(model)] = {
            "name": type_name(model), "title": model.__name__,
            "summary": (model.__doc__ or type_name(model)).strip().splitlines()[0],
            "contentType": "application/cloudevents+json",
            "payload": envelope, "bindings": keyed[model],
        }
    for model in FLIGHT_EVENT_TYPES:
        messages[f"{_message_id(model)}_binary"] = {
            "name": f"{type_name(model)} (binary mode)", "title": f"{model.__name__}, CloudEvents binary mode",
            "summary": "The data alone; its attributes are `ce_*` headers",
            "contentType": "application/json",
            "headers": {"type": "object", "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
                        "properties": {f"ce_{k}": {"type": "string"} for k in
                                       ("specversion", "id", "source", "type", "time", "subject", "traceparent")}},
            "payload": {"$ref": REF.format(model=f"{model.__name__}Data")}, "bindings": keyed[model],
        }
        messages[f"{_message_id(model)}_structured"] = {
            "name": f"{type_name(model)} (structured mode)", "title": f"{model.__name__}, CloudEvents structured",
            "summary": "As a partner's or the operations feed's CloudEvents SDK sends it",
            "contentType": "application/cloudevents+json", "payload": _cloud_event(model),
            "bindings": keyed[model],
        }
    messages["dead_letter"] = {
        "name": "dead-letter", "title": "A message no service could read or handle",
        "summary": "The original key, value and headers, plus why and from where",
        "contentType": "application/octet-stream",
        "headers": {"type": "object", "required": ["reason", "origin"],
                    "properties": {"reason": {"type": "string"},
                                   "origin": {"type": "string", "description": "topic/partition/offset"}}},
        "payload": {"type": "string", "description": "The original value, byte for byte"}}
    return messages


def _topic_configuration(topic: str) -> dict[str, Any]:
    """What the topic is created with (shared/topics.py), in the Kafka binding's own terms."""
    settings = topics.configs(topic)
    return {"cleanup.policy": [settings["cleanup.policy"]], "max.message.bytes": int(settings["max.message.bytes"])}


def _channels(topic: str, names: list[str]) -> dict[str, Any]:
    """The topic's channel, with the messages it carries, and its dead-letter topic's."""
    channel_id = topic.replace("-", "_")
    return {
        channel_id: {
            "address": topic, "title": topic, "description": topics.DESCRIPTIONS[topic],
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": _KAFKA_BINDING,
                                   "topicConfiguration": _topic_configuration(topic)}},
        },
        f"{channel_id}_dlq": {
            "address": topics.dead_letter(topic), "title": topics.dead_letter(topic),
            "description": f"What could not be read or handled from {topic}",
            "messages": {"dead_letter": {"$ref": "#/components/messages/dead_letter"}},
            "bindings": {"kafka": {"topic": topics.dead_letter(topic), "bindingVersion": _KAFKA_BINDING,
                                   "topicConfiguration": _topic_configuration(topics.dead_letter(topic))}},
        },
    }


def _operations(topic: str, names: list[str]) -> dict[str, Any]:
    """Which services read and write the topic, and that each reader writes its dead letters."""
    channel_id = topic.replace("-", "_")
    readers = sorted(s for s, t in system.READS.items() if topic in t)
    writers = sorted(s for s, t in system.WRITES.items() if topic in t)
    refs = [{"$ref": f"#/channels/{channel_id}/messages/{n}"} for n in names]
    operations: dict[str, Any] = {}
    if readers:
        operations[f"receive_{channel_id}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"}, "messages": refs,
            "summary": f"Read by {', '.join(readers)}",
            "bindings": {"kafka": {"groupId": {"type": "string", "enum": readers},
                                   "bindingVersion": _KAFKA_BINDING}}}
    if writers:
        operations[f"send_{channel_id}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel_id}"}, "messages": refs,
            "summary": f"Written by {', '.join(writers)}"}
    operations[f"send_{channel_id}_dlq"] = {
        "action": "send", "channel": {"$ref": f"#/channels/{channel_id}_dlq"},
        "messages": [{"$ref": f"#/channels/{channel_id}_dlq/messages/dead_letter"}],
        "summary": "Written by each reader of " + topic}
    return operations
