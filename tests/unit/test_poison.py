"""The event decoder against what a broken or hostile producer might send: every poison message
that reaches a consumer is refused with a reason that says what is wrong, and no input raises
anything but a refusal."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from faults import poison
from shared import cloudevents
from shared.events import MAX_EVENT_BYTES, Envelope

REASONS = {"invalid_json": "invalid JSON", "wrong_version": "specversion", "unknown_type": "flight.teleported",
           "wrong_attributes": "the id attribute is required", "nul_in_id": "NUL",
           "nul_in_header": "specversion", "crlf": "specversion", "invalid_utf8": "not UTF-8",
           "many_headers": "specversion", "near_limit": "specversion", "header_name_not_utf8": "specversion"}


@pytest.mark.parametrize("kind", [k for k in poison.KINDS if poison.ENDS[k] != poison.REFUSED_BY_BROKER])
def test_each_poison_that_reaches_a_consumer_is_refused_with_its_reason(kind):
    p = poison.message(kind, 7)
    assert p.key.startswith(f"poison-{kind}-7".encode())
    with pytest.raises(cloudevents.Refused, match=REASONS[kind]):
        cloudevents.from_kafka(p.value, p.headers)


def test_poison_the_broker_refuses_is_exactly_at_the_topics_limit():
    """Its value alone is the limit; with the record's own bytes around it, the broker refuses it."""
    assert len(poison.message("at_limit", 1).value) == MAX_EVENT_BYTES
    assert MAX_EVENT_BYTES - 4096 < len(poison.message("near_limit", 1).value) < MAX_EVENT_BYTES


def test_an_event_at_the_size_limit_is_still_read():
    envelope = json.loads(poison.message("wrong_version", 1).value) | {"specversion": "1.0"}
    raw = json.dumps(envelope).encode()
    padded = raw[:-1] + b" " * (MAX_EVENT_BYTES - len(raw)) + b"}"
    assert len(padded) == MAX_EVENT_BYTES
    assert Envelope.from_bytes(padded).id == "poison-1"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=8)
FIELDS = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"]


@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
       st.lists(st.sampled_from(FIELDS), max_size=3))
def test_any_spoiled_envelope_is_read_or_refused_never_crashes(replaced, removed):
    """Fields of a good envelope replaced by any JSON, or removed: a clean refusal or an event."""
    envelope = json.loads(poison.message("wrong_version", 2).value) | {"specversion": "1.0"}
    spoiled = {k: v for k, v in (envelope | replaced).items() if k not in removed}
    try:
        Envelope.from_bytes(json.dumps(spoiled).encode())
    except (ValidationError, ValueError):
        pass


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_any_json_object_is_refused_cleanly(obj):
    with pytest.raises((ValidationError, ValueError)):
        Envelope.from_bytes(json.dumps(obj).encode())


@given(st.binary(max_size=300), st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=5))
def test_any_record_is_read_or_refused_never_crashes(value, headers):
    """Any bytes, any headers: an event or a refusal with its reason (the consumer dead-letters it)."""
    try:
        cloudevents.from_kafka(value, headers)
    except cloudevents.Refused as exc:
        assert str(exc)
