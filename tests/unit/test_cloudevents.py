"""CloudEvents read as the specification and its bindings define them, from messages made by the
official Python SDK (`cloudevents`, both its 1.x API and its 2.x core bindings) and from the
specification's own examples (github.com/cloudevents/spec, v1.0.2: spec.md, formats/json-format.md,
bindings/kafka-protocol-binding.md §3.2.5/§3.3.4, bindings/http-protocol-binding.md §3.1.3.2)."""

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import kafka as ce1_kafka
from cloudevents.v1.http import CloudEvent as CloudEvent1
from hypothesis import given
from hypothesis import strategies as st

from shared import cloudevents, tracing
from shared.events import Envelope, FlightCancelled, FlightDelayed, FlightRef
from shared.outbox import HEADERS

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"  # the W3C spec's example
DATA = {"flight": {"carrier": "B6", "number": "1001", "departure_date": "2013-02-08", "origin": "JFK"},
        "reason": "weather"}
RECEIVED = 1_360_324_800_000  # the record's timestamp: 2013-02-08T12:00:00Z


def sdk_event(**attributes) -> CloudEvent:
    """As a partner's code makes one: only what it must say, plus the extensions the SDK adds."""
    return CloudEvent(attributes={"type": "flight.cancelled", "source": "/ops/flight-control"} | attributes,
                      data=DATA)


def read(message) -> Envelope:
    return cloudevents.from_kafka(message.value, list(message.headers.items()), timestamp_ms=RECEIVED)


@pytest.mark.parametrize("mode", [ce_kafka.to_binary, ce_kafka.to_structured])
def test_the_sdk_kafka_binding_in_both_modes(mode):
    event = sdk_event(partitionkey="B61001", traceparent=TRACE, dataschema="https://example.com/flight.json",
                      datacontenttype="application/json; charset=utf-8", type="com.example.ops.flight.cancelled")
    envelope = read(mode(event, JSONFormat()))
    assert isinstance(envelope.data, FlightCancelled)
    assert envelope.type == envelope.data.type == "flight.cancelled"  # the prefix named it; data never did
    assert envelope.data.partner_event_id == event.get_id()  # the event's id stands in
    assert envelope.data.occurred_at == event.get_time()
    assert envelope.traceparent == TRACE and envelope.dataschema == "https://example.com/flight.json"
    assert envelope.subject is None and envelope.source == "/ops/flight-control"


@pytest.mark.parametrize("mode", [ce1_kafka.to_binary, ce1_kafka.to_structured])
def test_the_1x_sdk_kafka_binding_in_both_modes(mode):
    # The 1.x binary binding needs a datacontenttype (it reads the attribute unguarded).
    event = CloudEvent1({"type": "flight.delayed", "source": "urn:airline:ops", "partitionkey": "B61001",
                         "datacontenttype": "application/json"},
                        DATA | {"estimated_departure": "2013-02-08T20:00:00Z"})
    message = mode(event)
    envelope = cloudevents.from_kafka(message.value, list(message.headers.items()), timestamp_ms=RECEIVED)
    assert isinstance(envelope.data, FlightDelayed) and envelope.id == event["id"]
    assert message.key == "B61001"


def test_without_time_or_subject_the_record_dates_it():
    message = ce_kafka.to_binary(sdk_event(), JSONFormat())  # the SDK always adds a time: taken out
    envelope = cloudevents.from_kafka(message.value, [h for h in message.headers.items() if h[0] != "ce_time"],
                                      timestamp_ms=RECEIVED)
    assert envelope.time == datetime(2013, 2, 8, 12, tzinfo=UTC) and envelope.data.occurred_at is None


def test_the_spec_binary_example_is_read_and_its_unknown_type_named():
    """Kafka binding §3.2.5, with JSON data: `com.example.someevent` is no event of ours."""
    headers = [("ce_specversion", b"1.0"), ("ce_type", b"com.example.someevent"),
               ("ce_source", b"/mycontext/subcontext"), ("ce_id", b"1234-1234-1234"),
               ("ce_time", b"2018-04-05T03:56:24Z"), ("content-type", b"application/json")]
    with pytest.raises(cloudevents.Refused, match="unknown event type 'com.example.someevent'"):
        cloudevents.from_kafka(json.dumps(DATA).encode(), headers)
    headers[1] = ("ce_type", b"com.example.flight.cancelled")
    envelope = cloudevents.from_kafka(json.dumps(DATA).encode(), headers)
    assert envelope.id == "1234-1234-1234" and envelope.time == datetime(2018, 4, 5, 3, 56, 24, tzinfo=UTC)


def test_our_own_events_are_read_in_one_pass_with_their_content_type():
    event = FlightCancelled(partner_event_id="p", reason="weather", flight=FlightRef.model_validate(DATA["flight"]))
    envelope = Envelope.wrap(event, source="partner/x", subject="B61001", traceparent=TRACE)
    assert cloudevents.from_kafka(envelope.to_bytes(), HEADERS) == envelope
    assert cloudevents.from_kafka(envelope.to_bytes()) == envelope  # as before: no headers at all
    assert b"null" not in envelope.to_bytes().split(b'"data"')[0]  # absent attributes are left out


@pytest.mark.parametrize("attributes, data, reason", [
    ({"specversion": "0.3"}, DATA, "specversion must be"),
    ({"specversion": None}, DATA, "specversion is missing"),
    ({"Subject": "x"}, DATA, "not an attribute name"),
    ({"comexampleextension": {"nested": 1}}, DATA, "must be a string, number or boolean"),
    ({"datacontenttype": "application/xml"}, DATA, "data must be JSON"),
    ({}, DATA | {"type": "flight.delayed"}, "says 'flight.cancelled' but data.type says 'flight.delayed'"),
    ({}, None, "data must be a JSON object"),
    ({"id": ""}, DATA, "the id attribute is required"),
    ({"subject": "B6\x001001"}, DATA, "control character"),
    ({}, {"flight": DATA["flight"]}, "reason: Field required"),
])
def test_what_the_spec_forbids_is_refused_with_its_reason(attributes, data, reason):
    event = {"specversion": "1.0", "id": "e-1", "source": "/ops", "type": "flight.cancelled", "data": data}
    event = {k: v for k, v in (event | attributes).items()}
    with pytest.raises(cloudevents.Refused, match=reason):
        cloudevents.from_kafka(json.dumps(event).encode(), [("content-type", b"application/cloudevents+json")])


def test_field_errors_name_the_senders_own_fields():
    event = {"specversion": "1.0", "id": "e-1", "source": "/ops", "type": "flight.cancelled",
             "data": DATA | {"flight": DATA["flight"] | {"number": "12345"}}}
    with pytest.raises(cloudevents.Refused) as refused:
        cloudevents.from_kafka(json.dumps(event).encode())
    assert [(e["field"], e["pointer"]) for e in refused.value.errors] == [("data.flight.number", "/data/flight/number")]


def test_data_base64_holding_json():
    import base64
    event = {"specversion": "1.0", "id": "e-1", "source": "/ops", "type": "flight.cancelled",
             "data_base64": base64.b64encode(json.dumps(DATA).encode()).decode()}
    assert cloudevents.from_kafka(json.dumps(event).encode()).data.reason == "weather"


def test_an_avro_event_format_is_named_not_guessed():
    with pytest.raises(cloudevents.Refused, match="only the JSON event format"):
        cloudevents.from_kafka(b"\x00", [("content-type", b"application/cloudevents+avro")])


def test_an_invalid_traceparent_is_dropped_not_fatal():
    """W3C Trace Context §3.2.2: an unparsable traceparent is ignored, and the event still counts."""
    for bad in ("00-00000000000000000000000000000000-b9c7c989f97918e1-01", "zz", "ff-" + TRACE[3:]):
        envelope = read(ce_kafka.to_binary(sdk_event(traceparent=bad), JSONFormat()))
        assert envelope.traceparent is None
    assert tracing.valid("01-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01-future")


def test_http_header_values_are_percent_decoded_as_utf8():
    """HTTP binding §3.1.3.2: its own example, a quoted value, and an overlong encoding refused."""
    assert cloudevents.http_attributes({"ce-subject": "Euro%20%E2%82%AC%20%F0%9F%98%80"}) == {
        "subject": "Euro € 😀"}
    assert cloudevents.http_attributes({"CE-Source": '"/a \\"b\\""'}) == {"source": '/a "b"'}
    with pytest.raises(cloudevents.Refused, match="not UTF-8"):
        cloudevents.http_attributes({"ce-subject": "%C0%A0"})


def test_the_sdk_http_binding_headers_decode_to_its_attributes():
    event = sdk_event(subject="Flight B6 1001 (JFK→PWM)", traceparent=TRACE)
    message = ce_http.to_binary(event, JSONFormat())
    attributes = cloudevents.http_attributes(message.headers)
    assert attributes["subject"] == "Flight B6 1001 (JFK→PWM)" and attributes["traceparent"] == TRACE


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3),
                           max_leaves=8)


@given(st.dictionaries(st.sampled_from(["specversion", "id", "source", "type", "time", "subject", "data",
                                        "datacontenttype", "traceparent", "partitionkey", "data_base64", "X"]),
                       json_values, max_size=8),
       st.lists(st.tuples(st.sampled_from(["ce_specversion", "ce_id", "ce_type", "content-type", "traceparent"]),
                          st.binary(max_size=12)), max_size=4))
def test_any_message_is_read_or_refused_never_crashes(event, headers):
    try:
        cloudevents.from_kafka(json.dumps(event).encode(), headers)
    except cloudevents.Refused:
        pass
