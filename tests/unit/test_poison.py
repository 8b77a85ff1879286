"""The event decoder against what a broken or hostile producer might send: every poison message
is refused with a reason that says what is wrong, and no input raises anything but a refusal."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from faults import poison
from shared.events import MAX_EVENT_BYTES, Envelope

REASONS = {"invalid_json": "Invalid JSON", "wrong_version": "specversion", "huge": "byte limit",
           "unknown_type": "flight.teleported"}


@pytest.mark.parametrize("kind", poison.KINDS)
def test_each_poison_is_refused_with_its_reason(kind):
    key, value = poison.message(kind, 7)
    assert key == f"poison-{kind}-7".encode()
    with pytest.raises((ValidationError, ValueError), match=REASONS[kind]):
        Envelope.from_bytes(value)


def test_an_event_at_the_size_limit_is_still_read():
    envelope = json.loads(poison.message("wrong_version", 1)[1]) | {"specversion": "1.0"}
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
    envelope = json.loads(poison.message("wrong_version", 2)[1]) | {"specversion": "1.0"}
    spoiled = {k: v for k, v in (envelope | replaced).items() if k not in removed}
    try:
        Envelope.from_bytes(json.dumps(spoiled).encode())
    except (ValidationError, ValueError):
        pass


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_any_json_object_is_refused_cleanly(obj):
    with pytest.raises((ValidationError, ValueError)):
        Envelope.from_bytes(json.dumps(obj).encode())
