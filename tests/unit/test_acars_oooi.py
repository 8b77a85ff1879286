"""ACARS OOOI reports (out, off, on, in) converted to Type B, read into flight events.

Sources:
- ARINC 620's OOOI downlink labels and their fixed text (origin and destination ICAO codes, then
  the time), as the airframesio/acars-decoder-typescript project decodes them (lib/plugins/
  Label_QP, Label_QQ, Label_QR and Label_QS and their tests, commit ea962d2): its sample texts
  are read here under the Type B conversion's `FI`/`DT`/`-` envelope.
- The word form (`OUT 1225 OFF 1238`, `DEP`/`ARR`), built here to the same reports' meaning.
A report with no flight day names it by the day it left the gate; an arrival report alone, by the
flying time between its airports, refused where that lands near midnight."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import iata
from shared.events import FlightArrived, FlightDeparted


def downlink(label: str, text: str, fi: str = "B61001/AN N623JB", stamp: str = "092359") -> str:
    return f"QU HDQWWQF\n.DDLXCXA {stamp}\n{label}\nFI {fi}\nDT DDL JFK {stamp} M01A\n-  {text}"


def read(text: str, received: datetime):
    (parsed,) = iata.parse_text(text, received)
    assert parsed.error is None, parsed.error
    assert parsed.kind == "OOOI"
    return parsed.events


def at(day: int, hhmm: str) -> datetime:
    return datetime(2024, 11, day, int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)


RECEIVED = at(9, "2359")


@pytest.mark.parametrize("label, text, kind, leg, times", [
    ("QP", "KSFOKLAX1234", FlightDeparted, ("SFO", "2024-11-09"), {"actual_departure": at(9, "1234")}),
    # KSDL, Scottsdale, is SCF to IATA.
    ("QQ", "KSDLKLAS0025\r\n001FE09002543N3336.6W11155.90281750042", FlightDeparted, ("SCF", "2024-11-09"),
     {"actual_departure": at(9, "0025"), "airborne_at": at(9, "0025")}),
    ("QR", "EGLLEDDF2030", FlightArrived, ("LHR", "2024-11-09"), {"actual_arrival": at(9, "2030")}),
    ("QS", "KJFKKBOS1015 STATUS=OK", FlightArrived, ("JFK", "2024-11-09"),
     {"actual_arrival": at(9, "1015"), "on_block_at": at(9, "1015")}),
])
def test_arinc_620_reports_under_their_labels(label, text, kind, leg, times):
    (e,) = read(downlink(label, text), RECEIVED)
    assert isinstance(e, kind)
    assert (e.flight.origin, e.flight.departure_date.isoformat(), e.flight.date_basis) == (*leg, "utc")
    assert (e.flight.carrier, e.flight.number) == ("B6", "1001")
    assert {k: getattr(e, k) for k in times} == times


@pytest.mark.parametrize("text", ["DEP KJFK KBOS\nOUT 1225 OFF 1238 ETA 1330", "KJFKKBOS OUT/1225 OFF/1238 ETA/1330",
                                  "JFK/BOS OUT1225 OFF1238 ETA1330"])
def test_the_word_form_of_a_departure_report(text):
    (e,) = read(downlink("A80", text), RECEIVED)
    assert isinstance(e, FlightDeparted) and e.flight.origin == "JFK"
    assert (e.actual_departure, e.airborne_at, e.estimated_arrival) == (at(9, "1225"), at(9, "1238"), at(9, "1330"))


def test_a_whole_flight_in_one_report_is_a_departure_and_an_arrival():
    departed, arrived = read(downlink("A80", "KJFKKBOS OUT 1225 OFF 1238 ON 1321 IN 1330"), RECEIVED)
    assert (departed.actual_departure, arrived.actual_arrival, arrived.on_block_at) == (
        at(9, "1225"), at(9, "1321"), at(9, "1330"))
    assert departed.flight == arrived.flight


def test_a_report_crossing_midnight_keeps_its_order():
    departed, arrived = read(downlink("A80", "KJFKKBOS OUT 2350 OFF 0005 ON 0050 IN 0058", stamp="100100"),
                             at(10, "0101"))
    assert departed.actual_departure == at(9, "2350") and departed.airborne_at == at(10, "0005")
    assert departed.flight.departure_date.isoformat() == "2024-11-09" and arrived.on_block_at == at(10, "0058")


def test_the_flight_line_may_give_the_flights_own_day():
    (e,) = read(downlink("QP", "KJFKKBOS0015", fi="B61001/08/AN N623JB", stamp="090020"), at(9, "0020"))
    assert e.flight.departure_date.isoformat() == "2024-11-08"  # yesterday's flight, late past midnight


def test_an_arrival_alone_is_named_by_the_day_its_flying_time_gives():
    # JFK-LAX is about 3,980 km: five hours' flying and taxiing before 01:30, the flight left on the 8th.
    (e,) = read(downlink("QR", "KJFKKLAX0130", stamp="090135"), at(9, "0135"))
    assert e.flight.departure_date.isoformat() == "2024-11-08" and e.actual_arrival == at(9, "0130")


@pytest.mark.parametrize("label, text, words", [
    ("QR", "KJFKKBOS0105", "cannot be told"),  # left around midnight UTC
    ("A80", "OUT 1225", "without its airports"),
    ("QP", "1225", "without an OUT, OFF, ON or IN time"),
    ("A80", "KJFKKBOS OUT 1225 OUT 1230", "appears twice"),
    ("QP", "KJFKKBOS2575", "not a valid hhmm"),
])
def test_a_report_that_cannot_be_read_surely_is_refused_with_its_line(label, text, words):
    (parsed,) = iata.parse_text(downlink(label, text, stamp="091200"), at(9, "1200"))
    assert parsed.events == [] and parsed.error.line == 6 and words in parsed.error.reason


def test_a_downlink_that_is_no_report_is_still_refused_as_before():
    (parsed,) = iata.parse_text(downlink("H1", "FREE TEXT FROM THE CREW"), RECEIVED)
    assert parsed.events == [] and "no message identifier" in parsed.error.reason


airports = st.sampled_from([("KJFK", "KBOS"), ("EGLL", "EDDF"), ("KSFO", "KLAX"), ("LFPG", "EGLL")])


@given(airports, st.integers(0, 24 * 60 - 1), st.lists(st.integers(1, 90), min_size=3, max_size=3),
       st.integers(0, 600))
def test_any_full_report_reads_back_to_its_times_in_order(route, out, gaps, late):
    """Generated from the word form: four times in order, sent `late` minutes after the last."""
    start = datetime(2024, 11, 9, tzinfo=UTC) + timedelta(minutes=out)
    moments = [start]
    for gap in gaps:
        moments.append(moments[-1] + timedelta(minutes=gap))
    words = " ".join(f"{w} {m:%H%M}" for w, m in zip(("OUT", "OFF", "ON", "IN"), moments, strict=True))
    received = moments[-1] + timedelta(minutes=late)
    departed, arrived = read(downlink("A80", f"{route[0]}{route[1]} {words}", stamp=f"{received:%d%H%M}"), received)
    assert [departed.actual_departure, departed.airborne_at, arrived.actual_arrival, arrived.on_block_at] == moments
    assert departed.flight.departure_date == start.date()
