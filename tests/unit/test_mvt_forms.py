"""MVT forms the standard allows that a reader fitted to its samples refused: a correction marked
on the identifier's own line, an arrival estimate with its airport first, and a return to the ramp
after an off-block, on the departure's line or its own.

The elements are AHM 780's (IATA Airport Handling Manual, "Aircraft Movement Message",
scribd.com/document/385362966), as Avinor's mapping of AHM 780 to the Airport Data Dictionary
lists them (xwiki.avinor.no, "MVT data to ADD data"): AD departure, ED delay, EO delayed take-off,
RR return to ramp, FR return from airborne, AA arrival, EA revised estimated time of arrival; the
airport of movement for RR is the departure airport, for EA the destination."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import iata
from shared.events import FlightDelayed, FlightDeparted

RECEIVED = datetime(2013, 2, 8, 12, 0, tzinfo=UTC)


def events(text: str):
    (parsed,) = iata.parse_text(text, RECEIVED)
    assert parsed.error is None, parsed.error
    return parsed.events


@pytest.mark.parametrize("heading", ["COR\nMVT", "COR MVT", "MVT\nCOR"])
def test_a_correction_reads_wherever_it_is_marked(heading):
    (e,) = events(f"{heading}\nB61001/08.N623JB.JFK\nAD1130/1140 EA1400 BOS")
    assert isinstance(e, FlightDeparted)
    assert e.estimated_arrival == datetime(2013, 2, 8, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("element", ["EA1400 BOS", "EA 1400 BOS", "EA BOS 1400", "EABOS 1400", "EA081400 BOS"])
def test_an_arrival_estimate_names_its_airport_before_or_after_its_time(element):
    (e,) = events(f"MVT\nB61001/08.N623JB.JFK\n{element}")
    assert isinstance(e, FlightDelayed)
    assert (e.flight.destination, e.estimated_arrival) == ("BOS", datetime(2013, 2, 8, 14, 0, tzinfo=UTC))


@pytest.mark.parametrize("text", ["MVT\nB61001/08.N623JB.JFK\nAD1130 RR1145",
                                  "MVT\nB61001/08.N623JB.JFK\nAD1130/1140 RR1145",
                                  "MVT\nB61001/08.N623JB.JFK\nAD1130\nRR1145",
                                  "MVT\nB61001/08.N623JB.JFK\nRR1145"])
def test_a_return_to_the_ramp_after_an_off_block_is_a_return_not_a_departure(text):
    (e,) = events(text)
    assert isinstance(e, FlightDelayed) and e.returned == "ramp" and e.flight.origin == "JFK"


def test_an_arrival_estimate_naming_two_airports_is_refused():
    (parsed,) = iata.parse_text("MVT\nB61001/08.N623JB.JFK\nEA BOS 1400 LGA", RECEIVED)
    assert parsed.error is not None and parsed.error.line == 3


airports = st.sampled_from(["BOS", "LAX", "EGLL", "KJFK"])
hhmm = st.builds(lambda h, m: f"{h:02d}{m:02d}", st.integers(0, 23), st.integers(0, 59))


@given(airports, hhmm, st.sampled_from(["{t} {a}", " {t} {a}", "{a} {t}", " {a} {t}"]))
def test_every_legal_placing_of_an_arrival_estimates_airport_reads_the_same(airport, time, form):
    (e,) = events("MVT\nB61001/08.N623JB.JFK\nEA" + form.format(t=time, a=airport))
    (same,) = events(f"MVT\nB61001/08.N623JB.JFK\nEA{time} {airport}")
    assert e.model_dump(exclude={"partner_event_id"}) == same.model_dump(exclude={"partner_event_id"})
