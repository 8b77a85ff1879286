"""Schedule messages → flight events. Pure: no I/O.

ASM (ad hoc schedule message) and SSM (standard schedule message) of IATA SSIM chapter 5:
- a time mode (`UTC` or `LT`) and a message reference (its serial becomes the partner's sequence);
- an action with its change reasons (`CNL WEAT`, `TIM/EQT OPER`), sub-messages apart by `//`;
- ASM: a flight line with its dates (`ddMMMyy`, `ddMMM` or a day `dd`) and leg identifiers
  (`LX544A/12MAY03 ORD/LAS`);
- SSM: a flight line, then periods with days of operation (`04SEP25 11SEP25 1234`);
- an equipment line (`J 332 J24Y275 3/HFM`), leg lines (`CMN0140 MED0740`, day changes `/1`,
  or `ddhhmm` times), segment lines and data element identifiers (`3/HFM`), read past;
- `SI` supplementary information, whose words may name the cause.

CNL → cancelled; RIN → reinstated; TIM, RPL and NEW → retimed per leg (a NEW or a RPL states the
flight's whole schedule: where it matches, nothing changes); FLT (a new flight designator), EQT,
CON and ADM change nothing a passenger is told of, and are noted. An SSM period becomes one event
per day of operation within the horizon.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.disruption import typeb
from services.disruption.telex import Line, Telex
from services.disruption.typeb import DESIGNATOR, STATION, MessageError
from shared import airports
from shared.events import (
    Cause,
    FlightCancelled,
    FlightEventData,
    FlightRef,
    FlightReinstated,
    FlightRetimed,
)

# An SSM states a season; Rebound reads the days it may still have passengers for soon.
HORIZON_DAYS = 31

# Date, message group serial, E(nd) or C(ontinued), message serial, the creator's reference.
_REFERENCE = re.compile(r"\d{2}[A-Z]{3}(?P<group>\d{5})[EC](?P<serial>\d{3}) *(?:/.*)?$", re.ASCII)
_ACTIONS = ("NEW", "CNL", "RIN", "RPL", "TIM", "EQT", "CON", "ADM", "FLT", "RRT", "REV", "SKD", "RSD")
_ACTION = re.compile(rf"(?P<actions>(?:{'|'.join(_ACTIONS)})(?:/(?:{'|'.join(_ACTIONS)}))*)"
                     r"(?P<rest>(?: +[A-Z0-9]+)*)$", re.ASCII)
_CHANGES_NOTHING = {"EQT": "an equipment change", "CON": "a configuration change",
                    "ADM": "an administrative change"}
_DATE = r"\d{1,2}(?:[A-Z]{3}(?:\d{2})?)?"
_DEI = r"(?: +\d{1,3}/\S*)*"  # data element identifiers (`7/D`, `1/BA`): read past
# The flight, its date(s), the legs it concerns (`ORD/LAS/SFO`: ORD-LAS and LAS-SFO) and DEIs.
_ASM_FLIGHT = re.compile(DESIGNATOR + rf" ?/ ?(?P<dates>{_DATE}(?: +{_DATE})*)"
                         rf"(?: +(?P<legs>{STATION}(?:/{STATION})+))?{_DEI}$", re.ASCII)
_SSM_FLIGHT = re.compile(DESIGNATOR + r"(?: +.*)?$", re.ASCII)
# From, to (`00XXX00`: until further notice), days of operation, a frequency rate (`/W2`), DEIs.
_PERIOD = re.compile(r"(?P<start>\d{2}[A-Z]{3}(?:\d{2})?) +(?P<end>\d{2}[A-Z]{3}(?:\d{2})?) +(?P<days>[0-7.]{1,7})"
                     rf" *(?:/[A-Z](?P<rate>\d))?{_DEI}$", re.ASCII)
# A station, its aircraft time (`hhmm`, or `ddhhmm` in an ASM) with an SSM day change (`/1`, `/M1`),
# and the passengers' time when it differs (`/hhmm`).
_TIME = r"(?P<{0}>\d{{6}}|\d{{4}})?(?:/(?P<{0}_shift>M?\d)(?!\d))?(?:/(?P<{0}_pax>\d{{4}}))?"
_LEG = re.compile(rf"(?P<dep>{STATION}){_TIME.format('std')} +(?P<arr>{STATION}){_TIME.format('sta')}{_DEI}$",
                  re.ASCII)
_EQUIPMENT = re.compile(r"[A-Z] [A-Z0-9]{3}(?: .*)?$", re.ASCII)
_READ_PAST = (re.compile(r"[A-Z]{6,8} +\d{1,3}(?:/.*)?$", re.ASCII),  # segment information
              re.compile(r"\d{1,3}/.*$", re.ASCII))  # a data element identifier


@dataclass
class Reading:
    events: list[FlightEventData] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read(telex: Telex, received_at: datetime, stamp: datetime | None) -> Reading:
    lines = list(telex.body)
    mode = "UTC"
    if lines and lines[0].text in ("UTC", "LT"):
        mode = lines.pop(0).text
    sequence = None
    if lines and (ref := _REFERENCE.match(lines[0].text)):
        sequence = int(ref["group"]) * 1000 + int(ref["serial"])
        lines.pop(0)
    reading = Reading()
    for part in _sub_messages(lines, telex.at):
        _read_sub_message(telex.identifier, part, mode, sequence, received_at, stamp, reading)
    return reading


def _sub_messages(lines: list[Line], at: int) -> list[list[Line]]:
    parts: list[list[Line]] = [[]]
    for line in lines:
        if line.text == "//":
            parts.append([])
        else:
            parts[-1].append(line)
    parts = [p for p in parts if p]
    if not parts:
        raise MessageError(at, "no action (NEW, CNL, RIN, RPL or TIM)")
    return parts


@dataclass(frozen=True)
class _Flight:
    """A flight a sub-message is about: its flight line, the dates it names, the legs' origins."""

    designator: re.Match[str]
    line: int
    days: list[date]
    origins: list[str]


def _read_sub_message(kind: str, lines: list[Line], mode: str, sequence: int | None, received_at: datetime,
                      stamp: datetime | None, reading: Reading) -> None:
    action_line = lines[0]
    main, reason = _action(kind, action_line)
    if len(lines) < 2:
        raise MessageError(action_line.number + 1, f"{kind} {main} without a flight line")
    if main == "FLT":
        reading.notes.append(_new_number(kind, lines, (stamp or received_at).date(), reading))
        return
    if kind == "ASM":
        if "FLT" in action_line.text.split(" ")[0].split("/"):  # `FLT/TIM`: the flight as it was named
            lines = [lines[0], Line(lines[1].number, _NEW_DESIGNATOR.sub("", lines[1].text)), *lines[2:]]
        flights, rest = _asm_flights(lines[1:], (stamp or received_at).date())
    else:
        flights, rest = _ssm_flight(lines[1:], received_at.date(), reading)
    legs, words = _legs(rest, f"{kind} {main}")
    if main in _CHANGES_NOTHING:
        reading.notes.append(f"line {action_line.number}: {main}, {_CHANGES_NOTHING[main]}: nothing for passengers")
        return
    if main not in ("CNL", "RIN") and len(flights) > 1:
        raise MessageError(flights[1].line, f"{main} names one flight per sub-message (separate them with //)")
    common = dict(partner_event_id="pending", occurred_at=stamp, sequence=sequence)
    basis = "utc" if mode == "UTC" else "local"
    if main in ("CNL", "RIN"):
        reading.events += _cancelled_or_reinstated(main, flights, legs, basis, common, reason or words or "other")
    else:
        reading.events += _retimed(main, flights, legs, mode, basis, common)


def _action(kind: str, action_line: Line) -> tuple[str, Cause | None]:
    """The sub-message's action (the one that matters to passengers), and the reason it names."""
    action = _ACTION.match(action_line.text)
    if not action:
        raise MessageError(action_line.number, f"unsupported {kind} action {action_line.text.split(' ')[0]!r}: "
                                               "supported are NEW, CNL, RIN, RPL and TIM (FLT, EQT, CON and ADM "
                                               "change nothing for passengers)")
    actions = action["actions"].split("/")
    main = next((a for a in ("CNL", "RIN", "TIM", "RPL", "NEW") if a in actions), actions[0])
    if main in ("RRT", "REV", "SKD", "RSD"):
        raise MessageError(action_line.number, f"{kind} action {main} is not read: Rebound reads NEW, CNL, RIN, "
                                               "RPL, TIM and FLT")
    reason: Cause | None = next((typeb.REASON_CODES[w] for w in action["rest"].split()
                                 if w in typeb.REASON_CODES), None)
    return main, reason


_NEW_DESIGNATOR = re.compile(r" +(?P<new>(?:[A-Z]{3}|[A-Z0-9]{2}) ?\d{1,4}[A-Z]?)$", re.ASCII)


def _new_number(kind: str, lines: list[Line], near: date, reading: Reading) -> str:
    """FLT, a flight designator change (SSIM 5): the flight, its dates and its new designator, given
    after them on the flight line or on the next line (ASM), or on the line after its periods
    (SSM). The flight keeps its times, aircraft and passengers; their bookings move with the
    reservation system, which owns them, so nothing is published: the change is noted."""
    flight_line = lines[1]
    if kind == "ASM":
        new = _NEW_DESIGNATOR.search(flight_line.text)
        text = flight_line.text[:new.start()] if new else flight_line.text
        flights, _ = _asm_flights([Line(flight_line.number, text)], near)
        rest = lines[2:]
        named = new["new"] if new else (rest[0].text.split("/")[0] if rest else None)
    else:
        flights, rest = _ssm_flight(lines[1:], near, reading)
        named = rest[0].text.split(" ")[0] if rest else None
    if not named or not re.fullmatch(r"(?:[A-Z]{3}|[A-Z0-9]{2}) ?\d{1,4}[A-Z]?", named, re.ASCII):
        raise MessageError(flight_line.number, f"{kind} FLT without the new flight designator (e.g. "
                                               f"{flight_line.text.split('/')[0]}/09FEB13 B61901)")
    days = ", ".join(d.isoformat() for f in flights for d in f.days) or "no day within the horizon"
    return (f"line {flight_line.number}: FLT, {flights[0].designator[0].split('/')[0].strip()} becomes {named} "
            f"({days}): the same flight under a new number, nothing for passengers")


def _cancelled_or_reinstated(main: str, flights: list[_Flight], legs: list[tuple[re.Match[str], int]], basis: str,
                             common: dict[str, Any], reason: Cause) -> list[FlightEventData]:
    """A CNL or RIN: each leg of each flight named, on each date named."""
    events: list[FlightEventData] = []
    for flight in flights:
        named: list[str | None] = [*flight.origins] or [m["dep"] for m, _ in legs] or [None]
        for on in flight.days:
            for origin in named:
                ref = _ref(flight.designator, flight.line, on, basis, origin)
                events.append(FlightCancelled(**common, flight=ref, reason=reason)
                              if main == "CNL" else FlightReinstated(**common, flight=ref))
    return events


def _retimed(main: str, flights: list[_Flight], legs: list[tuple[re.Match[str], int]], mode: str, basis: str,
             common: dict[str, Any]) -> list[FlightEventData]:
    """A TIM, RPL or NEW: the new times of each timed leg, on each date named."""
    timed = [(m, n) for m, n in legs if m["std"] and m["sta"]]
    if not timed:
        raise MessageError(flights[0].line + 1, f"{main} needs leg lines with times, e.g. JFK1835 BOS1950")
    events: list[FlightEventData] = []
    for flight in flights:
        for on in flight.days:
            for m, number in timed:
                departure, arrival, leg_day = _leg_times(m, on, mode, number)
                ref = _ref(flight.designator, number, leg_day, basis, m["dep"])
                events.append(FlightRetimed(**common, flight=ref, scheduled_departure=departure,
                                            scheduled_arrival=arrival))
    return events


def _asm_flights(lines: list[Line], near: date) -> tuple[list[_Flight], list[Line]]:
    """The flight lines (a CNL or RIN may name several, a line each), and the lines after them."""
    flights: list[_Flight] = []
    for line in lines:
        flight = _ASM_FLIGHT.match(line.text)
        if not flight:
            break
        stations = flight["legs"].split("/") if flight["legs"] else []
        flights.append(_Flight(flight, line.number, [typeb.date_of(d, near, line.number)
                                                     for d in flight["dates"].split()], stations[:-1]))
    if not flights:
        raise MessageError(lines[0].number, f"flight line {lines[0].text[:40]!r}: expected e.g. B61001/08FEB13")
    return flights, lines[len(flights):]


def _ssm_flight(lines: list[Line], today: date, reading: Reading) -> tuple[list[_Flight], list[Line]]:
    """The flight line and its periods of operation, as the days within the horizon."""
    flight = _SSM_FLIGHT.match(lines[0].text)
    if not flight:
        raise MessageError(lines[0].number, f"flight line {lines[0].text[:40]!r}: expected e.g. AT248")
    rest = lines[1:]
    periods = []
    while rest and (period := _PERIOD.match(rest[0].text)):
        periods.append((period, rest[0].number))
        rest = rest[1:]
    if not periods:
        got = rest[0].text[:30] if rest else "nothing"
        raise MessageError(rest[0].number if rest else lines[0].number + 1,
                           f"period {got!r}: expected e.g. 04SEP25 11SEP25 1234 (from, to, days of operation)")
    return [_Flight(flight, lines[0].number, _days_of_operation(periods, today, reading), [])], rest


def _legs(lines: list[Line], what: str) -> tuple[list[tuple[re.Match[str], int]], Cause | None]:
    """The leg lines, and a cause named in the supplementary information; the rest is read past."""
    legs: list[tuple[re.Match[str], int]] = []
    lines, words = typeb.supplementary(lines)
    for line in lines:
        text = line.text
        if m := _LEG.match(text):
            legs.append((m, line.number))
        elif not (_EQUIPMENT.match(text) or any(p.match(text) for p in _READ_PAST) or line.trailing):
            raise MessageError(line.number, f"unsupported line {text[:30]!r} in an {what}")
    return legs, words


def _ref(flight: re.Match[str], line: int, on: date, basis: str, origin: str | None) -> FlightRef:
    return FlightRef(carrier=typeb.carrier(flight["carrier"], on, line), number=flight["number"],
                     departure_date=on, date_basis=basis, origin=typeb.station(origin, line) if origin else None)


def _days_of_operation(periods: list[tuple[re.Match[str], int]], today: date, reading: Reading) -> list[date]:
    first, last = today - timedelta(days=1), today + timedelta(days=HORIZON_DAYS)
    days: set[date] = set()
    clipped = False
    for period, number in periods:
        start = typeb.date_of(period["start"], today, number)
        # 00XXX00: until further notice.
        end = date.max if period["end"] == "00XXX00" else typeb.date_of(period["end"], today, number)
        if end < start:
            raise MessageError(number, "the period ends before it begins")
        weekdays = {int(c) for c in period["days"] if c in "1234567"}
        every = int(period["rate"] or 1)
        clipped |= start < first or end > last
        day = max(start, first)
        while day <= min(end, last):
            if day.isoweekday() in weekdays and ((day - start).days // 7) % every == 0:
                days.add(day)
            day += timedelta(days=1)
    if clipped:
        reading.notes.append(f"days of operation before {first.isoformat()} or after {last.isoformat()} "
                             f"(the {HORIZON_DAYS}-day horizon) are not read as events")
    return sorted(days)


def _leg_times(leg: re.Match[str], day: date, mode: str, line: int) -> tuple[datetime, datetime, date]:
    """The leg's departure and arrival in UTC, and its departure date (in the message's time mode)."""
    def at(code: str, token: str, shift: str | None) -> tuple[datetime, date]:
        if len(token) == 6:
            on = typeb.nearest_day_of_month(int(token[:2]), day, line)
            token = token[2:]
        else:
            on = day + timedelta(days=-int(shift[1:]) if shift and shift.startswith("M") else int(shift or 0))
        naive = datetime.combine(on, typeb.hhmm(token, line))
        if mode == "UTC":
            return naive.replace(tzinfo=UTC), on
        station = typeb.station(code, line)
        if not airports.known(station):
            raise MessageError(line, f"unknown airport {station!r}: local times need its time zone")
        return naive.replace(tzinfo=airports.zone_of(station)).astimezone(UTC), on

    # Passengers are told their own times where the aircraft's differ.
    departure, leg_day = at(leg["dep"], leg["std_pax"] or leg["std"], leg["std_shift"])
    arrival, _ = at(leg["arr"], leg["sta_pax"] or leg["sta"], leg["sta_shift"])
    if arrival <= departure and not leg["sta_shift"] and len(leg["sta"]) == 4:
        arrival += timedelta(days=1)  # an overnight leg without an explicit day change
    if arrival <= departure:
        raise MessageError(line, "the leg arrives before it departs")
    return departure, arrival, leg_day
