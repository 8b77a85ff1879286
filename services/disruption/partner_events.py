"""What a partner's request to `/v1/flight-events` says: its flight events and their traces, in any
of the forms the contract allows (no I/O here: headers and bytes in, events or field errors out).

- `application/json`: one flight event, or a list of up to 500 (Rebound's own form);
- CloudEvents over HTTP, binary mode: `ce-*` headers, the data as a JSON body;
- CloudEvents structured mode: `application/cloudevents+json`;
- CloudEvents batched mode: `application/cloudevents-batch+json`, a list of structured events.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, TypeAdapter, ValidationError

from shared import cloudevents, tracing, validation
from shared.contract import MAX_BATCH
from shared.events import PARTNER_INPUT, FlightEvent, FlightEventData, at_most

# A batch's size is checked before any of its events is validated.
FlightEventOrBatch = Annotated[Annotated[FlightEvent, Tag("event")]
                               | Annotated[list[FlightEvent], Field(min_length=1, max_length=MAX_BATCH),
                                           at_most(MAX_BATCH), Tag("batch")],
                               Discriminator(lambda v: "batch" if isinstance(v, list) else "event")]
_EVENTS: TypeAdapter[FlightEventData | list[FlightEventData]] = TypeAdapter(FlightEventOrBatch)
FORMS = ("application/json", cloudevents.STRUCTURED, cloudevents.BATCH)


@dataclass(frozen=True)
class Received:
    event: FlightEventData
    traceparent: str | None
    form: str  # "json" or "cloudevents", for the metrics


class Unreadable(ValueError):
    """The request is not one the contract allows: `status` 415 or 422, with field errors."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or []


def read(headers: Mapping[str, str], body: bytes) -> list[Received]:
    """The request's events, in order; raises Unreadable. `headers` are matched case-insensitively."""
    headers = {k.lower(): v for k, v in headers.items()}
    kind = cloudevents.media_type(headers.get("content-type"))
    trace = headers.get("traceparent")
    if "ce-specversion" in headers:
        return [_binary_mode(headers, kind, body, trace)]
    if kind == cloudevents.STRUCTURED:
        event = _json(body)
        if not isinstance(event, dict):
            raise Unreadable(422, "A structured CloudEvent is a JSON object")
        return [_cloud_event(event, event.get("data"), trace, "")]
    if kind == cloudevents.BATCH:
        return _batched_mode(_json(body), trace)
    if kind == "application/json":
        return _our_json(_json(body), trace)
    raise Unreadable(415, f"Send flight events as {', '.join(FORMS)}, or as a binary-mode CloudEvent "
                          "(ce-* headers and a JSON body)")


def _binary_mode(headers: dict[str, str], kind: str | None, body: bytes, trace: str | None) -> Received:
    """The attributes in `ce-*` headers, the data as the body."""
    # Without a Content-Type the data is JSON, as in the JSON event format (SDKs send none).
    if kind and not cloudevents.is_json(kind):
        raise Unreadable(415, "A binary-mode CloudEvent's data must be JSON: send Content-Type: application/json")
    try:
        attributes = cloudevents.http_attributes(headers)
    except cloudevents.Refused as exc:
        raise Unreadable(422, str(exc)) from None
    if kind:
        attributes["datacontenttype"] = headers["content-type"]
    return _cloud_event(attributes, _json(body), trace, "", binary=True)


def _batched_mode(events: Any, trace: str | None) -> list[Received]:
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
        raise Unreadable(422, f"A batch is a JSON list of 1 to {MAX_BATCH} structured CloudEvents")
    if (bad := next((i for i, e in enumerate(events) if not isinstance(e, dict)), None)) is not None:
        raise Unreadable(422, f"events[{bad}] is not a JSON object")
    return [_cloud_event(e, e.get("data"), trace, f"events[{i}]") for i, e in enumerate(events)]


def _our_json(value: Any, trace: str | None) -> list[Received]:
    """Rebound's own JSON: one flight event, or a list of them."""
    try:
        parsed = _EVENTS.validate_python(value, context=PARTNER_INPUT)
    except ValidationError as exc:
        errors = validation.field_errors(exc.errors(), value, root="events")
        raise Unreadable(422, validation.summary(errors), errors) from None
    return [Received(e, trace if trace and tracing.valid(trace) else None, "json")
            for e in (parsed if isinstance(parsed, list) else [parsed])]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise Unreadable(422, "The body's JSON is nested too deeply") from None
    except ValueError as exc:
        raise Unreadable(422, f"The body is not JSON: {exc}") from None


def _cloud_event(attributes: Mapping[str, Any], data: Any, trace: str | None, where: str, *,
                 binary: bool = False) -> Received:
    """One CloudEvent; `where` places its errors in a batch (`events[3]`). In binary mode the body
    is the data, so a field is named from the body (`flight.number`, not `data.flight.number`)."""
    at = f"{where}: " if where else ""
    try:
        envelope = cloudevents.to_envelope(attributes, data, received=datetime.now(UTC), trace_header=trace,
                                           partner=True)
    except cloudevents.Refused as exc:
        errors = [_placed(e, where, binary) for e in exc.errors]
        raise Unreadable(422, at + validation.summary(errors), errors) from None
    if not isinstance(envelope.data, FlightEventData):
        raise Unreadable(422, f"{at}{envelope.type} is not a flight event")
    return Received(envelope.data, envelope.traceparent, "cloudevents")


def _placed(error: dict[str, str], where: str, binary: bool) -> dict[str, str]:
    field, pointer = error["field"], error["pointer"]
    if binary and pointer.startswith("/data/"):
        field, pointer = field.removeprefix("data."), pointer.removeprefix("/data")
    if where:
        index = where[where.index("[") + 1:-1]
        field, pointer = f"{where}.{field}" if field else where, f"/{index}{pointer}"
    return {**error, "field": field, "pointer": pointer}
