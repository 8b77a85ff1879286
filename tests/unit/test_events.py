import json
import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events import (
    Envelope,
    FlightCancelled,
    FlightRef,
    NoticeDelivered,
    Passenger,
    PassengerDisruption,
    event_id,
    flight_id,
)

refs = st.builds(
    FlightRef,
    carrier=st.from_regex(r"[A-Z0-9]{2}", fullmatch=True),
    number=st.from_regex(r"[0-9]{1,4}[A-Z]?", fullmatch=True),
    departure_date=st.dates(date(2000, 1, 1), date(2100, 1, 1)),
    origin=st.from_regex(r"[A-Z]{3}", fullmatch=True),
)
cancellations = st.builds(FlightCancelled, 
                          partner_event_id=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=128),
                          flight=refs, reason=st.sampled_from(["weather", "crew", "technical"]))


@given(cancellations)
def test_envelopes_survive_the_wire(event):
    envelope = Envelope.wrap(event, source="partner/x", subject=event.flight.flight_id)
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope


@given(st.from_regex(r"[0-9]{1,4}[A-Z]?", fullmatch=True))
def test_flight_numbers_lose_leading_zeros_and_nothing_else(number):
    ref = FlightRef(carrier="B6", number=number, departure_date=date(2013, 2, 8))
    digits, suffix = number.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), number[-1] if number[-1].isalpha() else ""
    assert ref.number == f"{int(digits)}{suffix}"


@given(st.binary(max_size=300))
def test_garbage_is_refused_with_a_validation_error(raw):
    with pytest.raises((ValidationError, ValueError)):
        Envelope.from_bytes(raw)


def test_envelope_type_must_match_its_data():
    event = FlightCancelled(partner_event_id="p", reason="weather", flight=FlightRef(
        carrier="B6", number="1", departure_date=date(2013, 2, 8), origin="JFK"))
    body = json.loads(Envelope.wrap(event, source="s", subject="x").to_bytes())
    body["type"] = "flight.delayed"
    with pytest.raises(ValueError, match="does not match"):
        Envelope.from_bytes(json.dumps(body).encode())


def test_ids_are_deterministic():
    assert event_id("partner", "e-1") == event_id("partner", "e-1") != event_id("partner", "e-2")
    assert flight_id("B6", "1001", date(2013, 2, 8), "JFK") == "B61001/2013-02-08/JFK"


@given(st.integers() | st.floats(allow_nan=False), st.booleans())
def test_a_time_or_a_date_as_a_bare_number_is_refused_not_guessed(number, the_date):
    """The schema says an ISO 8601 string; pydantic alone reads a number as a Unix time (the
    negative API tests sent `"departure_date": 0`, and it was accepted as 1 January 1970)."""
    body = json.loads(Envelope.wrap(FlightCancelled(partner_event_id="p", reason="weather", flight=FlightRef(
        carrier="B6", number="1", departure_date=date(2013, 2, 8), origin="JFK")), source="s", subject="x").to_bytes())
    if the_date:
        body["data"]["flight"]["departure_date"] = number
    else:
        body["data"]["occurred_at"] = number
    with pytest.raises(ValidationError, match="ISO 8601"):
        Envelope.from_bytes(json.dumps(body).encode())


FLIGHT = {"flight_id": "B61001/2013-02-08/JFK", "carrier": "B6", "number": "1001", "origin": "JFK",
          "destination": "BOS", "scheduled_departure": "2013-02-08T12:00:00Z",
          "scheduled_arrival": "2013-02-08T13:00:00Z"}


# Passenger ids as reservation systems print them: Amadeus' passenger tattoo numbers ("1", "2"),
# Sabre's name numbers ("1.1", "2.1"), IATA's PADIS unique customer ids ("2301AB12CD34EF56"),
# and Rebound's own ("ABC123-1"). Each is a passenger within a booking only.
@pytest.mark.parametrize("passenger_id", ["1", "2.1", "2301AB12CD34EF56", "ABC123-1", "P_7"])
def test_passenger_ids_as_reservation_systems_write_them_are_taken(passenger_id):
    assert Passenger(passenger_id=passenger_id, fare="10").passenger_id == passenger_id


@given(st.text(max_size=70).filter(lambda s: not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", s)))
def test_an_identifier_that_could_break_a_header_a_url_or_a_query_is_refused_where_it_enters(odd):
    """A CR/LF in a passenger id reached the providers' idempotency headers (the issue's finding):
    every model that carries one takes only letters, digits, `.`, `_` and `-`."""
    with pytest.raises(ValidationError):
        Passenger(passenger_id=odd, fare="10")
    with pytest.raises(ValidationError):
        NoticeDelivered(disruption_id="d", booking_ref="ABC123", passenger_id=odd, stage="first_notice",
                        channel="sms", status="sent")
    disruption = {"disruption_id": "d", "booking_ref": "ABC123", "passenger_ids": ["1"], "kind": "cancelled",
                  "flight": FLIGHT, "cause": "weather", "accepted_at": "2013-02-08T12:00:00Z"}
    PassengerDisruption.model_validate(disruption)
    for odd_field in ({"passenger_ids": ["1", odd]}, {"booking_ref": "ABC12\n"}):
        with pytest.raises(ValidationError):
            PassengerDisruption.model_validate(disruption | odd_field)
