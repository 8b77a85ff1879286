"""Sizes and numbers from outside are bounded where they are read, so no request can buy seconds
of CPU: a batch is refused on its length before its items are validated, and a sum of money is
refused when it has an absurd exponent either way."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.compensation.case import MAX_CASES, CaseOrCases, Fare
from services.disruption.partner_events import MAX_BATCH, FlightEventOrBatch
from services.notify.contacts import Contact
from shared.events import Passenger


@pytest.mark.parametrize("adapter, limit", [(TypeAdapter(FlightEventOrBatch), MAX_BATCH),
                                            (TypeAdapter(CaseOrCases), MAX_CASES)])
def test_a_batch_over_its_cap_is_refused_before_any_item_is_read(adapter, limit):
    with pytest.raises(ValidationError) as refused:
        adapter.validate_python([{}] * (limit + 1))  # every item is invalid: none gets looked at
    assert [e["msg"] for e in refused.value.errors()] == [f"Value error, at most {limit} items per request, "
                                                          f"not {limit + 1}"]


@pytest.mark.parametrize("amount", ["1E+200000", "1e200000", "-1E+200000", "1E-200000", "Infinity", "NaN",
                                    "1000000001", 1e300])
def test_a_fare_out_of_all_proportion_is_refused(amount):
    with pytest.raises(ValidationError):
        Passenger(passenger_id="P1", fare=amount)
    with pytest.raises(ValidationError):
        Fare(amount=amount, currency="EUR")


@given(st.decimals(min_value=0, max_value=10 ** 9, places=2, allow_nan=False, allow_infinity=False))
def test_every_ordinary_fare_is_taken(amount):
    assert Passenger(passenger_id="P1", fare=amount).fare == amount


def test_a_nul_character_anywhere_in_a_partners_event_or_a_contact_is_refused():
    """PostgreSQL stores no NUL in text: accepted, such an event could never be recorded (found by
    schemathesis against the running disruption service, which dead-lettered it)."""
    event = {"type": "flight.cancelled", "partner_event_id": "e1", "reason": "weather",
             "flight": {"carrier": "B6", "number": "1", "departure_date": "2026-11-30"}}
    TypeAdapter(FlightEventOrBatch).validate_python(event)
    for spoiled in (event | {"partner_event_id": "e\x001"}, [event, event | {"flight": event["flight"] | {
            "origin": "\x00"}}]):
        with pytest.raises(ValidationError, match="NUL"):
            TypeAdapter(FlightEventOrBatch).validate_python(spoiled)
    with pytest.raises(ValidationError, match="NUL"):
        Contact(passenger_id="P1", booking_ref="ABC123", given_name="A\x00na", channels=["push"])
