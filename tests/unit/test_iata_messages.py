import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disruption import iata
from shared.events import FlightCancelled, FlightDelayed, FlightDeparted, FlightReinstated, FlightRetimed

SAMPLES = Path(__file__).parents[1] / "samples"
RECEIVED = datetime(2013, 2, 8, 7, 0, tzinfo=UTC)


def one(text: str, received_at: datetime = RECEIVED):
    (parsed,) = iata.parse_text(text, received_at)
    assert parsed.error is None, parsed.error
    return parsed.events


def test_every_sample_message_reads():
    parsed = iata.parse_text((SAMPLES / "iata_messages.txt").read_text(), RECEIVED)
    assert [p.error for p in parsed if p.error] == []
    assert len(parsed) == 12


def test_every_malformed_sample_says_what_and_where():
    parsed = iata.parse_text((SAMPLES / "iata_malformed.txt").read_text(), RECEIVED)
    assert [(p.error.line, p.error.reason) for p in parsed] == [
        (3, "time '9975' is not a valid hhmm"),
        (6, "day 32 is not a day of the month"),
        (11, "ASM action RRT is not read: Rebound reads NEW, CNL, RIN, RPL, TIM and FLT"),
        (16, "unsupported element 'XX1234'"),
    ]


def test_mvt_estimated_departure_with_delay_code():
    (e,) = one("MVT\nB61001/08.N623JB.JFK\nED081145\nDL72/0430")
    assert isinstance(e, FlightDelayed)
    assert (e.flight.origin, e.flight.date_basis, e.flight.departure_date) == ("JFK", "utc", date(2013, 2, 8))
    assert e.estimated_departure == datetime(2013, 2, 8, 11, 45, tzinfo=UTC)
    assert e.reason == "weather" and e.delay_codes[0].minutes == 270


def test_mvt_departure_after_midnight_lands_on_the_next_day():
    (e,) = one("MVT\nB61001/08.N623JB.JFK\nAD0020/0031 EA0140 BOS",
               received_at=datetime(2013, 2, 9, 0, 25, tzinfo=UTC))
    assert isinstance(e, FlightDeparted)
    assert e.actual_departure == datetime(2013, 2, 9, 0, 20, tzinfo=UTC)
    assert e.estimated_arrival == datetime(2013, 2, 9, 1, 40, tzinfo=UTC)


def test_asm_cancellation_reinstatement_and_sequence():
    cnl, = one("ASM\nUTC\n07FEB00012E001\nCNL\nB61001/08FEB13\nSI SNOWSTORM")
    rin, = one("ASM\nUTC\n07FEB00012E002\nRIN\nB61001/08FEB13")
    assert isinstance(cnl, FlightCancelled) and cnl.reason == "weather" and cnl.flight.origin is None
    assert isinstance(rin, FlightReinstated) and rin.sequence > cnl.sequence


def test_asm_retime_in_local_time():
    a, b = one("ASM\nLT\nTIM\nB6123/09FEB13 10FEB13\nJFK2330 BOS0045/1")
    assert isinstance(a, FlightRetimed) and a.flight.date_basis == "local"
    assert a.scheduled_departure == datetime(2013, 2, 10, 4, 30, tzinfo=UTC)  # 23:30 EST
    assert a.scheduled_arrival == datetime(2013, 2, 10, 5, 45, tzinfo=UTC)
    assert b.flight.departure_date == date(2013, 2, 10)


def test_the_same_message_twice_has_the_same_partner_event_id():
    text = "MVT\nB61001/08.N623JB.JFK\nED081145"
    assert one(text)[0].partner_event_id == one(text + "\n")[0].partner_event_id
    assert one(text)[0].partner_event_id != one(text.replace("45", "50"))[0].partner_event_id


@pytest.mark.parametrize("text, line, words", [
    ("MVT\nB61001.JFK\nAD1200", 2, "flight line"),
    ("MVT\nB61001/08.N623JB.JFK", 2, "no movement"),
    ("MVT\nB61001/08.N623JB.JFK\nAD1200\nED1300", 4, "second movement"),
    ("ASM\nUTC\nTIM\nB61001/08FEB13", 5, "TIM needs leg lines"),
    ("ASM\nUTC\nCNL\nB61001/30FEB13", 4, "does not exist"),
    ("LDM\nB61001/08", 1, "LDM messages are not read"),
])
def test_errors_name_the_line(text, line, words):
    (parsed,) = iata.parse_text(text, RECEIVED)
    assert parsed.error.line == line and words in parsed.error.reason


@given(st.text(alphabet=st.sampled_from("MVTASDEA0123456789/. \nBCNLRIX"), max_size=200))
def test_any_text_gives_events_or_clear_errors(text):
    for parsed in iata.parse_text(text, RECEIVED):
        assert parsed.events or (parsed.error and parsed.error.line >= 1 and parsed.error.reason)


@given(carrier=st.from_regex(r"[A-Z][A-Z0-9]", fullmatch=True), number=st.integers(1, 9999),
       day=st.integers(1, 28), hour=st.integers(0, 23), minute=st.integers(0, 59),
       delay_minutes=st.integers(0, 999))
def test_mvt_round_trip(carrier, number, day, hour, minute, delay_minutes):
    received = datetime(2013, 2, day, 6, tzinfo=UTC)
    text = (f"MVT\n{carrier}{number:04d}/{day:02d}.N1.EWR\nED{day:02d}{hour:02d}{minute:02d}\n"
            f"DL41/{delay_minutes // 60:02d}{delay_minutes % 60:02d}")
    (e,) = one(text, received)
    assert e.flight.carrier == carrier and e.flight.number == str(number)
    assert e.estimated_departure == datetime(2013, 2, day, hour, minute, tzinfo=UTC)
    assert e.delay_codes[0].minutes == delay_minutes and e.reason == "technical"


@given(st.dates(date(2000, 1, 1), date(2090, 12, 31)), st.integers(1, 31))
def test_day_of_month_is_placed_within_a_month(near, day):
    try:
        placed = iata.nearest_day_of_month(day, near, 1)
    except iata.MessageError:
        return
    assert placed.day == day and abs(placed - near) <= timedelta(days=31)


def test_delay_codes_map_to_causes():
    assert [iata.cause_of_delay_code(c) for c in ("72", "81", "85", "87", "41", "64", "93")] == [
        "weather", "air_traffic_control", "security", "airport", "technical", "crew", "other"]


SAMPLE_MESSAGES = (SAMPLES / "iata_messages.txt").read_text()


def test_lines_break_only_at_cr_and_lf():
    """A control character such as \\x1e is not a line break: the error names the sender's line."""
    text = "MVT\r\nAA1234/14.N12345.JFK\x1e\r\nZZ 1\r\n"
    [parsed] = iata.parse_text(text, RECEIVED)
    assert parsed.line == 1 and parsed.error and parsed.error.line == 3


@given(st.lists(st.tuples(st.integers(0, len(SAMPLE_MESSAGES)), st.integers(0, 8),
                          st.text(alphabet=st.characters(codec="utf-8"), max_size=6)), max_size=6))
def test_real_messages_spoiled_anywhere_give_events_or_clear_errors(edits):
    """Real MVT and ASM text with characters cut out and anything put in their place: every
    message still reads, or says what is wrong and on which line; nothing else is raised."""
    text = SAMPLE_MESSAGES
    for at, cut, put in edits:
        text = text[:at] + put + text[at + cut:]
    lines = len(re.split(r"\r\n|\r|\n", text))
    for parsed in iata.parse_text(text, RECEIVED):
        assert parsed.events or (parsed.error and 1 <= parsed.error.line <= lines and parsed.error.reason)


# --- envelopes: what networks wrap around a message changes nothing it says -----------------------

BARE = [m for m in SAMPLE_MESSAGES.split("\n\n") if m.startswith(("MVT", "ASM"))]
_HEADINGS = st.sampled_from(["", "QU NYCOOB6\n.JFKOOB6 080640\n", "QU HDQWWQF\n.TDY9999 080154\n",
                             "BRGDS,\nPOLET OPS\n", "COR\n", "QU NYCOOB6\n.JFKOOB6\n"])
_TRAILERS = st.sampled_from(["", "\n\nALL TIME UTC", "\n\nBRGDS,\nPOLET OPS", "\nNNNN", "\n\n\n",
                             "\n\nsupplementary sender/recipients information\nfrom /c=ww/a=sitamail"])


def _type_x(message: str) -> str:
    identifier, _, text = message.partition("\n")
    return (f"=HEADER\nRCV,2013/02/08 06:40\n=PRIORITY\nQU\n=DESTINATION TYPE B\nSTX,NYCOOB6\n=ORIGIN\n"
            f"JFKOOB6\n=MSGID\n080640\n=SMI\n{identifier}\n=TEXT\n{text}")


def _acars(message: str) -> str:
    return f"QU HDQWWQF\n.DDLXCXA 080640\nA80\nFI B61001/AN N623JB\nDT DDL JFK 080640 M01A\n-  {message}"


def _meaning(events):
    return [e.model_dump(exclude={"partner_event_id", "occurred_at"}) for e in events]


@given(st.lists(st.tuples(st.sampled_from(BARE), _HEADINGS, _TRAILERS,
                          st.sampled_from(["plain", "soh", "type_x", "acars"]), st.booleans()),
                min_size=1, max_size=4))
def test_any_envelope_reads_as_the_bare_message(wrapped):
    """Headings, signatures, trailers, SOH/STX/ETX, Type X envelopes, ACARS downlinks and CR LF line
    ends around real messages: each reads exactly as the bare message does, in order."""
    parts = []
    for message, heading, trailer, transport, crlf in wrapped:
        if transport == "type_x":
            text = _type_x(message) + trailer
        elif transport == "acars":
            text = _acars(message) + trailer
        elif transport == "soh":
            text = f"\x01{heading}\x02{message}{trailer}\x03"
        else:
            text = heading + message + trailer
        parts.append(text.replace("\n", "\r\n") if crlf else text)
    joined = "".join(p if p.startswith("\x01") else p + "\n\n" for p in parts)
    parsed = iata.parse_text(joined, RECEIVED)
    assert [p.error for p in parsed] == [None] * len(wrapped)
    assert [_meaning(p.events) for p in parsed] == [_meaning(one(m)) for m, *_ in wrapped]


@given(st.lists(st.tuples(st.integers(0, len(SAMPLE_MESSAGES)), st.integers(0, 8),
                          st.text(alphabet=st.sampled_from("\x01\x02\x03\r\n =-./0123456789ABCDEFLMNOQRSTVXY"),
                                  max_size=8)), max_size=6))
def test_events_only_ever_name_a_flight_the_text_names(edits):
    """Whatever is spoiled, an event's flight number is written in the text, beside its airline's
    IATA designator or an ICAO designator of it."""
    text = SAMPLE_MESSAGES
    for at, cut, put in edits:
        text = text[:at] + put + text[at + cut:]
    flat = re.sub(r"[\x00-\x1f]", " ", text.upper())  # transport characters separate, like spaces
    for parsed in iata.parse_text(text, RECEIVED):
        for e in parsed.events:
            number = e.flight.number
            assert re.search(rf"(?:{e.flight.carrier}|[A-Z]{{3}}) ?0*{number}\b", flat), (number, flat)
