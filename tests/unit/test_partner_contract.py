"""The partner contract as a partner's developer reads it: every form `/v1/flight-events` takes
(read from requests the official CloudEvents SDK makes), field errors in the partner's own
paths, and signatures made by signers written apart from ours."""

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from docs.partners import sign as sample
from services.disruption import partner_events
from shared import signing

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # W3C Trace Context's example
FLIGHT = {"carrier": "B6", "number": "1001", "departure_date": "2013-02-08", "origin": "JFK"}
CANCELLED = {"type": "flight.cancelled", "partner_event_id": "p-1", "flight": FLIGHT, "reason": "weather"}


def sdk_event(**attributes) -> CloudEvent:
    return CloudEvent(attributes={"type": "com.example.flight.cancelled", "source": "/partner/acme"} | attributes,
                      data={"flight": FLIGHT, "reason": "crew"})


def test_rebounds_own_json_one_event_or_a_batch():
    [one] = partner_events.read({"Content-Type": "application/json"}, json.dumps(CANCELLED).encode())
    assert one.event.partner_event_id == "p-1" and one.form == "json" and one.traceparent is None
    batch = partner_events.read({"content-type": "application/json; charset=utf-8", "traceparent": TRACE},
                                json.dumps([CANCELLED, CANCELLED | {"partner_event_id": "p-2"}]).encode())
    assert [r.event.partner_event_id for r in batch] == ["p-1", "p-2"] and batch[0].traceparent == TRACE


def test_cloudevents_binary_mode_from_the_sdk():
    event = sdk_event(traceparent=TRACE, partitionkey="B61001", subject="B6 1001 ✈ JFK")
    message = ce_http.to_binary(event, JSONFormat())
    [read] = partner_events.read(message.headers, message.body)
    assert read.event.reason == "crew" and read.event.partner_event_id == event.get_id()
    assert read.event.occurred_at == event.get_time() and read.traceparent == TRACE and read.form == "cloudevents"


def test_cloudevents_structured_and_batched_mode_from_the_sdk():
    event = sdk_event(datacontenttype="application/json; charset=utf-8", dataschema="https://example.com/s")
    message = ce_http.to_structured(event, JSONFormat())
    assert message.headers["content-type"].startswith("application/cloudevents+json")
    [read] = partner_events.read(message.headers, message.body)
    assert read.event.type == "flight.cancelled"
    batch = json.dumps([json.loads(ce_http.to_structured(sdk_event(id=f"e-{i}"), JSONFormat()).body)
                        for i in range(3)]).encode()
    read = partner_events.read({"Content-Type": "application/cloudevents-batch+json"}, batch)
    assert [r.event.partner_event_id for r in read] == ["e-0", "e-1", "e-2"]


def test_a_binary_event_names_its_fields_from_the_body():
    event = CloudEvent(attributes={"type": "flight.cancelled", "source": "/x"},
                       data={"flight": FLIGHT | {"number": "12345"}})
    message = ce_http.to_binary(event, JSONFormat())
    with pytest.raises(partner_events.Unreadable) as refused:
        partner_events.read(message.headers, message.body)
    assert {(e["field"], e["pointer"]) for e in refused.value.errors} == {
        ("flight.number", "/flight/number"), ("reason", "/reason")}


def test_a_batch_names_the_event_at_fault_as_the_partner_wrote_it():
    body = [CANCELLED] * 3 + [CANCELLED | {"flight": FLIGHT | {"number": "12345"}}]
    with pytest.raises(partner_events.Unreadable) as refused:
        partner_events.read({"Content-Type": "application/json"}, json.dumps(body).encode())
    [error] = refused.value.errors
    assert (error["field"], error["pointer"]) == ("events[3].flight.number", "/3/flight/number")
    cloud = [json.loads(ce_http.to_structured(sdk_event(), JSONFormat()).body) for _ in range(2)]
    cloud[1]["data"]["flight"]["carrier"] = "JetBlue"
    with pytest.raises(partner_events.Unreadable) as refused:
        partner_events.read({"Content-Type": "application/cloudevents-batch+json"}, json.dumps(cloud).encode())
    assert [(e["field"], e["pointer"]) for e in refused.value.errors] == [
        ("events[1].data.flight.carrier", "/1/data/flight/carrier")]


def test_other_media_types_are_415():
    with pytest.raises(partner_events.Unreadable) as refused:
        partner_events.read({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1")
    assert refused.value.status == 415


# Names pydantic gives its validators and union members, which a partner never wrote.
INTERNALS = ("tagged-union", "function-", "union[", "batch", "event.", "flight.cancelled", "[event]")
events = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["flight.cancelled", "flight.delayed", "flight.diverted", "flight.nope"]),
    "partner_event_id": st.text(max_size=3), "reason": st.sampled_from(["weather", "snow", 3]),
    "flight": st.fixed_dictionaries({}, optional={"carrier": st.sampled_from(["B6", "JetBlue", None]),
                                                  "number": st.sampled_from(["1", "12345", ""]),
                                                  "departure_date": st.sampled_from(["2013-02-08", "soon"])}),
    "estimated_departure": st.sampled_from(["2013-02-08T20:00:00Z", 5]), "surprise": st.integers()})


@given(st.lists(events, min_size=1, max_size=4) | events)
def test_field_errors_never_name_pydantic_internals(body):
    try:
        partner_events.read({"Content-Type": "application/json"}, json.dumps(body).encode())
    except partner_events.Unreadable as refused:
        for error in refused.errors:
            assert not any(word in error["field"] for word in INTERNALS), error
            assert error["field"] == "(the whole body)" or error["pointer"], error


# --- signatures ----------------------------------------------------------------------------------

SECRET, BODY, T = "partner-secret-ä", b'{"type":"flight.cancelled"}', 1_700_000_000
DIGEST = signing.key_digest(SECRET)


TARGET = "/v1/messages?atomic=true"
URL = f"https://rebound.example{TARGET}"


def independent(key: bytes, upper: bool = False) -> str:
    """A signer written from the partner API reference alone (docs/reference/partner-api.md)."""
    signature = hmac.new(key, f"{T}.{TARGET}\n".encode() + BODY, hashlib.sha256).hexdigest()
    return f"t={T},v2={signature.upper() if upper else signature}"


def verify(header: str) -> str | None:
    return signing.verify(DIGEST, header, BODY, T, 300, TARGET)


def test_the_sample_signer_and_ours_agree():
    assert verify(sample.signature_headers("k", SECRET, URL, BODY, T)["Rebound-Signature"]) is None
    assert sample.signature_headers("k", SECRET, URL, BODY, T)["Rebound-Signature"] == \
        signing.sign("k", SECRET, BODY, TARGET, T)[signing.SIGNATURE_HEADER]


def test_either_hex_case_for_key_and_signature():
    lower_key = hashlib.sha256(SECRET.encode("utf-8")).hexdigest().encode()
    assert verify(independent(lower_key)) is None
    assert verify(independent(lower_key, upper=True)) is None  # .NET's Convert.ToHexString
    assert verify(independent(lower_key.upper())) is None  # an upper-case hex key
    assert verify(independent(lower_key.upper(), upper=True)) is None


def test_what_the_contract_does_not_say_is_refused():
    raw_digest = hashlib.sha256(SECRET.encode("utf-8")).digest()
    assert "does not match" in verify(independent(raw_digest))  # the raw 32 bytes are not the key
    latin1 = hashlib.sha256(SECRET.encode("latin-1")).hexdigest().encode()
    assert "does not match" in verify(independent(latin1))  # the secret is UTF-8
    assert "does not match" in verify(independent(SECRET.encode()))  # the secret itself is not the key


def test_the_documented_worked_example_holds():
    """The partner API reference's own numbers, read from it: a partner's developer checks their
    signer on them."""
    readme = Path(__file__).parents[2].joinpath("docs", "reference", "partner-api.md").read_text()
    secret, t = re.search(r"secret `([^`]+)` \(the development key", readme)[1], 1700000000
    body = re.search(r"target `/v1/flight-events`, body\n`([^`]+)`", readme)[1].encode()
    key = re.search(r"key `([0-9a-f]{64})`", readme)[1]
    target = re.search(r"`t=1700000000`, target `([^`]+)`", readme)[1]
    header = re.search(r"`Rebound-Signature: (t=1700000000,v2=[0-9a-f]{64})`", readme)[1]
    assert signing.key_digest(secret) == key
    assert sample.signature_headers("demo-dev", secret, f"https://rebound.example{target}", body, t)[
        "Rebound-Signature"] == header
    assert signing.verify(key, header, body, t, 300, target) is None
