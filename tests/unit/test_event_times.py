"""Never a contradictory event: a time without a day belongs to the day that keeps the message's own
order, and an event whose times still contradict each other is refused with the reason.

From the standard's text: AHM 780 (IATA Airport Handling Manual, "Aircraft Movement Message",
scribd.com/document/385362966): "All dates/times expressed in UTC"; AD is the off-block time,
then the airborne time (AD0020/0031), EA the estimated arrival; AA the touchdown, then the
on-block. The same order as Avinor's mapping of AHM 780 to the Airport Data Dictionary
(xwiki.avinor.no, "MVT data to ADD data"): AD → AOBT then ATOT, AA → ALDT then AIBT, EA → ELDT."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import aidx, iata, times
from shared.events import FlightArrived, FlightDelayed, FlightDeparted, FlightRef

RECEIVED = datetime(2013, 2, 17, 23, 50, tzinfo=UTC)


def read(text: str, received_at: datetime = RECEIVED) -> iata.Parsed:
    (parsed,) = iata.parse_text(text, received_at)
    return parsed


def test_an_arrival_estimate_after_an_off_block_late_on_the_17th_is_on_the_18th():
    parsed = read("MVT\nB61001/17.N623JB.JFK\nAD2330/2345 EA0110 LAX")
    assert parsed.error is None, parsed.error
    (e,) = parsed.events
    assert isinstance(e, FlightDeparted)
    assert e.actual_departure == datetime(2013, 2, 17, 23, 30, tzinfo=UTC)
    assert e.estimated_arrival == datetime(2013, 2, 18, 1, 10, tzinfo=UTC)


def test_a_flight_of_the_16th_leaving_after_midnight_keeps_its_order_whatever_its_date():
    parsed = read("MVT\nB61001/16.N623JB.JFK\nAD170005/0020\nEA0610 SFO", RECEIVED + timedelta(minutes=30))
    assert parsed.error is None, parsed.error
    (e,) = parsed.events
    assert e.airborne_at == datetime(2013, 2, 17, 0, 20, tzinfo=UTC)
    assert e.estimated_arrival == datetime(2013, 2, 17, 6, 10, tzinfo=UTC)


def test_a_delayed_departure_late_at_night_estimates_its_arrival_the_next_morning():
    (e,) = read("MVT\nB61001/17.N623JB.JFK\nED172340\nEA0230 BOS").events
    assert isinstance(e, FlightDelayed)
    assert e.estimated_arrival == datetime(2013, 2, 18, 2, 30, tzinfo=UTC)


def test_an_arrival_estimate_given_with_its_day_before_the_off_block_is_refused_with_the_reason():
    parsed = read("MVT\nB61001/17.N623JB.JFK\nAD2330/2345\nEA120130 LAX")
    assert parsed.events == []
    assert parsed.error is not None and parsed.error.line == 1
    assert parsed.error.reason == "MVT: the estimated arrival 12 0130Z is before the take-off 17 2345Z"


def test_an_on_block_a_day_after_touchdown_is_a_misread_and_refused():
    """AA0500/0455: the on-block written before the touchdown can only be the next day's, and no
    aircraft taxis in for a day."""
    parsed = read("MVT\nB61001/17.N623JB.BOS\nAA0500/0455", datetime(2013, 2, 17, 5, 10, tzinfo=UTC))
    assert parsed.events == []
    assert "on-block 18 0455Z is more than 12 h after the touchdown 17 0500Z" in parsed.error.reason


def test_an_aidx_leg_whose_arrival_estimate_is_before_its_off_block_is_refused():
    document = b"""<IATA_AIDX_FlightLegNotifRQ xmlns="http://www.iata.org/IATA/2007/00"
        TimeStamp="2013-02-17T23:50:00Z">
      <FlightLeg>
        <LegIdentifier><Airline>B6</Airline><FlightNumber>1001</FlightNumber>
          <DepartureAirport>JFK</DepartureAirport><ArrivalAirport>LAX</ArrivalAirport>
          <OriginDate>2013-02-17</OriginDate></LegIdentifier>
        <LegData>
          <OperationTime OperationQualifier="OFB" TimeType="ACT">2013-02-17T23:30:00Z</OperationTime>
          <OperationTime OperationQualifier="ONB" TimeType="EST">2013-02-12T01:30:00Z</OperationTime>
        </LegData>
      </FlightLeg>
    </IATA_AIDX_FlightLegNotifRQ>"""
    (parsed,) = aidx.parse_xml(document, RECEIVED)
    assert parsed.events == []
    assert parsed.error is not None and "before the off-block" in parsed.error.reason


FLIGHT = FlightRef(carrier="B6", number="1001", departure_date=RECEIVED.date(), origin="JFK", date_basis="utc")
AT = datetime(2013, 2, 17, 12, 0, tzinfo=UTC)


def test_each_contradiction_is_named():
    assert times.contradiction(FlightDeparted(partner_event_id="x", flight=FLIGHT, actual_departure=AT,
                                              airborne_at=AT - timedelta(minutes=5))) \
        == "the take-off 17 1155Z is before the off-block 17 1200Z"
    assert times.contradiction(FlightArrived(partner_event_id="x", flight=FLIGHT, actual_arrival=AT,
                                             on_block_at=AT - timedelta(minutes=1))) \
        == "the on-block 17 1159Z is before the touchdown 17 1200Z"
    assert times.contradiction(FlightDelayed(partner_event_id="x", flight=FLIGHT, estimated_departure=AT,
                                             estimated_arrival=AT - timedelta(hours=5))) \
        == "the estimated arrival 17 0700Z is before the estimated departure 17 1200Z"
    assert times.contradiction(FlightDeparted(partner_event_id="x", flight=FLIGHT, actual_departure=AT,
                                              airborne_at=AT + timedelta(minutes=12),
                                              estimated_arrival=AT + timedelta(hours=6))) is None


hhmm = st.builds(lambda h, m: f"{h:02d}{m:02d}", st.integers(0, 23), st.integers(0, 59))
ddhhmm = st.builds(lambda d, t: f"{d:02d}{t}", st.integers(1, 28), hhmm)


@given(st.integers(1, 28), hhmm, hhmm, hhmm, st.integers(0, 47))
def test_times_without_a_day_always_read_in_the_messages_own_order(day, off, airborne, arrival, hours_later):
    """Any off-block, take-off and arrival estimate, each without a day, read as one flight: the
    take-off after the off-block and the arrival after both, never refused for their order."""
    received = datetime(2013, 2, day, tzinfo=UTC) + timedelta(hours=hours_later)
    parsed = read(f"MVT\nB61001/{day:02d}.N623JB.JFK\nAD{off}/{airborne} EA{arrival} LAX", received)
    if parsed.error is not None:  # only a gap no flight has: a take-off or arrival a day away
        assert "more than" in parsed.error.reason, parsed.error
        return
    (e,) = parsed.events
    assert e.actual_departure <= e.airborne_at <= e.estimated_arrival


@given(st.integers(1, 28), st.sampled_from(["AD", "AA", "ED", "EO"]), st.one_of(hhmm, ddhhmm),
       st.one_of(hhmm, ddhhmm), st.one_of(hhmm, ddhhmm), st.integers(0, 47))
def test_no_movement_message_is_read_into_a_contradictory_event(day, element, first, second, estimate, hours_later):
    received = datetime(2013, 2, day, tzinfo=UTC) + timedelta(hours=hours_later)
    trailer = f" EA{estimate} LAX" if element in ("AD", "ED", "EO") else ""
    times_given = f"{first}/{second}" if element in ("AD", "AA") else first
    parsed = read(f"MVT\nB61001/{day:02d}.N623JB.JFK\n{element}{times_given}{trailer}", received)
    for event in parsed.events:
        assert times.contradiction(event) is None


@pytest.mark.parametrize("text, received", [
    ("MVT\nB61001/08.N623JB.JFK\nAD081200/081210\nAA121300", datetime(2013, 2, 12, 14, 0, tzinfo=UTC)),
    ("QU HDQWWQF\n.DDLXCXA 082355\nA80\nFI B61001/AN N623JB\nDT DDL JFK 082355 M01A\n-  KJFKKBOS OUT 2350 ON 0050",
     datetime(2013, 2, 8, 23, 55, tzinfo=UTC)),
])
def test_a_departure_and_an_arrival_in_one_message_that_contradict_each_other_are_refused(text, received):
    """Four days in the air, or an on-the-ground report before the out report of a clock ahead."""
    (parsed,) = iata.parse_text(text, received)
    assert parsed.events == [] and "touchdown" in parsed.error.reason


movement_lines = st.sampled_from(["AD{a}/{b}", "AD{a}/{b} EA{c} LAX", "AD{a} EB{c}", "AA{a}/{b}", "ED{a}", "EO{b}",
                                  "NI{a}", "EA{c} LAX", "EB{c}", "RR{a}", "FR{a}/{b}"])
any_time = st.one_of(hhmm, ddhhmm)


@given(st.integers(1, 28), st.lists(st.tuples(movement_lines, any_time, any_time, any_time), min_size=1, max_size=3),
       st.integers(0, 47))
def test_no_combination_of_movement_lines_is_read_into_a_contradictory_event(day, lines, hours_later):
    """Any lines the MVT grammar has, with any times, together: every message read is free of
    contradiction, within each event and between its departure and its arrival."""
    received = datetime(2013, 2, day, tzinfo=UTC) + timedelta(hours=hours_later)
    body = "\n".join(form.format(a=a, b=b, c=c) for form, a, b, c in lines)
    parsed = read(f"MVT\nB61001/{day:02d}.N623JB.JFK\n{body}", received)
    assert parsed.error is not None or parsed.events
    assert all(times.contradiction(e) is None for e in parsed.events)
    assert times.contradiction_between(parsed.events) is None


@given(st.lists(st.tuples(st.sampled_from(["OUT", "OFF", "ON", "IN", "ETA"]), any_time), min_size=1, max_size=5,
                unique_by=lambda t: t[0]),
       st.integers(0, 47))
def test_no_oooi_report_is_read_into_a_contradictory_event(reported, hours_later):
    received = datetime(2013, 2, 8, tzinfo=UTC) + timedelta(hours=hours_later)
    words = " ".join(f"{word} {t}" for word, t in reported)
    text = (f"QU HDQWWQF\n.DDLXCXA {received:%d%H%M}\nA80\nFI B61001/AN N623JB\nDT DDL JFK {received:%d%H%M} M01A\n"
            f"-  KJFKKBOS {words}")
    parsed = read(text, received)
    assert all(times.contradiction(e) is None for e in parsed.events)
    assert times.contradiction_between(parsed.events) is None
