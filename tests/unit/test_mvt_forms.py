"""MVT forms the standard allows that a reader fitted to its samples refused: a correction marked
on the identifier's own line, an arrival estimate with its airport first, a return to the ramp
after an off-block, on the departure's line or its own, the delay elements together (ED, EO, NI),
an estimated on-block (EB) alone, a departure and its arrival in one message, and the delay codes
of AHM 730/731/732 with several delays and their minutes.

The elements are AHM 780's (IATA Airport Handling Manual, "Aircraft Movement Message",
scribd.com/document/385362966), as Avinor's mapping of AHM 780 to the Airport Data Dictionary
lists them (xwiki.avinor.no, "MVT data to ADD data"): AD departure, ED delay, EO delayed take-off,
RR return to ramp, FR return from airborne, AA arrival, EA revised estimated time of arrival; the
airport of movement for RR is the departure airport, for EA the destination; EB, "arrival taxi
time variance information", the estimated on-block at the destination. Delay codes: the DL element
carries two-digit codes, each with its time (DL31/62/0005/0015: 31 for 5 minutes, 62 for 15), and
DLA the sub-coded ones in their places (DLA31C/62A//), as Wikipedia's "IATA delay codes" describes
AHM 780's use of them; AHM 732's sub-codes may be a digit or two characters after the code."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import iata
from shared.events import FlightArrived, FlightDelayed, FlightDeparted

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


def at(hhmm_: str, day: int = 8) -> datetime:
    return datetime(2013, 2, day, int(hhmm_[:2]), int(hhmm_[2:]), tzinfo=UTC)


@pytest.mark.parametrize("lines, departure, next_information, arrival", [
    (["ED081300"], "1300", None, None),
    (["EO081315"], "1315", None, None),  # only a take-off estimate: the best word on the departure
    (["ED081300", "EO081315"], "1300", None, None),
    (["ED081300 EO081315"], "1300", None, None),
    (["ED081300", "NI081230"], "1300", "1230", None),
    (["NI081230"], None, "1230", None),
    (["ED081300 EA1500 BOS"], "1300", None, "1500"),
    (["EO081315", "EA1500 BOS"], "1315", None, "1500"),
    (["ED081300", "EB1510"], "1300", None, "1510"),
])
def test_the_delay_elements_read_alone_or_together(lines, departure, next_information, arrival):
    (e,) = events("MVT\nB61001/08.N623JB.JFK\n" + "\n".join(lines))
    assert isinstance(e, FlightDelayed) and e.flight.origin == "JFK"
    assert e.estimated_departure == (at(departure) if departure else None)
    assert e.next_information_at == (at(next_information) if next_information else None)
    assert e.estimated_arrival == (at(arrival) if arrival else None)


def test_a_take_off_estimated_before_the_off_block_is_refused_with_its_line():
    (parsed,) = iata.parse_text("MVT\nB61001/08.N623JB.JFK\nED081300\nEO081245", RECEIVED)
    assert parsed.events == [] and parsed.error.line == 4 and "EO" in parsed.error.reason


def test_an_estimated_on_block_alone_is_an_arrival_estimate_at_the_destination():
    # The passenger arrives when the doors open at the gate (Germanwings, C-452/13): on-block.
    (e,) = events("MVT\nB61001/08.N623JB.BOS\nEB1510")
    assert isinstance(e, FlightDelayed)
    assert (e.flight.destination, e.estimated_arrival) == ("BOS", at("1510"))


@pytest.mark.parametrize("lines", [["AD1200/1210", "AA1320/1328"], ["AD1200/1210 EA1315 BOS", "AA1320/1328"]])
def test_a_departure_and_its_arrival_in_one_message_are_two_events_of_one_leg(lines):
    departed, arrived = events("MVA\nB61001/08.N623JB.JFK\n" + "\n".join(lines) + "\nDL72/0010")
    assert isinstance(departed, FlightDeparted) and isinstance(arrived, FlightArrived)
    assert departed.flight.origin == arrived.flight.origin == "JFK"
    assert (departed.actual_departure, departed.airborne_at) == (at("1200"), at("1210"))
    assert (arrived.actual_arrival, arrived.on_block_at) == (at("1320"), at("1328"))
    assert departed.partner_event_id != arrived.partner_event_id


def test_an_arrival_flown_past_midnight_follows_its_departure():
    departed, arrived = events("MVT\nB61001/08.N623JB.JFK\nAD2330/2340\nAA0110/0118")
    assert arrived.actual_arrival == at("0110", 9) and arrived.on_block_at == at("0118", 9)


@pytest.mark.parametrize("element, expected", [
    ("DL72/0430", [("72", 270)]),
    ("DL31/62/0005/0015", [("31", 5), ("62", 15)]),
    ("DL93A/0045", [("93A", 45)]),
    ("DLA31C/62A//", [("31C", None), ("62A", None)]),
    ("DLA/02B//", [("02B", None)]),
    ("DLA931/0020", [("93", 20)]),  # AHM 732: a numeric sub-code; the AHM 730 code is carried
    ("DL93A1/81/0020/0010", [("93A", 20), ("81", 10)]),
    ("EDL81", [("81", None)]),
])
def test_delay_codes_with_their_sub_codes_and_minutes(element, expected):
    (e,) = events(f"MVT\nB61001/08.N623JB.JFK\nED081300\n{element}")
    assert [(c.code, c.minutes) for c in e.delay_codes] == expected


@pytest.mark.parametrize("element, words", [
    ("DL72/0430/0010", "its own time"), ("DL72//0430", "empty field"), ("DL72/0475", "not hhmm"),
    ("DL7/0430", "expected codes"), ("DL72/ABCDE", "expected codes")])
def test_a_malformed_delay_element_is_refused_with_its_line(element, words):
    (parsed,) = iata.parse_text(f"MVT\nB61001/08.N623JB.JFK\nED081300\n{element}", RECEIVED)
    assert parsed.events == [] and parsed.error.line == 4 and words in parsed.error.reason


codes = st.builds(lambda n, sub: f"{n:02d}{sub}", st.integers(0, 99),
                  st.sampled_from(["", "A", "Z", "1", "9", "A1", "B2", "0C"]))


@given(st.lists(st.tuples(codes, st.integers(0, 23 * 60 + 59)), min_size=1, max_size=4), st.booleans())
def test_any_delay_element_the_grammar_allows_reads_back_to_its_codes_and_minutes(delays, timed):
    """Generated from AHM 780's DL grammar: codes, then a hhmm time for each or none."""
    items = [c for c, _ in delays] + ([f"{m // 60:02d}{m % 60:02d}" for _, m in delays] if timed else [])
    (e,) = events("MVT\nB61001/08.N623JB.JFK\nED081300\nDL" + "/".join(items))
    assert [c.code for c in e.delay_codes] == [c[:3] if c[2:3].isalpha() else c[:2] for c, _ in delays]
    assert [c.minutes for c in e.delay_codes] == [m if timed else None for _, m in delays]
    assert e.reason == iata.cause_of_delay_code(delays[0][0])


@given(st.sampled_from(["PX112", "TOF12500", "ZFW52300", "TOW61000", "FLD22", "TOB118", "SI FB 37"]),
       st.sampled_from(["AD1200/1210 EA1400 BOS", "ED081300", "AA1320/1328", "EA1400 BOS", "NI081230"]))
def test_elements_carried_for_others_are_read_past(extra, movement):
    (e,) = events(f"MVT\nB61001/08.N623JB.JFK\n{movement}\n{extra}")
    (same,) = events(f"MVT\nB61001/08.N623JB.JFK\n{movement}")
    assert e.model_dump(exclude={"partner_event_id"}) == same.model_dump(exclude={"partner_event_id"})
