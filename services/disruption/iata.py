"""IATA Type B text messages → flight events. Pure: no I/O.

Supported (anything else in a message is a clear error naming its line):
- MVT (AHM 780 movement): AD actual departure (with EA estimated arrival), AA actual arrival,
  ED estimated departure, EO estimated take-off, EA revised estimated arrival, NI next
  information, RR return to ramp, FR forced return (airborne), DL/EDL delay codes and times;
  SI, PX and other informational lines are read past.
- ASM (SSIM chapter 5, ad hoc schedule change): actions CNL, RIN and TIM, UTC or LT time mode,
  a message reference line (its serial becomes the partner sequence), one or more dates per
  flight identifier line, leg lines (`JFK1835 BOS1950`, day changes as `/1`), SI lines.

MVT times are UTC; an MVT date is the day of the month of scheduled departure (UTC), placed in
the month nearest to the message's receipt. A Type B origin line (`.JFKKKB6 081530`) dates the
message; without one, the event's time is its acceptance.
"""

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared import airports
from shared.events import (
    Cause,
    DelayCode,
    FlightArrived,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightEventData,
    FlightRef,
    FlightReinstated,
    FlightRetimed,
)

MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}

# Type B text is ASCII: re.ASCII keeps \d from matching other scripts' digits.
_DESIGNATOR = r"(?P<carrier>[A-Z0-9]{2})(?P<number>\d{1,4}[A-Z]?)"
_MVT_FLIGHT = re.compile(_DESIGNATOR
                         + r"/(?P<day>\d{2})(?:\.(?P<reg>[A-Z0-9-]{1,10}))?\.(?P<station>[A-Z]{3})$", re.ASCII)
_TIME = r"(\d{4}|\d{6})"
_MOVEMENTS = {
    "AD": re.compile(rf"AD ?{_TIME}(?:/{_TIME})?(?: +EA ?{_TIME} +([A-Z]{{3}}))?$", re.ASCII),
    "AA": re.compile(rf"AA ?{_TIME}(?:/{_TIME})?$", re.ASCII),
    "ED": re.compile(rf"ED ?{_TIME}$", re.ASCII),
    "EO": re.compile(rf"EO ?{_TIME}$", re.ASCII),
    "EA": re.compile(rf"EA ?{_TIME}(?: +([A-Z]{{3}}))?$", re.ASCII),
    "NI": re.compile(rf"NI ?{_TIME}$", re.ASCII),
    "RR": re.compile(rf"RR ?{_TIME}$", re.ASCII),
    "FR": re.compile(rf"FR ?{_TIME}(?:/{_TIME})?$", re.ASCII),
}
_DELAY = re.compile(r"E?DL ?(\d{2}[A-Z]?(?:/\d{2}[A-Z]?)?)((?:/\d{4}){0,2})$", re.ASCII)
_READ_PAST = ("SI", "PX", "TOB", "EB", "FLD", "DLA", "COR", "PAX")

_ASM_REFERENCE = re.compile(r"\d{2}[A-Z]{3}(?P<group>\d{5})E(?P<serial>\d{3})(?:/.*)?$", re.ASCII)
_ASM_FLIGHT = re.compile(_DESIGNATOR + r"/(?P<dates>\d{2}[A-Z]{3}(?:\d{2})?(?: +\d{2}[A-Z]{3}(?:\d{2})?)*)$", re.ASCII)
_ASM_LEG = re.compile(r"(?P<dep>[A-Z]{3})(?P<std>\d{4})?(?:/(?P<dd>M?\d))? +"
                      r"(?P<arr>[A-Z]{3})(?P<sta>\d{4})?(?:/(?P<ad>M?\d))?$", re.ASCII)
_ORIGIN_LINE = re.compile(r"\.[A-Z0-9]{7}(?: +(?P<stamp>\d{6}))?", re.ASCII)
_CAUSE_WORDS: dict[str, Cause] = {
    "WEATHER": "weather", "WX": "weather", "SNOW": "weather", "STORM": "weather", "FOG": "weather",
    "ICE": "weather", "TECH": "technical", "TECHNICAL": "technical", "CREW": "crew",
    "ATC": "air_traffic_control", "ATFM": "air_traffic_control", "SECURITY": "security",
    "STRIKE": "other",
}


class MessageError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Parsed:
    """One message of a text: its first line in the text, and its events or its error."""

    line: int
    events: list[FlightEventData]
    error: MessageError | None = None


def parse_text(text: str, received_at: datetime) -> list[Parsed]:
    """Every message in `text` (separated by blank lines or `NNNN`), each parsed on its own."""
    results = []
    for first, lines in split_messages(text):
        try:
            results.append(Parsed(first, parse_message(lines, received_at, first_line=first)))
        except MessageError as exc:
            results.append(Parsed(first, [], exc))
    return results


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_messages(text: str) -> list[tuple[int, list[str]]]:
    messages: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    # Type B lines end in CR LF; str.splitlines would also break on control characters such as
    # \x1e, and the line numbers in errors would then not match the sender's text.
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip().upper()
        if not line or line == "NNNN" or line.startswith("="):
            if current:
                messages.append((start, current))
            current = []
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        messages.append((start, current))
    return messages


def parse_message(lines: list[str], received_at: datetime, first_line: int = 1) -> list[FlightEventData]:
    """One MVT or ASM message (Type B address and origin lines before it are allowed)."""
    stamp: datetime | None = None
    for i, line in enumerate(lines):
        word = line.split(" ")[0]
        if word in ("MVT", "ASM"):
            body = lines[i + 1:]
            at = first_line + i + 1
            parse = _parse_mvt if word == "MVT" else _parse_asm
            events = parse(body, received_at, stamp, at)
            digest = hashlib.sha256("\n".join(lines[i:]).encode()).hexdigest()[:32]
            return [e.model_copy(update={"partner_event_id": f"{word.lower()}:{digest}:{n}"})
                    for n, e in enumerate(events)]
        origin = _ORIGIN_LINE.match(line)
        if origin and origin["stamp"]:
            stamp = _day_time(origin["stamp"], received_at.date(), first_line + i)
    raise MessageError(first_line, "no MVT or ASM line: only movement (MVT) and schedule (ASM) "
                                   "messages are supported")


# --- MVT ----------------------------------------------------------------------------------------


def _parse_mvt(lines: list[str], received_at: datetime, stamp: datetime | None,
               at: int) -> list[FlightEventData]:
    if not lines:
        raise MessageError(at - 1, "MVT without a flight line")
    flight = _MVT_FLIGHT.match(lines[0])
    if not flight:
        raise MessageError(at, f"flight line {lines[0]!r}: expected e.g. B61001/08.N123JB.JFK "
                               "(flight/day.registration.station)")
    flight_date = _nearest_day_of_month(int(flight["day"]), received_at.date(), at)
    movement: tuple[str, re.Match[str], int] | None = None
    codes: list[DelayCode] = []
    for offset, line in enumerate(lines[1:], start=1):
        kind = line[:2]
        if (delay := _DELAY.match(line)) is not None:
            codes += _delay_codes(delay, at + offset)
        elif kind in _MOVEMENTS:
            match = _MOVEMENTS[kind].match(line)
            if not match:
                raise MessageError(at + offset, f"{kind} element {line!r} is malformed")
            if movement:
                raise MessageError(at + offset, f"a second movement ({kind}) in one message")
            movement = (kind, match, at + offset)
        elif line.split(" ")[0] not in _READ_PAST and not line.startswith(_READ_PAST):
            raise MessageError(at + offset, f"unsupported element {line[:20]!r}")
    if movement is None:
        raise MessageError(at, "no movement element (AD, AA, ED, EO, EA, NI, RR or FR)")
    kind, m, line = movement
    station = flight["station"]

    def when(token: str | None, near: datetime | None = None) -> datetime | None:
        if token is None:
            return None
        return _mvt_time(token, flight_date, near or received_at, line)

    ref = dict(carrier=flight["carrier"], number=flight["number"], departure_date=flight_date,
               date_basis="utc")
    common = dict(partner_event_id="pending", occurred_at=stamp)
    reason = _cause(codes)
    if kind == "AD":
        off = when(m[1])
        return [FlightDeparted(**common, flight=FlightRef(**ref, origin=station), actual_departure=off,
                               airborne_at=when(m[2], off), estimated_arrival=when(m[3], off),
                               delay_codes=codes)]
    if kind == "AA":
        touchdown = when(m[1])
        return [FlightArrived(**common, flight=FlightRef(**ref, destination=station),
                              actual_arrival=touchdown, on_block_at=when(m[2], touchdown))]
    if kind == "EA":
        return [FlightDelayed(**common, flight=FlightRef(**ref, destination=m[2] or station),
                              estimated_arrival=when(m[1]), delay_codes=codes, reason=reason)]
    delayed = FlightRef(**ref, origin=station)
    if kind in ("ED", "EO"):
        return [FlightDelayed(**common, flight=delayed, estimated_departure=when(m[1]),
                              delay_codes=codes, reason=reason)]
    if kind == "NI":
        return [FlightDelayed(**common, flight=delayed, next_information_at=when(m[1]),
                              delay_codes=codes, reason=reason)]
    returned = "ramp" if kind == "RR" else "airborne"
    return [FlightDelayed(**common, flight=delayed, returned=returned, delay_codes=codes,
                          reason="technical" if not codes else reason)]


def _delay_codes(m: re.Match[str], line: int) -> list[DelayCode]:
    codes = m[1].split("/")
    durations = [t for t in m[2].split("/") if t]
    minutes = []
    for t in durations:
        hours, mins = int(t[:2]), int(t[2:])
        if mins > 59:
            raise MessageError(line, f"delay time {t!r} is not hhmm")
        minutes.append(hours * 60 + mins)
    if durations and len(durations) != len(codes):
        raise MessageError(line, "each delay code needs its own time")
    return [DelayCode(code=c, minutes=minutes[i] if minutes else None) for i, c in enumerate(codes)]


def cause_of_delay_code(code: str) -> Cause:
    """The cause category of an IATA delay code (AHM 730)."""
    n = int(code[:2])
    if 71 <= n <= 79:
        return "weather"
    if 81 <= n <= 84:
        return "air_traffic_control"
    if n == 85:
        return "security"
    if 86 <= n <= 89:
        return "airport"
    if 41 <= n <= 58:
        return "technical"
    if 63 <= n <= 68:
        return "crew"
    return "other"


def _cause(codes: list[DelayCode]) -> Cause:
    return cause_of_delay_code(codes[0].code) if codes else "other"


# --- ASM ----------------------------------------------------------------------------------------


def _parse_asm(lines: list[str], received_at: datetime, stamp: datetime | None,
               at: int) -> list[FlightEventData]:
    i = 0
    mode = "UTC"
    if i < len(lines) and lines[i] in ("UTC", "LT"):
        mode, i = lines[i], i + 1
    sequence = None
    if i < len(lines) and (ref := _ASM_REFERENCE.match(lines[i])):
        sequence, i = int(ref["group"]) * 1000 + int(ref["serial"]), i + 1
    if i >= len(lines):
        raise MessageError(at + i, "ASM without an action (CNL, RIN or TIM)")
    action = lines[i].split(" ")[0]
    if action not in ("CNL", "RIN", "TIM"):
        raise MessageError(at + i, f"unsupported ASM action {action!r}: supported are CNL, RIN and TIM")
    i += 1
    if i >= len(lines) or not (flight := _ASM_FLIGHT.match(lines[i])):
        got = lines[i] if i < len(lines) else "nothing"
        raise MessageError(at + i, f"flight line {got!r}: expected e.g. B61001/08FEB13")
    dates = [_asm_date(d, received_at.date(), at + i) for d in flight["dates"].split()]
    i += 1
    leg: re.Match[str] | None = None
    reason: Cause = "other"
    for offset, line in enumerate(lines[i:], start=i):
        if line.startswith("SI"):
            reason = next((c for w, c in _CAUSE_WORDS.items() if re.search(rf"\b{w}", line)), reason)
        elif (m := _ASM_LEG.match(line)) and leg is None:
            leg = m
            leg_line = at + offset
        else:
            raise MessageError(at + offset, f"unsupported line {line[:30]!r} in an ASM {action}")
    if action == "TIM" and (leg is None or not leg["std"] or not leg["sta"]):
        raise MessageError(at + i, "TIM needs a leg line with new times, e.g. JFK1835 BOS1950")
    basis = "utc" if mode == "UTC" else "local"
    events: list[FlightEventData] = []
    for day in dates:
        ref = FlightRef(carrier=flight["carrier"], number=flight["number"], departure_date=day,
                        date_basis=basis, origin=leg["dep"] if leg else None)
        common = dict(partner_event_id="pending", flight=ref, occurred_at=stamp, sequence=sequence)
        if action == "CNL":
            events.append(FlightCancelled(**common, reason=reason))
        elif action == "RIN":
            events.append(FlightReinstated(**common))
        else:
            departure, arrival = _leg_times(leg, day, mode, leg_line)
            events.append(FlightRetimed(**common, scheduled_departure=departure, scheduled_arrival=arrival))
    return events


def _leg_times(leg: re.Match[str], day: date, mode: str, line: int) -> tuple[datetime, datetime]:
    def at(station: str, hhmm: str, shift: str | None) -> datetime:
        days = -int(shift[1:]) if shift and shift.startswith("M") else int(shift or 0)
        naive = datetime.combine(day + timedelta(days=days), _hhmm(hhmm, line))
        if mode == "UTC":
            return naive.replace(tzinfo=UTC)
        if not airports.known(station):
            raise MessageError(line, f"unknown airport {station!r}: local times need its time zone")
        return naive.replace(tzinfo=airports.zone_of(station)).astimezone(UTC)

    departure = at(leg["dep"], leg["std"], leg["dd"])
    arrival = at(leg["arr"], leg["sta"], leg["ad"])
    if arrival <= departure and not leg["ad"]:
        arrival += timedelta(days=1)  # an overnight leg without an explicit day change
    if arrival <= departure:
        raise MessageError(line, "the leg arrives before it departs")
    return departure, arrival


def _asm_date(token: str, near: date, line: int) -> date:
    day, month = int(token[:2]), MONTHS.get(token[2:5])
    if month is None:
        raise MessageError(line, f"date {token!r}: unknown month {token[2:5]!r}")
    years = [2000 + int(token[5:7])] if len(token) == 7 else [near.year - 1, near.year, near.year + 1]
    candidates = [d for y in years if (d := _date(y, month, day))]
    if not candidates:
        raise MessageError(line, f"date {token!r} does not exist")
    return min(candidates, key=lambda d: abs(d - near))


# --- times --------------------------------------------------------------------------------------


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest_day_of_month(day: int, near: date, line: int) -> date:
    """The date with this day of the month closest to `near` (this, the last or the next month)."""
    candidates = []
    for shift in (-1, 0, 1):
        month_index = near.year * 12 + near.month - 1 + shift
        if d := _date(month_index // 12, month_index % 12 + 1, day):
            candidates.append(d)
    if not candidates:
        raise MessageError(line, f"day {day:02d} is not a day of the month")
    return min(candidates, key=lambda d: abs(d - near))


def _hhmm(token: str, line: int):
    hours, minutes = int(token[:2]), int(token[2:4])
    if hours > 23 or minutes > 59:
        raise MessageError(line, f"time {token!r} is not a valid hhmm")
    return datetime.min.replace(hour=hours, minute=minutes).time()


def _day_time(token: str, flight_date: date, line: int) -> datetime:
    """`ddhhmm`: that day of the month nearest the flight's date."""
    day = _nearest_day_of_month(int(token[:2]), flight_date, line)
    return datetime.combine(day, _hhmm(token[2:], line), tzinfo=UTC)


def _mvt_time(token: str, flight_date: date, near: datetime, line: int) -> datetime:
    """An MVT time in UTC: `ddhhmm`, or `hhmm` on the flight's date — or the day after, when the
    movement crossed midnight (judged against `near`: the receipt, or the departure it follows)."""
    if len(token) == 6:
        return _day_time(token, flight_date, line)
    same_day = datetime.combine(flight_date, _hhmm(token, line), tzinfo=UTC)
    next_day = same_day + timedelta(days=1)
    if abs(near - same_day) > timedelta(hours=36):
        return same_day  # received long after: no way to tell, so the scheduled day
    return min((same_day, next_day), key=lambda t: abs(t - near) if t >= near - timedelta(hours=12)
               else timedelta.max)
