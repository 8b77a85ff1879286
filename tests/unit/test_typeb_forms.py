"""DIV and schedule-message forms the standards allow, read from their grammars.

- DIV (IATA AHM 781), as Avinor's Airport Data Dictionary maps it (xwiki.avinor.no, "DIV Diversion
  Message"): the flight line names the airport of originally intended landing (4.2); then the
  estimated touchdown at the diversion airport and that airport (5.2, 5.3), the diversion reason
  code (6.2), passengers on board (7.2), the estimated on-block there (8), whether the flight
  terminates there (10, TERM) or continues (11, CONT and the airport), the estimated take-off
  from there (12), and supplementary information.
- ASM/SSM (IATA SSIM chapter 5): FLT, a flight designator change, whose new designator follows
  the flight's dates; a FLT combined with another action (`FLT/TIM`); leg lines with passenger
  times, day changes and data element identifiers; SI trailers.
Messages are built here to those layouts, not copied."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import iata
from shared.events import FlightDiverted, FlightRetimed

RECEIVED = datetime(2013, 2, 8, 12, 0, tzinfo=UTC)


def parsed(text: str) -> iata.Parsed:
    (p,) = iata.parse_text(text, RECEIVED)
    assert p.error is None, p.error
    return p


# --- DIV ----------------------------------------------------------------------------------------

optional_elements = st.lists(st.sampled_from(["DR71", "DR71/0030", "DLA71A", "PX112", "EB1745", "TERM", "CONT BOS",
                                              "CONT/BOS", "ETOT1900", "ETOT081900"]), unique=True, max_size=5)


@given(st.sampled_from(["EA1735 PVD", "EA 1735 PVD", "EA PVD 1735", "EA081735 PVD", "EA1735 KPVD",
                        "EA1735 PVD EB1745"]),
       optional_elements, st.sampled_from(["", "\nSI SNOW AT BOS", "\nSI\nCREW ADVISED"]))
def test_every_div_form_reads_to_the_airport_and_touchdown_it_names(estimate, extras, supplementary):
    text = "DIV\nB61001/08.N623JB.BOS\n" + "\n".join([estimate, *extras]) + supplementary
    (e,) = parsed(text).events
    assert isinstance(e, FlightDiverted)
    assert (e.flight.destination, e.new_destination) == ("BOS", "PVD")
    assert e.estimated_arrival == datetime(2013, 2, 8, 17, 35, tzinfo=UTC)
    if any(x.startswith(("DR71", "DLA71")) for x in extras) or "SNOW" in supplementary:
        assert e.reason == "weather"


@pytest.mark.parametrize("body, line, words", [
    ("PX112", 2, "EA2135 LHR"),
    ("EA1735", 3, "airport the flight is diverted to"),
    ("EA1735 PVD XYZ", 3, "unexpected"),
])
def test_a_div_missing_what_it_must_say_is_refused_with_its_line(body, line, words):
    (p,) = iata.parse_text(f"DIV\nB61001/08.N623JB.BOS\n{body}", RECEIVED)
    assert p.events == [] and p.error.line == line and words in p.error.reason


# --- ASM and SSM --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, days", [
    ("ASM\nUTC\nFLT\nB61001/09FEB13 B61901", ["2013-02-09"]),
    ("ASM\nUTC\nFLT\nB61001/09FEB13 10FEB13 JFK/BOS B6 1901", ["2013-02-09", "2013-02-10"]),
    ("ASM\nUTC\nFLT\nB61001/09FEB13\nB61901/09FEB13", ["2013-02-09"]),
    ("SSM\nUTC\nFLT\nB61001\n09FEB13 10FEB13 1234567\nB61901", ["2013-02-09", "2013-02-10"]),
])
def test_a_flight_designator_change_is_read_and_noted_never_refused(text, days):
    p = parsed(text)
    assert p.events == [] and "B61001 becomes B6" in p.notes[0] and all(d in p.notes[0] for d in days)


def test_a_flight_designator_change_without_the_new_designator_is_refused():
    (p,) = iata.parse_text("ASM\nUTC\nFLT\nB61001/09FEB13", RECEIVED)
    assert p.error.line == 4 and "new flight designator" in p.error.reason


def test_a_designator_change_with_a_retime_retimes_the_flight_as_it_was_named():
    (e,) = parsed("ASM\nUTC\nFLT/TIM\nB61001/09FEB13 B61901\nJFK1835 BOS1950\nSI NEW NUMBER").events
    assert isinstance(e, FlightRetimed) and (e.flight.carrier, e.flight.number) == ("B6", "1001")


@pytest.mark.parametrize("leg, departure, arrival", [
    ("JFK1835 BOS1950", "2013-02-09T18:35", "2013-02-09T19:50"),
    ("JFK091835 BOS091950", "2013-02-09T18:35", "2013-02-09T19:50"),
    ("JFK1835/1840 BOS1950/1955", "2013-02-09T18:40", "2013-02-09T19:55"),  # the passengers' times
    ("JFK2335 LAX0250/1", "2013-02-09T23:35", "2013-02-10T02:50"),
    ("JFK2335 LAX0250", "2013-02-09T23:35", "2013-02-10T02:50"),
    ("JFK1835 BOS1950 7/D 9/B6", "2013-02-09T18:35", "2013-02-09T19:50"),
    ("KJFK1835 KBOS1950", "2013-02-09T18:35", "2013-02-09T19:50"),
])
def test_leg_lines_in_their_legal_forms(leg, departure, arrival):
    (e,) = parsed(f"ASM\nUTC\nTIM\nB61001/09FEB13\nJ 320 C12Y138\n{leg}\nJFKBOS 10/Y\nSI SLOT").events
    assert e.scheduled_departure == datetime.fromisoformat(departure).replace(tzinfo=UTC)
    assert e.scheduled_arrival == datetime.fromisoformat(arrival).replace(tzinfo=UTC)
