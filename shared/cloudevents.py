"""CloudEvents 1.0 as its Kafka and HTTP protocol bindings carry it, read into our `Envelope`.

Both content modes are read: *structured* (the whole event as JSON: `content-type:
application/cloudevents+json`, or no content type, as Rebound's own events travel) and *binary*
(attributes as `ce_*` Kafka headers or `ce-*` HTTP headers, the data alone as the value or body,
its media type as `content-type`). Everything the specification allows is accepted:

- optional attributes left out (`subject`, `time`, `datacontenttype`, `dataschema`);
- extension attributes (`partitionkey`, `traceparent`, `sequence`, …): the distributed-tracing
  pair is kept and carried on, the rest is tolerated and dropped;
- a JSON media type with parameters (`application/json; charset=utf-8`) or a `+json` suffix;
- `data_base64` holding JSON;
- the type given once, in the `type` attribute, bare (`flight.cancelled`) or under a reverse-DNS
  prefix (`com.example.ops.flight.cancelled`); data that repeats it must agree.

What it forbids is refused with a reason: another `specversion`, an attribute name that is not
lower-case letters and digits, an object where an attribute's value belongs, data that is not a
JSON object. Sources: CloudEvents 1.0.2 spec.md, formats/json-format.md,
bindings/kafka-protocol-binding.md and bindings/http-protocol-binding.md (github.com/cloudevents/spec).
"""

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError

from shared import tracing, validation
from shared.events import FLIGHT_EVENT_TYPES, MAX_EVENT_BYTES, PARTNER_INPUT, PAYLOAD_TYPES, Envelope, type_name

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
KAFKA_PREFIX = "ce_"
HTTP_PREFIX = "ce-"

# Attribute names: lower-case ASCII letters and digits (spec.md §3.1.1; at most 20 is a SHOULD).
_NAME = re.compile(r"[a-z0-9]+")
_CONTEXT = ("id", "source", "specversion", "type", "subject", "time", "datacontenttype", "dataschema")
_KEPT_EXTENSIONS = ("traceparent", "tracestate")
# What a CloudEvents String may not hold (spec.md, "Type System").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_TYPES = frozenset(map(type_name, PAYLOAD_TYPES))
# A type under a reverse-DNS prefix: `com.example.flight.cancelled`.
_PREFIXED = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+?(" + "|".join(map(re.escape, sorted(_TYPES))) + ")")
# A NUL as JSON writes it: PostgreSQL's text and jsonb cannot hold one, so no event may carry one
# (a bytes search, cheap enough for every record).
NUL = b"\\u0000"
_FLIGHT_EVENTS = frozenset(type_name(t) for t in FLIGHT_EVENT_TYPES)


class Refused(ValueError):
    """Not a CloudEvent Rebound can read, and why; `errors` name the fields at fault."""

    def __init__(self, reason: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.errors = errors or [{"field": "", "pointer": "", "message": reason}]


def media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def event_type(given: str) -> str:
    """Our type name for a CloudEvents `type`: itself, or what a reverse-DNS prefix names."""
    if given in _TYPES:
        return given
    if m := _PREFIXED.fullmatch(given):
        return m[1]
    raise Refused(f"unknown event type {given!r}: expected one of {', '.join(sorted(_TYPES))}, "
                  "bare or under a reverse-DNS prefix")


def to_envelope(attributes: Mapping[str, Any], data: Any, *, received: datetime,
                trace_header: str | None = None, partner: bool = False) -> Envelope:
    """One event's attributes and data → our envelope. `received` stands in for a missing
    `time`; `trace_header` (a transport's own `traceparent`) for a missing trace. A `partner`'s
    data may hold no field the event does not know (a reader of a topic ignores them)."""
    fields = _attributes(attributes)
    kind = event_type(fields["type"])
    payload = _data(attributes, data)
    if payload.get("type", kind) != kind:
        raise Refused(f"the type attribute says {kind!r} but data.type says {payload['type']!r}: "
                      "give the type once, in the type attribute")
    payload["type"] = kind
    if kind in _FLIGHT_EVENTS:
        # The event's own id and time are the partner's event id and when it happened.
        payload.setdefault("partner_event_id", fields["id"])
        if "time" in fields:
            payload.setdefault("occurred_at", fields["time"])
    traceparent = next((t for t in (fields.get("traceparent"), trace_header)
                        if isinstance(t, str) and tracing.valid(t)), None)
    envelope: dict[str, Any] = {k: fields[k] for k in ("id", "source", "subject", "time", "dataschema") if k in fields}
    # Vendors' trace state goes along only with its trace, and only as long as W3C asks it be kept.
    state = fields.get("tracestate")
    envelope |= {"type": kind, "data": payload, "traceparent": traceparent,
                 "tracestate": state if traceparent and isinstance(state, str) and len(state) <= 512 else None}
    envelope.setdefault("time", received)
    try:
        return Envelope.model_validate(envelope, context=PARTNER_INPUT if partner else None)
    except ValidationError as exc:
        errors = validation.field_errors(exc.errors(), envelope)
        raise Refused(validation.summary(errors), errors) from None


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    if (version := attributes.get("specversion")) != "1.0":
        raise Refused(f"specversion must be \"1.0\", not {version!r}" if version is not None
                      else "specversion is missing: not a CloudEvent")
    for name, value in attributes.items():
        if name not in ("data", "data_base64"):
            _check_attribute(name, value)
    # The JSON format: null is the same as absent.
    fields = {name: value for name, value in attributes.items()
              if value is not None and (name in _CONTEXT or name in _KEPT_EXTENSIONS)}
    for name in ("id", "source", "type"):
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise Refused(f"the {name} attribute is required (a non-empty string)")
    if "datacontenttype" in fields and not is_json(str(fields["datacontenttype"])):
        raise Refused(f"data must be JSON (datacontenttype application/json), not {fields['datacontenttype']!r}")
    return fields


def _check_attribute(name: str, value: Any) -> None:
    """Refused unless the attribute's name and value are as the format allows."""
    if not _NAME.fullmatch(name):
        raise Refused(f"{name!r} is not an attribute name (lower-case letters and digits only)")
    if isinstance(value, dict | list):
        raise Refused(f"attribute {name!r} must be a string, number or boolean")
    if isinstance(value, str) and _CONTROL.search(value):
        raise Refused(f"attribute {name!r} holds a control character, which a CloudEvents string may not")


def _data(attributes: Mapping[str, Any], data: Any) -> dict[str, Any]:
    if isinstance(data, bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise Refused(f"data is not JSON: {exc}") from None
    if "data_base64" in attributes:
        if data is not None:
            raise Refused("data and data_base64 are both present: send one")
        try:
            data = json.loads(base64.b64decode(attributes["data_base64"], validate=True))
        except (binascii.Error, TypeError, ValueError) as exc:
            raise Refused(f"data_base64 is not base64 of JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Refused("data must be a JSON object" + (" (it is missing)" if data is None else ""))
    return dict(data)


# --- Kafka -----------------------------------------------------------------------------------


def from_kafka(value: bytes | None, headers: Iterable[tuple[str, bytes]] = (), *,
               timestamp_ms: int | None = None) -> Envelope:
    """A Kafka record → our envelope, whichever content mode it was sent in."""
    value = value or b""
    if len(value) > MAX_EVENT_BYTES:
        raise Refused(f"an event of {len(value):,} bytes is over the {MAX_EVENT_BYTES:,}-byte limit")
    if NUL in value:
        raise Refused("the event holds a NUL (\\u0000), a control character no text field may hold")
    header = {}
    for name, raw in headers:
        try:
            header[name.lower()] = raw.decode() if raw is not None else ""
        except UnicodeDecodeError:
            raise Refused(f"header {name!r} is not UTF-8") from None
    received = (datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms and timestamp_ms > 0
                else datetime.now(UTC))
    content_type = header.get("content-type")
    if media_type(content_type).startswith("application/cloudevents"):
        if media_type(content_type) != STRUCTURED:
            raise Refused(f"only the JSON event format is read, not {content_type!r}")
        return _structured(value, received, header.get("traceparent"))
    if KAFKA_PREFIX + "specversion" in header:
        attributes = {k[len(KAFKA_PREFIX):]: v for k, v in header.items() if k.startswith(KAFKA_PREFIX)}
        if content_type is not None:
            attributes["datacontenttype"] = content_type
        return to_envelope(attributes, value, received=received, trace_header=header.get("traceparent"))
    return _structured(value, received, header.get("traceparent"))


def _structured(value: bytes, received: datetime, trace_header: str | None) -> Envelope:
    try:
        # Rebound's own events, exactly as it writes them: read in one pass.
        return Envelope.from_bytes(value)
    except (ValidationError, ValueError):
        pass
    try:
        event = json.loads(value)
    except ValueError as exc:
        raise Refused(f"invalid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise Refused("a structured event is a JSON object")
    return to_envelope(event, event.get("data"), received=received, trace_header=trace_header)


# --- HTTP ------------------------------------------------------------------------------------


def http_attributes(headers: Mapping[str, str]) -> dict[str, str]:
    """The `ce-*` headers of a binary-mode request as attributes: double quotes unescaped, then
    one round of percent-decoding, which must give UTF-8 (the HTTP binding, §3.1.3.2)."""
    attributes = {}
    for name, value in headers.items():
        name = name.lower()
        if not name.startswith(HTTP_PREFIX):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        try:
            attributes[name[len(HTTP_PREFIX):]] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise Refused(f"header {name}: its percent-encoding is not UTF-8") from None
    if "datacontenttype" in attributes:
        raise Refused("send the data's media type as Content-Type, not ce-datacontenttype")
    return attributes
