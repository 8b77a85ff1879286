"""Movement messages → flight events. Pure: no I/O.

- MVT, the aircraft movement message, and MVA, the same sent from the aircraft (ACARS), of IATA
  AHM 780: departures (`AD`), arrivals (`AA`), both in one message after a flight (a departure and
  an arrival event, the leg named by its origin), delays (`ED` estimated off-block, `EO` estimated
  take-off, `NI` next information, alone or together), arrival estimates (`EA` touchdown, `EB`
  on-block), returns (`RR`, `FR`), an in-flight reclearance to another destination (`RC`), delay
  codes (`DL`, `EDL`, `DLA`: AHM 730 codes, AHM 731 and AHM 732 sub-codes, each with its minutes)
  and information read past (`PX`, `TOF`, `ZFW`, `SI` and the free text after it, …);
- DIV, the diversion message of AHM 781: the airport the flight now goes to and when (`EA`, with
  the on-block there, `EB`), the reason (`DR`), and read past: passengers, whether the flight ends
  there or continues (`TERM`, `CONT`) and its take-off from there (`ETOT`).

Times are UTC. The flight line's date is the scheduled departure day (UTC), placed in the month
nearest the message (or given whole, `12DEC24`); its station is where the movement happens: the
departure airport for a departure, delay or return, the arrival airport for an arrival or an
arrival estimate — and, for a diversion, the airport the flight was bound for.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime

from services.disruption import typeb
from services.disruption.telex import Line, Telex, looks_like_a_flight_line
from services.disruption.typeb import DESIGNATOR, STATION, MessageError
from shared.events import (
    Cause,
    DelayCode,
    FlightArrived,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightEventData,
    FlightRef,
)

# Some senders write a one-digit day, pad the registration with spaces or write it with its hyphen
# (G-EUUA).
_FLIGHT = re.compile(DESIGNATOR + r"/(?P<day>\d{1,2})(?P<month>[A-Z]{3}(?:\d{2})?)?"
                     rf"(?:\.(?P<reg>[A-Z0-9 -]*))?\. *(?P<station>{STATION})$", re.ASCII)
_T = r"(\d{6}|\d{4})"
_REST = r"(?P<rest>(?: .*)?)$"  # an element ends at a space or the line's end: FROM is not FR
_ELEMENTS = {
    "AD": re.compile(rf"AD ?{_T}(?:/{_T})?{_REST}", re.ASCII),
    "AA": re.compile(rf"AA ?{_T}(?:/{_T})?{_REST}", re.ASCII),
    "ED": re.compile(rf"ED ?{_T}{_REST}", re.ASCII),
    "EO": re.compile(rf"EO ?{_T}{_REST}", re.ASCII),
    "EA": re.compile(rf"EA ?{_T}(?: +(?P<station>{STATION}))?{_REST}", re.ASCII),
    "NI": re.compile(rf"NI ?{_T}{_REST}", re.ASCII),
    "EB": re.compile(rf"EB ?{_T}{_REST}", re.ASCII),
    "RR": re.compile(rf"RR(?: ?{_T})?{_REST}", re.ASCII),
    "FR": re.compile(rf"FR(?: ?{_T})?(?:/{_T})?{_REST}", re.ASCII),
    "RC": re.compile(rf"RC ?{_T} +(?P<station>{STATION}){_REST}", re.ASCII),
}
# What may follow an element on its line: an arrival estimate on a departure line (`AD1212/1226
# EA1335 BOS`), an estimated on-block time (`EB`), an estimated take-off (`EO`) or departure (`ED`).
_TRAILER = re.compile(rf" *(?:EA ?{_T}(?: +(?P<station>{STATION}))?|EB ?{_T}|EO ?{_T}|ED ?{_T}|RR(?: ?{_T})?)",
                      re.ASCII)
# An arrival estimate with its airport first (`EA BOS 1335`), as some senders write it: read as
# `EA1335 BOS`.
_EA_STATION_FIRST = re.compile(rf"EA ?(?P<station>{STATION}) +(?P<time>\d{{6}}|\d{{4}})(?= |$)", re.ASCII)
_DELAY = re.compile(r"(?P<kind>DLA|EDL|DL|DR) ?(?P<items>[0-9A-Z/]*)$", re.ASCII)
# Elements carried for others (passengers, fuel, weights, take-off data): read past.
_READ_PAST = ("PX", "TOB", "PAX", "FLD", "TOF", "TOW", "ZFW", "ALC", "CRT", "MAP", "FB", "FOB", "TKO")
_DIVERSION_EXTRAS = ("TERM", "CONT", "ETOT")


@dataclass(frozen=True)
class _Context:
    """What every event of the message shares: the flight, its station, the delay and its cause."""

    ref: dict
    station: str
    flight_date: date
    near: datetime
    codes: list[DelayCode]
    reason: Cause
    stamp: datetime | None

    def when(self, token: str | None, line: int, after: datetime | None = None) -> datetime | None:
        """`token` as a time, if given; `after`: the time in the same message it follows."""
        return None if token is None else self.time(token, line, after)

    def time(self, token: str, line: int, after: datetime | None = None) -> datetime:
        if after is not None:
            return typeb.movement_time_after(token, self.flight_date, after, line)
        return typeb.movement_time(token, self.flight_date, self.near, line)

    def flight(self, **leg: str) -> FlightRef:
        return FlightRef(**self.ref, **leg)

    @property
    def common(self) -> dict:
        return dict(partner_event_id="pending", occurred_at=self.stamp)


def read(telex: Telex, received_at: datetime, stamp: datetime | None) -> list[FlightEventData]:
    lines = telex.body
    if not lines:
        raise MessageError(telex.at, f"{telex.identifier} without a flight line")
    near = stamp or received_at
    flight = _FLIGHT.match(lines[0].text)
    if not flight:
        raise MessageError(lines[0].number, f"flight line {lines[0].text[:40]!r}: expected e.g. "
                                            "B61001/08.N623JB.JFK (flight/day.registration.station)")
    at = lines[0].number
    if flight["month"]:
        flight_date = typeb.date_of(flight["day"] + flight["month"], near.date(), at)
    else:
        flight_date = typeb.nearest_day_of_month(int(flight["day"]), near.date(), at)
    ref = dict(carrier=typeb.carrier(flight["carrier"], flight_date, at), number=flight["number"],
               departure_date=flight_date, date_basis="utc")
    elements, codes, words = _elements(lines[1:], diversion=telex.identifier == "DIV")
    context = _Context(ref, typeb.station(flight["station"], at), flight_date, near, codes,
                       typeb.cause_of(codes) if codes else (words or "other"), stamp)
    if telex.identifier == "DIV":
        return [_diversion(context, elements, at)]
    return _movement(context, elements, at, technical=not (codes or words))


def _diversion(c: _Context, elements: dict[str, tuple[re.Match[str], int]], at: int) -> FlightEventData:
    """AHM 781: the flight line names the airport the flight was bound for; EA, where it goes now."""
    if "EA" not in elements:
        raise MessageError(at, "DIV without the diversion airport and estimated arrival (e.g. EA2135 LHR)")
    m, line = elements["EA"]
    _trailer(m, line)  # `EA1735 GOT EB1745`: the on-block there may follow
    if not m["station"]:
        raise MessageError(line, "DIV: the EA element needs the airport the flight is diverted to")
    return FlightDiverted(**c.common, flight=c.flight(destination=c.station),
                          new_destination=typeb.station(m["station"], line),
                          estimated_arrival=c.when(m[1], line), reason=c.reason)


def _movement(c: _Context, elements: dict[str, tuple[re.Match[str], int]], at: int,
              technical: bool) -> list[FlightEventData]:
    kind, arrival_estimate = _movement_kind(elements, at)
    if kind == "delay":
        return [_delay(c, elements, arrival_estimate)]
    m, line = arrival_estimate if kind == "EA" and arrival_estimate else elements[kind]
    trailer = _trailer(m, line)  # checked whatever the kind: an arrival estimate, a return to the ramp
    if kind == "AD" and "RR" in trailer:  # `AD1130 RR1145`: off-block, then back at the gate
        kind = "RR"
    if kind == "AD":
        estimate = trailer.get("EA") or trailer.get("EB") or arrival_estimate
        departed = _departed(c, m, line, estimate)
        if "AA" not in elements:
            return [departed]
        # A departure and its arrival in one message: the flight line's station is where it left.
        touchdown, on_block = _arrival_times(c, elements["AA"], after=departed.airborne_at or departed.actual_departure)
        return [departed, FlightArrived(**c.common, flight=c.flight(origin=c.station), actual_arrival=touchdown,
                                        on_block_at=on_block)]
    if kind == "AA":
        touchdown, on_block = _arrival_times(c, elements["AA"])
        if on_block is None and "EB" in elements:
            on_block = c.when(elements["EB"][0][1], elements["EB"][1], touchdown)
        return [FlightArrived(**c.common, flight=c.flight(destination=c.station), actual_arrival=touchdown,
                              on_block_at=on_block)]
    if kind == "RC":
        return [FlightDiverted(**c.common, flight=c.flight(origin=c.station),
                               new_destination=typeb.station(m["station"], line), reason=c.reason)]
    return [_expected(c, kind, m, line, technical)]


def _departed(c: _Context, m: re.Match[str], line: int,
              estimate: tuple[re.Match[str], int] | None) -> FlightDeparted:
    off = c.time(m[1], line)
    airborne = c.when(m[2], line, off)
    return FlightDeparted(**c.common, flight=c.flight(origin=c.station), actual_departure=off, airborne_at=airborne,
                          estimated_arrival=c.when(estimate[0][1], estimate[1], airborne or off) if estimate
                          else None, delay_codes=c.codes)


def _arrival_times(c: _Context, element: tuple[re.Match[str], int],
                   after: datetime | None = None) -> tuple[datetime, datetime | None]:
    m, line = element
    _trailer(m, line)
    touchdown = c.time(m[1], line, after)
    return touchdown, c.when(m[2], line, touchdown)


# Elements that each say something of a delay before departure, and may come together: an estimated
# off-block (ED), an estimated take-off (EO) and when more will be known (NI).
_DELAY_ELEMENTS = frozenset({"ED", "EO", "NI"})
# An arrival estimate: the estimated touchdown (EA) or on-block (EB, AHM 780's "arrival taxi time
# variance information").
_ESTIMATES = ("EA", "EB")


def _movement_kind(elements: dict[str, tuple[re.Match[str], int]], at: int
                   ) -> tuple[str, tuple[re.Match[str], int] | None]:
    """What the message says (a movement element's kind, or `delay`), and an arrival estimate given
    beside it."""
    kind = _primary(elements, at)
    estimate = elements.get("EA") or elements.get("EB")
    if kind == "EA":
        return kind, estimate
    if estimate is not None and (kind not in ("AD", "delay", "AA") or (kind == "AA" and "EA" in elements)):
        raise MessageError(estimate[1], f"an arrival estimate does not go with {kind}")
    return kind, estimate if kind != "AA" else None


def _primary(elements: dict[str, tuple[re.Match[str], int]], at: int) -> str:
    """The one movement the message reports (an arrival estimate alone is `EA`)."""
    primary = {k for k in elements if k not in _ESTIMATES}
    if primary == {"AD", "RR"}:  # off-block, then a return to the ramp on its own line
        primary = {"RR"}
    if primary == {"AD", "AA"}:  # a departure and its arrival, sent together after the flight
        primary = {"AD"}
    if primary and primary <= _DELAY_ELEMENTS:
        primary = {"delay"}
    if len(primary) > 1:
        later = sorted((elements[k][1], k) for k in primary)[1]
        raise MessageError(later[0], f"a second movement ({later[1]}) in one message")
    if not primary and not any(k in elements for k in _ESTIMATES):
        raise MessageError(at, "no movement element (AD, AA, ED, EO, NI, EA, EB, RR, FR or RC)")
    return primary.pop() if primary else "EA"


def _delay(c: _Context, elements: dict[str, tuple[re.Match[str], int]],
           arrival_estimate: tuple[re.Match[str], int] | None) -> FlightDelayed:
    """ED, EO and NI, alone or together: the estimated off-block (or, without one, the estimated
    take-off) is the departure passengers are told of."""
    times = {k: c.time(elements[k][0][1], elements[k][1]) for k in _DELAY_ELEMENTS if k in elements}
    for k in sorted(_DELAY_ELEMENTS & elements.keys()):  # `ED081300 EA1500 BOS`: the estimate on its line
        trailer = _trailer(*elements[k])
        arrival_estimate = arrival_estimate or trailer.get("EA") or trailer.get("EB")
    departure = times.get("ED") or times.get("EO")
    if "ED" in times and "EO" in times and times["EO"] < times["ED"]:
        raise MessageError(elements["EO"][1], "the estimated take-off (EO) is before the estimated off-block (ED)")
    arrival = (c.when(arrival_estimate[0][1], arrival_estimate[1], departure or times.get("NI"))
               if arrival_estimate else None)
    return FlightDelayed(**c.common, flight=c.flight(origin=c.station), estimated_departure=departure,
                         next_information_at=times.get("NI"), estimated_arrival=arrival, delay_codes=c.codes,
                         reason=c.reason)


def _expected(c: _Context, kind: str, m: re.Match[str], line: int, technical: bool) -> FlightEventData:
    """An arrival estimate alone, or a return: a delay."""
    if kind in _ESTIMATES:
        station = m["station"] if "station" in m.groupdict() else None
        destination = typeb.station(station, line) if station else c.station
        return FlightDelayed(**c.common, flight=c.flight(destination=destination),
                             estimated_arrival=c.when(m[1], line), delay_codes=c.codes, reason=c.reason)
    # A return to the ramp or from the air without a stated cause is taken as technical.
    return FlightDelayed(**c.common, flight=c.flight(origin=c.station),
                         returned="ramp" if kind == "RR" else "airborne", delay_codes=c.codes,
                         reason="technical" if technical else c.reason)


def _elements(lines: list[Line], diversion: bool) -> tuple[dict[str, tuple[re.Match[str], int]], list[DelayCode],
                                                           Cause | None]:
    """The message's elements by kind, its delay codes, and a cause named in its free text."""
    elements: dict[str, tuple[re.Match[str], int]] = {}
    codes: list[DelayCode] = []
    lines, words = typeb.supplementary(lines)
    for line in lines:
        text = _EA_STATION_FIRST.sub(r"EA\g<time> \g<station>", line.text, count=1)
        if (delay := _DELAY.match(text)) is not None and (delay["kind"] != "DR" or diversion):
            codes += _delay_codes(delay, line.number)
            continue
        kind = text[:2]
        if kind in _ELEMENTS and (m := _ELEMENTS[kind].match(text)) and (kind != "RC" or not diversion):
            if kind in elements:
                raise MessageError(line.number, f"{kind} appears twice")
            elements[kind] = (m, line.number)
        elif not _read_past(text, line, diversion):
            raise MessageError(line.number, f"{kind} element {text[:30]!r} is malformed" if kind in _ELEMENTS
                               else f"unsupported element {text[:20]!r}")
    return elements, codes[:4], words


def _read_past(text: str, line: Line, diversion: bool) -> bool:
    """An element the message may carry that tells passengers nothing, or free text after it."""
    word = re.match(r"[A-Z]+", text)
    if word and (word[0] in _READ_PAST or (diversion and word[0] in _DIVERSION_EXTRAS)):
        return True
    return line.trailing and not looks_like_a_flight_line(text)  # a signature, "ALL TIME UTC"


def _trailer(m: re.Match[str], line: int) -> dict[str, tuple[re.Match[str], int]]:
    """The sub-elements after an element on its line; an arrival estimate and a return are used."""
    rest, found = m["rest"], {}
    position = 0
    while position < len(rest):
        sub = _TRAILER.match(rest, position)
        if not sub or sub.end() == position:
            raise MessageError(line, f"unexpected {rest[position:].strip()[:20]!r} after {m[0][:2]}")
        kind = sub[0].strip()[:2]
        element = _ELEMENTS[kind].match(sub[0].strip()) if kind in ("EA", "EB", "RR") else None
        if element:  # read as the element it is, its time the first group
            found[kind] = (element, line)
        position = sub.end()
    return found


# A delay code: AHM 730's two digits, an AHM 731 alphabetic sub-code (`93A`), or one of AHM 732's
# numeric or two-character sub-codes (`931`, `93A1`); four digits are a duration, never a code.
_CODE = re.compile(r"\d{2}(?:[A-Z0-9]?|[A-Z][A-Z0-9]|\d[A-Z])", re.ASCII)
_DURATION = re.compile(r"\d{4}", re.ASCII)


def _delay_codes(m: re.Match[str], line: int) -> list[DelayCode]:
    """`DL72/0430`, `DL72/93/0035/0007`, `EDL81`, `DLA11C/14A/93B/65C`, `DLA/02B//`, `DLA931/0020`:
    codes, then as many hhmm durations or none. `DLA` gives sub-codes in the places of the `DL`
    codes they refine, so its fields may be empty."""
    items = m["items"].split("/")
    if m["kind"] == "DLA":
        items = [i for i in items if i]
    elif "" in items:
        raise MessageError(line, f"delay element {m[0][:30]!r} has an empty field")
    count = next((i for i, item in enumerate(items) if not _CODE.fullmatch(item)), len(items))
    codes, durations = items[:count], items[count:]
    if (not codes and m["kind"] != "DLA") or not all(_DURATION.fullmatch(d) for d in durations):
        raise MessageError(line, f"delay element {m[0][:30]!r}: expected codes, then their hhmm times, "
                                 "e.g. DL72/93/0035/0007")
    return [_delay_code(c, minutes) for c, minutes in zip(codes, _minutes(durations, len(codes), line), strict=True)]


def _minutes(durations: list[str], count: int, line: int) -> list[int | None]:
    """Each code's hhmm time in minutes, or None for each where no times are given."""
    if durations and len(durations) != count:
        raise MessageError(line, "each delay code needs its own time")
    if bad := next((d for d in durations if int(d[2:]) > 59), None):
        raise MessageError(line, f"delay time {bad!r} is not hhmm")
    return [int(d[:2]) * 60 + int(d[2:]) for d in durations] if durations else [None] * count


def _delay_code(sent: str, minutes: int | None) -> DelayCode:
    """The AHM 730 code, with an AHM 731 letter where given. An AHM 732 sub-code beyond that (`931`,
    `93A1`) is not carried: the last release's readers refuse a code of another shape, and the
    cause a passenger is told comes from the code's two digits."""
    return DelayCode(code=sent[:3] if len(sent) > 2 and sent[2].isalpha() else sent[:2], minutes=minutes)
