"""ACARS OOOI reports, converted to Type B, → flight events. Pure: no I/O.

An aircraft reports Out of the gate, Off the ground, On the ground and In at the gate. Networks
deliver the downlink as a Type B message: the ACARS label as the SMI, an `FI` line (the flight,
`FI B61001/AN N623JB`, and where given its day, `FI B61001/08`), a `DT` line (the service
provider, the ground station and when it was received, `DT DDL JFK 080640 M01A`) and the text
after a `-`. The text is either
- ARINC 620's fixed form under its label, QP out, QQ off, QR on, QS in: the origin and the
  destination (ICAO codes) and the time, `KJFKKBOS1225`, anything after it carried for others; or
- the words, under any label: optionally `DEP` or `ARR`, the origin and destination (`KJFK KBOS`,
  `KJFKKBOS`, `JFK/BOS`), then each time after its word, `OUT 1225 OFF 1238`, `ON/1410 IN/1418`
  (an `ETA` is the arrival estimate), each `hhmm` or `ddhhmm`.

Out and off → flight.departed (an off report alone stands for both: the flight has gone), on and
in → flight.arrived (the same for an in report alone). A time without a day is the latest one not
after the report was received; the flight is named by its day (UTC): the `FI` line's when given,
else the day it left the gate. A report with only an arrival names the day from the flying time
between its airports (great circle at 800 km/h, and taxiing); where that lands within two hours of
midnight the day cannot be told, and the report is refused with the reason rather than guessed.
"""

import re
from datetime import UTC, date, datetime, timedelta

from services.disruption import typeb
from services.disruption.telex import OOOI_LABELS, Line, Telex
from services.disruption.typeb import DESIGNATOR, MessageError
from shared import airports
from shared.events import FlightArrived, FlightDeparted, FlightEventData, FlightRef

_WORDS = ("OUT", "OFF", "ON", "IN", "ETA")
_FI = re.compile(rf"FI {DESIGNATOR}(?:/(?P<day>\d{{2}})(?=/|$| ))?(?:/.*)?$", re.ASCII)
_FIXED = re.compile(r"(?P<origin>[A-Z]{4})(?P<destination>[A-Z]{4})(?P<time>\d{4})(?!\d)", re.ASCII)
_ROUTE = re.compile(r"(?:(?:DEP|ARR) +)?(?P<origin>[A-Z]{3,4})(?: +|/)?(?P<destination>[A-Z]{3,4})(?= |$)", re.ASCII)
_TIME = re.compile(rf"(?P<word>{'|'.join(_WORDS)})(?: +|/)?(?P<time>\d{{6}}|\d{{4}})(?!\d)", re.ASCII)
CRUISE_KMH = 800
TAXI = timedelta(minutes=15)
DAY_UNCLEAR = timedelta(hours=2)


def read(telex: Telex, received_at: datetime, stamp: datetime | None) -> list[FlightEventData]:
    label, *lines = telex.body
    fi = next((line for line in lines if line.text.startswith("FI ")), None)
    if fi is None or not (flight := _FI.match(fi.text)):
        raise MessageError(fi.number if fi else label.number,
                           "an ACARS report needs its FI line with the flight, e.g. FI B61001/AN N623JB")
    text = [line for line in lines if not line.text.startswith(("FI ", "DT "))]
    if not text:
        raise MessageError(label.number, "an ACARS report without its text")
    origin, destination, times = _report(label.text, text)
    received = stamp or received_at
    at = {word: _when(token, received, number) for word, (token, number) in times.items() if word != "ETA"}
    if "ETA" in times and (left := at.get("OFF") or at.get("OUT")):
        at["ETA"] = typeb.movement_time_after(times["ETA"][0], left.date(), left, times["ETA"][1])
    return _events(flight, fi.number, origin, destination, at, text[0].number)


def _report(label: str, text: list[Line]) -> tuple[str | None, str | None, dict[str, tuple[str, int]]]:
    """The origin, destination and each reported time with its line."""
    first = text[0]
    if label in OOOI_LABELS and (fixed := _FIXED.match(first.text)):
        return fixed["origin"], fixed["destination"], {OOOI_LABELS[label]: (fixed["time"], first.number)}
    origin = destination = None
    times: dict[str, tuple[str, int]] = {}
    for line in text:
        body = line.text
        if origin is None and (route := _ROUTE.match(body)) and route["origin"] not in _WORDS:
            origin, destination = route["origin"], route["destination"]
            body = body[route.end():]
        for m in _TIME.finditer(body):
            if m["word"] in times:
                raise MessageError(line.number, f"{m['word']} appears twice")
            times[m["word"]] = (m["time"], line.number)
    if not times.keys() - {"ETA"}:
        raise MessageError(first.number, "an ACARS report without an OUT, OFF, ON or IN time "
                                         "(e.g. KJFKKBOS1225 under label QP, or OUT 1225 OFF 1238)")
    return origin, destination, times


def _when(token: str, received: datetime, line: int) -> datetime:
    """The latest time at `token` not after the report was received (with five minutes for clocks)."""
    latest = received + timedelta(minutes=5)
    if len(token) == 6:
        return typeb.day_time(token, latest.date(), line)
    on_the_day = datetime.combine(latest.date(), typeb.hhmm(token, line), tzinfo=UTC)
    return on_the_day if on_the_day <= latest else on_the_day - timedelta(days=1)


def _events(flight: re.Match[str], fi_line: int, origin: str | None, destination: str | None,
            at: dict[str, datetime], line: int) -> list[FlightEventData]:
    if origin is None or destination is None:
        raise MessageError(line, "an ACARS report without its airports (KJFKKBOS1225, DEP KJFK KBOS OUT 1225): "
                                 "which leg it is cannot be told")
    origin_, destination_ = typeb.station(origin, line), typeb.station(destination, line)
    left = at.get("OUT") or at.get("OFF")
    if flight["day"]:
        reported = left or at.get("ON") or at["IN"]
        day = typeb.nearest_day_of_month(int(flight["day"]), reported.date(), fi_line)
    elif left:
        day = left.date()
    else:
        day = _day_from_arrival(origin_, destination_, at.get("ON") or at["IN"], line)

    ref = FlightRef(carrier=typeb.carrier(flight["carrier"], day, fi_line), number=flight["number"],
                    departure_date=day, date_basis="utc", origin=origin_)
    events: list[FlightEventData] = []
    if left:
        events.append(FlightDeparted(partner_event_id="pending", flight=ref, actual_departure=left,
                                     airborne_at=at.get("OFF"), estimated_arrival=at.get("ETA")))
    if "ON" in at or "IN" in at:
        events.append(FlightArrived(partner_event_id="pending", flight=ref, actual_arrival=at.get("ON") or at["IN"],
                                    on_block_at=at.get("IN")))
    return events


def _day_from_arrival(origin: str, destination: str, arrived: datetime, line: int) -> date:
    if not (airports.known(origin) and airports.known(destination)):
        raise MessageError(line, "an arrival report without its flight's day (FI B61001/08) needs both airports, "
                                 "to tell the day from the flying time")
    flying = timedelta(hours=airports.great_circle_km(origin, destination) / CRUISE_KMH) + TAXI
    left = arrived - flying
    midnight = datetime.combine((left + timedelta(hours=12)).date(), datetime.min.time(), tzinfo=UTC)
    if abs(left - midnight) < DAY_UNCLEAR:
        raise MessageError(line, f"the flight left near midnight UTC (about {left:%H%M}Z by its flying time): "
                                 "which day's flight it was cannot be told; send its day on the FI line "
                                 "(FI B61001/08) or its MVA")
    return left.date()
