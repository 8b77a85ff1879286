"""Where disrupted bookings go. Pure: no I/O.

Two decisions: which itineraries could carry a disrupted trip (`candidate_itineraries`: up to
`Rules.max_legs` legs), and which trip gets which seats when they compete for the same flights
(`assign`). All trips disrupted together are placed together, by a solver that minimises what the
airline's cost profile (`costs.CostProfile`) says the outcome costs, never placing more passengers
on a flight's cabin than it has free seats.
"""

import dataclasses
import heapq
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ortools.sat.python import cp_model

from services.rebooking.costs import DEFAULT, CostProfile, Direction, Haul
from shared import journeys
from shared.airports import CO_TERMINALS, CoTerminals, city_of, same_city
from shared.events import CABINS, TIERS, Cabin, SpecialService, Tier

# Special service requests that move a passenger up the line.
PRIORITY_SERVICES: frozenset[SpecialService] = frozenset(
    {"WCHR", "WCHS", "WCHC", "UMNR", "BLND", "DEAF", "DPNA", "MEDA"})
# The least time the solver is given for one independent part of an assignment.
MIN_COMPONENT_SECONDS = 0.1


@dataclass(frozen=True)
class Rules:
    """What an alternative may be: the operator's settings."""

    horizon: timedelta = timedelta(hours=72)
    max_connection: timedelta = timedelta(hours=6)
    minimum_connecting: Mapping[str, int] = field(default_factory=lambda: {"default": 60})
    co_terminals: CoTerminals = CO_TERMINALS
    # Carrier → the carriers whose flights its passengers may be moved to (always itself).
    partners: Mapping[str, frozenset[str]] = field(default_factory=dict)
    options_per_trip: int = 12
    # The most legs an alternative may have (2: direct or one stop).
    max_legs: int = 2
    # The most alternatives that begin, or end, with one flight (None: no limit): the earliest ways
    # through one flight are many, and seats on other flights are what a crowded assignment needs.
    options_per_end_flight: int | None = None
    # What an outcome costs the airline: the solver's objective.
    profile: CostProfile = DEFAULT

    @property
    def unplaced_minutes(self) -> int:
        """A passenger left without a seat counts as this long a delay: longer than any
        itinerary within the horizon, with every penalty."""
        return round(2 * self.horizon / timedelta(minutes=1)) + 24 * 60

    def carriers_for(self, carrier: str) -> frozenset[str]:
        return self.partners.get(carrier, frozenset()) | {carrier}

    def city_of(self, airport: str) -> frozenset[str]:
        return city_of(airport, self.co_terminals)


@dataclass(frozen=True)
class Flight:
    flight_id: str
    carrier: str
    number: str
    origin: str
    destination: str
    departure: datetime
    arrival: datetime
    seats_free: Mapping[Cabin, int]
    haul: Haul = "domestic"


@dataclass(frozen=True)
class Itinerary:
    flights: tuple[Flight, ...]

    @property
    def origin(self) -> str:
        return self.flights[0].origin

    @property
    def destination(self) -> str:
        return self.flights[-1].destination

    @property
    def departure(self) -> datetime:
        return self.flights[0].departure

    @property
    def arrival(self) -> datetime:
        return self.flights[-1].arrival

    @property
    def flight_ids(self) -> tuple[str, ...]:
        return tuple(f.flight_id for f in self.flights)

    def seats_free(self, cabin: Cabin) -> int:
        return min(f.seats_free.get(cabin, 0) for f in self.flights)


@dataclass(frozen=True)
class Trip:
    """The part of one booking's journey that must be replaced: from where the passengers are
    (or will be) to the end of that journey."""

    booking_ref: str
    passenger_ids: tuple[str, ...]
    cabin: Cabin
    carrier: str
    origin: str
    destination: str
    earliest_departure: datetime
    planned_arrival: datetime
    replaced_flight_ids: tuple[str, ...]
    onward_connection: bool = False
    tier: Tier = "none"
    special_services: frozenset[SpecialService] = frozenset()
    booked_at: datetime | None = None
    may_split: bool = False
    # The latest a new itinerary may arrive: in time for the booking's next journey (the return),
    # or within the airline's delay limit.
    arrive_by: datetime | None = None
    # What the airline's cost profile prices the outcome by: the journey's direction and haul
    # (its longest leg), the fare paid per passenger, the journey's planned flying time, and the
    # cabin booked on each of its flights (no downgrade is charged on a flight kept as booked).
    direction: Direction = "outbound"
    haul: Haul = "domestic"
    fare: float = 0.0
    planned_minutes: int = 0
    booked_cabins: tuple[tuple[str, Cabin], ...] = ()

    @property
    def party(self) -> int:
        return len(self.passenger_ids)

    @property
    def unaccompanied_minor(self) -> bool:
        return "UMNR" in self.special_services

    @property
    def priority(self) -> int:
        """Onward connections at risk first, then status tier, then special service needs; each
        step outweighs every step below it."""
        return (1 + 2 * bool(self.special_services & PRIORITY_SERVICES)
                + 4 * TIERS.index(self.tier) + 16 * self.onward_connection)


def candidate_itineraries(trip: Trip, flights: Iterable[Flight], rules: Rules) -> list[Itinerary]:
    """The itineraries of up to `rules.max_legs` legs that could carry the trip, earliest arrival
    first (then fewest legs), at most `rules.options_per_trip` of them, and at most
    `rules.options_per_end_flight` beginning or ending with any one flight.

    They leave no earlier than the passengers can, within the horizon, from the trip's city to its
    destination city (co-terminal airports count), on the booked carrier or its partners; each
    connection is at an airport not yet passed through, at least its minimum connecting time and at
    most the longest connection after the leg before; they arrive by `trip.arrive_by`; and each
    flight has a free seat in some cabin. Whose seats they become is the assignment's job."""
    origins, destinations = rules.city_of(trip.origin), rules.city_of(trip.destination)
    carriers = rules.carriers_for(trip.carrier)
    from_airport: dict[str, list[Flight]] = defaultdict(list)
    for f in flights:
        if (f.carrier in carriers and any(f.seats_free.values()) and f.flight_id not in trip.replaced_flight_ids
                and f.departure >= trip.earliest_departure
                and (trip.arrive_by is None or f.arrival <= trip.arrive_by)):
            from_airport[f.origin].append(f)
    for leaving in from_airport.values():
        leaving.sort(key=lambda f: f.departure)
    # Minors travel alone only on direct flights.
    legs = 1 if trip.unaccompanied_minor else rules.max_legs
    found = _earliest_arrivals(trip, from_airport, origins, destinations, legs, rules)
    return sorted(found, key=lambda i: (i.arrival, len(i.flights), i.flight_ids))[:rules.options_per_trip]


def _earliest_arrivals(trip: Trip, from_airport: Mapping[str, list[Flight]], origins: frozenset[str],
                       destinations: frozenset[str], legs: int, rules: Rules) -> list[Itinerary]:
    """Itineraries in order of arrival, best first (A*): a partial itinerary is queued at its
    arrival plus the least flying time from where it lands to the destination, no later than any
    of its completions can arrive; so the first `options_per_trip` complete ones taken from the
    queue are the earliest there are (and any arriving at the same time as the last of them).
    Where the destination cannot be reached in the legs left, nothing is queued."""
    latest = trip.earliest_departure + rules.horizon
    queue = _Queue(_least_flying(from_airport, destinations, legs) if legs > 2 else None)
    for airport in origins:
        for f in from_airport.get(airport, ()):
            if f.departure > latest:
                break
            queue.push((f,))
    found: list[Itinerary] = []
    ending: dict[str, int] = defaultdict(int)
    while queue.paths:
        at, _, path = heapq.heappop(queue.paths)
        if len(found) >= rules.options_per_trip and at > found[-1].arrival:
            break
        last = path[-1]
        if last.destination in destinations:
            _admit(path, found, ending, rules.options_per_end_flight)
        elif len(path) < legs and last.destination not in origins:
            for f in _onward(path, from_airport, rules):
                queue.push((*path, f))
    return found


def _admit(path: tuple[Flight, ...], found: list[Itinerary], ending: dict[str, int], most: int | None) -> None:
    """The itinerary found, unless `most` already begin or end with its first or last flight."""
    ends = {path[0].flight_id, path[-1].flight_id}
    if most is None or max(ending[e] for e in ends) < most:
        for e in ends:
            ending[e] += 1
        found.append(Itinerary(path))


@dataclass
class _Queue:
    """Partial itineraries by the earliest their completions can arrive. `least`: the least flying
    time left from each airport, by legs flown (None: none assumed; with one stop at most, the
    bound is worth less than it costs to work out)."""

    least: list[dict[str, timedelta]] | None
    paths: list[tuple[datetime, int, tuple[Flight, ...]]] = field(default_factory=list)
    pushed: int = 0  # ties go in the order queued

    def push(self, path: tuple[Flight, ...]) -> None:
        to_go = self.least[len(path)].get(path[-1].destination) if self.least else timedelta(0)
        if to_go is not None:  # else the destination is out of reach in the legs left
            self.pushed += 1
            heapq.heappush(self.paths, (path[-1].arrival + to_go, self.pushed, path))


def _onward(path: tuple[Flight, ...], from_airport: Mapping[str, list[Flight]], rules: Rules) -> Iterator[Flight]:
    """The flights that continue the itinerary: from where it lands, after the airport's minimum
    connecting time and within the longest connection, to an airport it has not passed through."""
    last = path[-1]
    ready = last.arrival + timedelta(minutes=rules.minimum_connecting.get(
        last.destination, rules.minimum_connecting.get("default", 60)))
    passed = {f.origin for f in path}
    for f in from_airport.get(last.destination, ()):
        if f.departure < ready:
            continue
        if f.departure > last.arrival + rules.max_connection:
            break
        if f.destination not in passed:
            yield f


def _least_flying(from_airport: Mapping[str, list[Flight]], destinations: frozenset[str], legs: int
                  ) -> list[dict[str, timedelta]]:
    """For each number of legs flown (0…legs), the least flying time from each airport to the
    destination in the legs left (absent: it cannot be reached in them); connections count as
    nothing, so it never overstates."""
    shortest: dict[tuple[str, str], timedelta] = {}
    for airport, leaving in from_airport.items():
        for f in leaving:
            key = (airport, f.destination)
            shortest[key] = min(shortest.get(key, f.arrival - f.departure), f.arrival - f.departure)
    within: list[dict[str, timedelta]] = [{d: timedelta(0) for d in destinations}]
    for _ in range(legs):
        step = dict(within[-1])
        for (a, b), flying in shortest.items():
            if b in within[-1] and (a not in step or flying + within[-1][b] < step[a]):
                step[a] = flying + within[-1][b]
        within.append(step)
    # After n legs flown, legs − n are left.
    return [within[legs - n] for n in range(legs + 1)]


@dataclass(frozen=True)
class BookedLeg:
    flight_id: str
    carrier: str
    origin: str
    destination: str
    departure: datetime
    arrival: datetime


def booked_journeys(legs: Sequence[BookedLeg], co_terminals: CoTerminals = CO_TERMINALS) -> list[list[BookedLeg]]:
    """The booking's journeys in flying order (shared.journeys: a stopover or a turnaround ends one)."""
    legs = sorted(legs, key=lambda leg: leg.departure)
    spans = journeys.journey_spans([(leg.origin, leg.destination, leg.departure, leg.arrival) for leg in legs],
                                   lambda a, b: same_city(a, b, co_terminals))
    return [legs[span.start:span.stop] for span in spans]


def arrive_by(legs: Sequence[BookedLeg], replaced: Sequence[BookedLeg], rules: Rules) -> datetime | None:
    """When a new itinerary for the `replaced` legs must arrive, so the passengers can still take
    the booking's next journey (its return): that journey's departure less the airport's minimum
    connecting time. None: no journey follows."""
    later = [leg for leg in legs if leg.departure > replaced[-1].departure
             and leg.flight_id not in {r.flight_id for r in replaced}]
    if not later:
        return None
    nxt = min(later, key=lambda leg: leg.departure)
    mct = rules.minimum_connecting.get(nxt.origin, rules.minimum_connecting.get("default", 60))
    return nxt.departure - timedelta(minutes=mct)


def legs_to_replace(legs: Sequence[BookedLeg], disrupted: Iterable[str],
                    co_terminals: CoTerminals = CO_TERMINALS) -> list[BookedLeg]:
    """From the first disrupted leg to the end of its journey: the passengers cannot fly the
    disrupted leg, and the legs after it connect from it (the return flight does not)."""
    disrupted = set(disrupted)
    for journey in booked_journeys(legs, co_terminals):
        start = next((i for i, leg in enumerate(journey) if leg.flight_id in disrupted), None)
        if start is not None:
            return journey[start:]
    return []


@dataclass(frozen=True)
class Refund:
    """What a refund for one disrupted journey covers: the coupons whose fare is owed, and the
    seats the booking gives back."""

    coupons: tuple[str, ...]  # the booking's own flights whose fare is refunded
    released: tuple[str, ...]  # of those, the ones not flown: their seats go back on sale
    whole_trip: bool  # the later journeys (the return) are refunded and given up too
    stranded: bool = False  # the passengers flew part of the journey: they are at a connecting airport
    connection_lost: bool = False  # the journey's first flights still go, but it cannot be completed
    home: str = ""  # where the journey began


def refund_for(coupons: Sequence[BookedLeg], replaced: Sequence[str], flown: Iterable[str] = (),
               co_terminals: CoTerminals = CO_TERMINALS) -> Refund:
    """The coupons a refund covers when the passengers will not make a disrupted journey.

    `coupons` are the booking's own flights (those the disruption took away included, not the
    flights it was moved to), `replaced` the ones the disruption took away, `flown` those already
    gone with the passengers on board. The unused part of the journey is refunded, and the part
    already flown too, since the journey no longer serves its purpose (EU261 Art. 8(1)(a); US rules
    refund the ticket, 14 CFR 260.6). The later journeys go with it: they leave from a place the
    passengers will not reach (a round trip's return)."""
    gone, taken = set(flown), set(replaced)
    trips = booked_journeys(coupons, co_terminals)
    at = next((i for i, legs in enumerate(trips) if any(leg.flight_id in taken for leg in legs)), None)
    if at is None:
        return Refund(tuple(sorted(taken)), tuple(sorted(taken - gone)), False)
    ids = tuple(leg.flight_id for legs in trips[at:] for leg in legs)
    return Refund(ids, tuple(f for f in ids if f not in gone), whole_trip=at + 1 < len(trips),
                  stranded=any(leg.flight_id in gone for leg in trips[at]),
                  connection_lost=trips[at][0].flight_id not in taken, home=trips[at][0].origin)


# The trip's fields the last release did not have: written only when not at their default, so that
# its replicas, still running in a rolling upgrade, read the trips this one stores.
_SINCE_LAST_RELEASE = {f.name: f.default for f in dataclasses.fields(Trip)
                       if f.name in ("direction", "haul", "fare", "planned_minutes", "booked_cabins")}


def trip_to_json(trip: Trip) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else sorted(v) if isinstance(v, frozenset)
                else [list(p) if isinstance(p, tuple) else p for p in v] if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(trip).items()
            if k not in _SINCE_LAST_RELEASE or v != _SINCE_LAST_RELEASE[k]}


def trip_from_json(data: Mapping[str, Any]) -> Trip:
    """A stored trip; fields a later release added are left out (a rolling upgrade's other side)."""
    known = {f.name for f in dataclasses.fields(Trip)}
    values = {k: v for k, v in data.items() if k in known}
    for k in ("earliest_departure", "planned_arrival", "booked_at", "arrive_by"):
        values[k] = values.get(k) and datetime.fromisoformat(values[k])
    for k in ("passenger_ids", "replaced_flight_ids"):
        values[k] = tuple(values[k])
    values["special_services"] = frozenset(values["special_services"])
    values["booked_cabins"] = tuple(tuple(pair) for pair in values.get("booked_cabins", ()))
    return Trip(**values)


# --- assignment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Some or all of a trip's passengers, placed on an itinerary in a cabin."""

    trip: Trip
    passenger_ids: tuple[str, ...]
    itinerary: Itinerary
    cabin: Cabin
    reason: str

    @property
    def downgraded(self) -> bool:
        return CABINS.index(self.cabin) < CABINS.index(self.trip.cabin)

    @property
    def arrival_delay_minutes(self) -> int:
        return round((self.itinerary.arrival - self.trip.planned_arrival) / timedelta(minutes=1))


@dataclass
class Assignment:
    placements: dict[str, list[Placement]]  # booking → one placement, or several when split
    unplaced: dict[str, str]  # booking → why no seats were found
    method: str  # "optimal", "feasible" (the solver's best within its budget) or "greedy"
    solve_seconds: float
    objective: int


@dataclass(frozen=True)
class _Option:
    itinerary: Itinerary
    cabin: Cabin
    cost: int  # per passenger, in the profile's integer units, priority-weighted


@dataclass(frozen=True)
class _Unit:
    """What one pass places of a trip: its passengers still without a seat, whole on one option
    (`together`), or spread over several."""

    trip: Trip
    passenger_ids: tuple[str, ...]
    options: tuple[_Option, ...]
    weight: int
    not_carried: int  # per passenger left without a seat, in the same units as an option's cost
    together: bool
    partial: bool  # some may be placed and the others left

    @property
    def size(self) -> int:
        return len(self.passenger_ids)


Seats = dict[tuple[str, Cabin], int]
# A unit's choice: how many of its passengers each of its options carries.
Choice = dict[int, int]

# One assignment's carried costs, by what they depend on: the trip's arrival, cabin, haul, ends,
# booked cabins and flying time, the itinerary (by identity) and the cabin. Bookings on one flight
# share their candidates, and each pass asks again: computed once.
Costs = dict[tuple[object, ...], int]


def assign(trips: Sequence[Trip], itineraries: Mapping[str, Sequence[Itinerary]], rules: Rules,
           *, time_budget: float = 2.0, strict: bool = False) -> Assignment:
    """Place every trip it can: all trips compete for the same seats and are placed together,
    at the least cost the profile counts.

    In passes, each over what the earlier ones left: parties together in their cabin or better;
    then split, where the booking (or the profile) allows; then, as the last resort, a lower cabin
    (together, then split). A profile that prices downgrades (`downgrade_last` off) has every cabin
    in one pass; one that splits every party skips the passes together. Within a pass a CP-SAT
    model minimises the cost; if it finds no solution within `time_budget`, a greedy pass in order
    of priority stands in. `strict`: the budget is a limit, not a target (each independent part
    otherwise gets a floor of time however many there are): once spent, the rest is placed greedily."""
    started = time.perf_counter()
    seats: Seats = {(f.flight_id, cabin): free for found in itineraries.values() for itinerary in found
                    for f in itinerary.flights for cabin, free in f.seats_free.items()}
    weights = priority_weights(trips) if rules.profile.priorities else {t.booking_ref: 1 for t in trips}
    costs: Costs = {}
    order = sorted(trips, key=lambda t: -weights[t.booking_ref])
    placements: dict[str, list[Placement]] = {}
    methods: list[str] = []
    for cabins, split in _passes(rules.profile):
        pending = [t for t in order if _unseated(t, placements) and _in_pass(t, split, rules.profile)]
        budget_left = time_budget - (time.perf_counter() - started)
        methods += _place_pass(pending, itineraries, rules, weights, seats, placements, budget_left, costs,
                               cabins=cabins, split=split, strict=strict)
    unplaced = {t.booking_ref: _why_unplaced(t, itineraries.get(t.booking_ref, ()), rules)
                for t in order if _unseated(t, placements)}
    return Assignment(placements, unplaced, _weakest(methods), time.perf_counter() - started,
                      objective(trips, placements, rules))


def _passes(profile: CostProfile) -> list[tuple[str, bool]]:
    """(cabins, split) of each pass, in order; cabins "up": the booked one or better, "down":
    lower ones, "any": all the profile allows."""
    cabins = ("up", "down") if profile.downgrade_last else ("any",)
    splits = (True,) if profile.split_parties else (False, True)
    return [(c, s) for c in cabins for s in splits]


def _in_pass(trip: Trip, split: bool, profile: CostProfile) -> bool:
    """A split pass after a pass together takes the parties it may split; without one (the
    profile splits every party), it takes every trip."""
    return not split or profile.split_parties or (trip.may_split and trip.party > 1)


def _unseated(trip: Trip, placements: Mapping[str, Sequence[Placement]]) -> tuple[str, ...]:
    seated = {p for pl in placements.get(trip.booking_ref, ()) for p in pl.passenger_ids}
    return tuple(p for p in trip.passenger_ids if p not in seated)


def _weakest(methods: list[str]) -> str:
    """How the assignment was found, as its weakest pass found it."""
    return "greedy" if "greedy" in methods else "feasible" if "feasible" in methods else "optimal"


def _place_pass(pending: Sequence[Trip], itineraries: Mapping[str, Sequence[Itinerary]], rules: Rules,
                weights: Mapping[str, int], seats: Seats, placements: dict[str, list[Placement]], budget: float,
                costs: Costs, *, cabins: str, split: bool, strict: bool = False) -> list[str]:
    """One pass: its units solved over the seats left, each placed part added to `placements` and
    its seats counted off; the method that solved it (none when the pass had nothing to place)."""
    units = _units(pending, itineraries, rules, weights, placements, costs, cabins=cabins, split=split)
    if not units:
        return []
    chosen, method = _solve(units, seats, budget, strict)
    for unit, choice in zip(units, chosen, strict=True):
        waiting = list(unit.passenger_ids)
        for pick, count in sorted(choice.items()):
            taken, waiting = waiting[:count], waiting[count:]
            placements.setdefault(unit.trip.booking_ref, []).append(
                _take(unit, unit.options[pick], tuple(taken), seats, itineraries, split))
    return [method]


def _units(pending: Sequence[Trip], itineraries: Mapping[str, Sequence[Itinerary]], rules: Rules,
           weights: Mapping[str, int], placements: Mapping[str, Sequence[Placement]], costs: Costs, *,
           cabins: str, split: bool) -> list[_Unit]:
    """What one pass places: each trip's passengers still without a seat, with the options the
    pass allows."""
    units: list[_Unit] = []
    for t in pending:
        weight = weights[t.booking_ref]
        options = _options(t, itineraries.get(t.booking_ref, ()), rules, cabins, weight, costs)
        if options:
            units.append(_Unit(t, _unseated(t, placements), options, weight, weight * not_carried_cost(t, rules),
                               together=not split, partial=split and rules.profile.partial_parties))
    return units


def _take(unit: _Unit, option: _Option, passenger_ids: tuple[str, ...], seats: Seats,
          itineraries: Mapping[str, Sequence[Itinerary]], split: bool) -> Placement:
    """Passengers of the unit placed on the option, their seats counted off."""
    for f in option.itinerary.flights:
        seats[(f.flight_id, option.cabin)] -= len(passenger_ids)
    return Placement(unit.trip, passenger_ids, option.itinerary, option.cabin,
                     _reason(unit.trip, option, itineraries[unit.trip.booking_ref], split))


def _options(trip: Trip, itineraries: Sequence[Itinerary], rules: Rules, cabins: str,
             weight: int, costs: Costs) -> tuple[_Option, ...]:
    booked, profile = CABINS.index(trip.cabin), rules.profile
    lowest, highest = ((booked, len(CABINS)) if cabins == "up" else (0, booked) if cabins == "down"
                       else (0, len(CABINS)))
    if not profile.upgrades:
        highest = min(highest, booked + 1)
    options = []
    for itinerary in itineraries:
        for cabin in CABINS[lowest:highest]:
            if itinerary.seats_free(cabin) < 1:
                continue
            key = (trip.planned_arrival, trip.cabin, trip.haul, trip.origin, trip.destination, trip.booked_cabins,
                   trip.planned_minutes, id(itinerary), cabin)
            if (cost := costs.get(key)) is None:
                cost = costs[key] = carried_cost(trip, itinerary, cabin, rules)
            options.append(_Option(itinerary, cabin, weight * cost))
    return tuple(options)


def carried_cost(trip: Trip, itinerary: Itinerary, cabin: Cabin, rules: Rules) -> int:
    """What carrying one of the trip's passengers on the itinerary in the cabin costs, by the
    profile, in its integer units: the arrival delay, each stop, airport and cabin change, a lower
    cabin on each flight not kept as booked, and the money owed for arriving that late."""
    p = rules.profile
    delay = round((itinerary.arrival - trip.planned_arrival) / timedelta(minutes=1))
    value = p.delay_cost(trip.cabin, trip.haul, delay) + p.stop * (len(itinerary.flights) - 1)
    value += p.airport_change * ((itinerary.origin != trip.origin) + (itinerary.destination != trip.destination))
    value += p.cabin_step * abs(CABINS.index(cabin) - CABINS.index(trip.cabin))
    if CABINS.index(cabin) < CABINS.index(trip.cabin):  # only a lower cabin is a downgrade
        booked = dict(trip.booked_cabins)
        value += sum(p.downgrade_cost(trip.cabin, cabin, f.haul) for f in itinerary.flights
                     if booked.get(f.flight_id) != cabin)
    return round((value + p.money.when_late(trip.planned_minutes, max(0, delay))) * p.scale)


def not_carried_cost(trip: Trip, rules: Rules) -> int:
    """What leaving one of the trip's passengers without a seat costs, by the profile: the cost
    of not carrying them, and the fare refunded and compensation owed."""
    p = rules.profile
    value = p.not_carried_cost(trip.direction, trip.cabin, trip.haul, rules.unplaced_minutes)
    return round((value + p.money.when_not_carried(trip.planned_minutes, trip.fare)) * p.scale)


def _solve(units: list[_Unit], seats: Seats, budget: float, strict: bool = False) -> tuple[list[Choice], str]:
    """Each unit's choice (how many of it each option carries).

    Units that can never want the same seats (other routes, other cabins) are solved apart:
    many small models solve to optimality where one large one would run out of time."""
    chosen: list[Choice] = [{} for _ in units]
    methods = set()
    components = _components(units)
    total = len(units)
    started = time.perf_counter()
    for component in sorted(components, key=len):
        share = budget * len(component) / total
        # Budget a small component does not use passes on to the larger ones after it; and each
        # gets a floor, as a time limit (a small model is solved in far less).
        left = budget - (time.perf_counter() - started)
        given = max(MIN_COMPONENT_SECONDS, share, min(left, 2 * share)) if budget > 0 else 0.0
        picks, method = _solve_component([units[i] for i in component], seats,
                                         max(0.0, min(given, left)) if strict else given)
        methods.add(method)
        for i, choice in zip(component, picks, strict=True):
            chosen[i] = choice
        total -= len(component)
    return chosen, "greedy" if "greedy" in methods else "feasible" if "feasible" in methods else "optimal"


def _components(units: list[_Unit]) -> list[list[int]]:
    """Units joined (transitively) by a cabin of a flight that some option of each could use."""
    parent = list(range(len(units)))

    def root(u: int) -> int:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    first_user: dict[tuple[str, Cabin], int] = {}
    for u, unit in enumerate(units):
        for option in unit.options:
            for f in option.itinerary.flights:
                other = first_user.setdefault((f.flight_id, option.cabin), u)
                parent[root(other)] = root(u)
    components: dict[int, list[int]] = defaultdict(list)
    for u in range(len(units)):
        components[root(u)].append(u)
    return list(components.values())


def _solve_component(units: list[_Unit], seats: Seats, budget: float) -> tuple[list[Choice], str]:
    greedy = _greedy(units, seats)
    if len(units) == 1 and units[0].together:
        return greedy, "optimal"  # alone: its cheapest option that fits is the best there is
    if budget <= 0:
        return greedy, "greedy"
    model, counts = _model(units, seats)
    for unit_vars, choice in zip(counts, greedy, strict=True):
        for i, var in enumerate(unit_vars):
            model.add_hint(var, choice.get(i, 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = budget
    # One search worker: on a machine shared with the other services, a second one takes the CPU
    # that first notices need, and a round's quality comes from its time budget more than its workers.
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return greedy, "greedy"
    chosen = [{i: n for i, v in enumerate(vs) if (n := solver.value(v) * (unit.size if unit.together else 1))}
              for unit, vs in zip(units, counts, strict=True)]
    return chosen, "optimal" if status == cp_model.OPTIMAL else "feasible"


def _model(units: list[_Unit], seats: Seats) -> tuple[cp_model.CpModel, list[list[cp_model.IntVar]]]:
    """The CP-SAT model of one component: a unit together takes one option or none; a unit split
    spreads its passengers over its options, all or none of them unless it may be partial; no
    cabin over its seats; the cost minimised."""
    model = cp_model.CpModel()
    counts: list[list[cp_model.IntVar]] = []
    use: dict[tuple[str, Cabin], tuple[list[cp_model.IntVar], list[int]]] = defaultdict(lambda: ([], []))
    variables: list[cp_model.IntVar] = []
    coefficients: list[int] = []
    for unit in units:
        per = unit.size if unit.together else 1  # passengers a unit of the variable carries
        vars_ = [model.new_bool_var("") if unit.together
                 else model.new_int_var(0, min(unit.size, _free(option, seats)), "") for option in unit.options]
        counts.append(vars_)
        if unit.together:
            model.add_at_most_one(vars_)
        elif unit.partial:
            model.add(cp_model.LinearExpr.sum(vars_) <= unit.size)
        else:
            placed = model.new_bool_var("")
            model.add(cp_model.LinearExpr.sum(vars_) == unit.size * placed)
        for option, var in zip(unit.options, vars_, strict=True):
            for f in option.itinerary.flights:
                users, sizes = use[(f.flight_id, option.cabin)]
                users.append(var)
                sizes.append(per)
            # A passenger placed saves the cost of leaving them unplaced (a constant otherwise).
            variables.append(var)
            coefficients.append((option.cost - unit.not_carried) * per)
    for key, (users, sizes) in use.items():
        model.add(cp_model.LinearExpr.weighted_sum(users, sizes) <= seats.get(key, 0))
    model.minimize(cp_model.LinearExpr.weighted_sum(variables, coefficients))
    return model, counts


def _free(option: _Option, seats: Seats) -> int:
    return max(0, min(seats.get((f.flight_id, option.cabin), 0) for f in option.itinerary.flights))


def _greedy(units: list[_Unit], seats: Seats) -> list[Choice]:
    """Highest weight first (then the dearest to leave behind), each unit takes its cheapest
    options that fit: one for all of it, or as many as it needs."""
    left = dict(seats)
    chosen: list[Choice] = [{} for _ in units]
    for u in sorted(range(len(units)), key=lambda u: (-units[u].weight, -units[u].not_carried)):
        unit, trial, choice, waiting = units[u], dict(left), {}, units[u].size
        for j in sorted(range(len(unit.options)), key=lambda j: unit.options[j].cost):
            option = unit.options[j]
            if option.cost >= unit.not_carried and unit.partial:
                break  # dearer than leaving them: only a party kept whole takes it
            free = min(trial.get((f.flight_id, option.cabin), 0) for f in option.itinerary.flights)
            n = min(waiting, free) if not unit.together else (waiting if free >= waiting else 0)
            if n > 0:
                for f in option.itinerary.flights:
                    trial[(f.flight_id, option.cabin)] -= n
                choice[j] = n
                waiting -= n
            if not waiting:
                break
        if not waiting or (unit.partial and choice):
            left = trial
            chosen[u] = choice
    return chosen


def priority_weights(trips: Sequence[Trip]) -> dict[str, int]:
    """Each booking's weight in the objective: its priority, with booking order (earlier first)
    breaking ties within one priority, in up to 100 steps (small coefficients keep the solver
    fast)."""
    far = datetime.max.replace(tzinfo=UTC)
    order = sorted(trips, key=lambda t: (-t.priority, t.booked_at or far, t.booking_ref))
    return {t.booking_ref: t.priority * 100 + (99 * (len(order) - i)) // len(order) for i, t in enumerate(order)}


def objective(trips: Sequence[Trip], placements: Mapping[str, Sequence[Placement]], rules: Rules) -> int:
    """What the assignment minimises, in the profile's integer units: each passenger carried
    costs their itinerary's cost, each left without a seat the cost of not carrying them (by the
    default profile, longer than any delay, so that as many as possible are placed); each weighted
    by the trip's priority when the profile weighs priorities."""
    weights = priority_weights(trips) if rules.profile.priorities else {t.booking_ref: 1 for t in trips}
    total = 0
    for t in trips:
        placed = 0
        for p in placements.get(t.booking_ref, ()):
            total += weights[t.booking_ref] * carried_cost(t, p.itinerary, p.cabin, rules) * len(p.passenger_ids)
            placed += len(p.passenger_ids)
        total += weights[t.booking_ref] * not_carried_cost(t, rules) * (t.party - placed)
    return total


# --- reasons a person can read ----------------------------------------------------------------


def _reason(trip: Trip, option: _Option, itineraries: Sequence[Itinerary], split: bool) -> str:
    it = option.itinerary
    parts = []
    late = it.arrival - trip.planned_arrival
    who = "you" if trip.party == 1 else f"all {trip.party} of you" if not split else "you"
    if it.arrival == min(i.arrival for i in itineraries):
        parts.append(f"The earliest arrival we could find with seats for {who}")
    else:
        parts.append(f"Earlier flights had no seats left for {who}; this is the next best")
    parts[-1] += f": {_duration(late)} later than planned." if late > timedelta(0) else "."
    if len(it.flights) > 1:
        parts.append(f"One stop, in {it.flights[0].destination}.")
    if it.origin != trip.origin:
        parts.append(f"It leaves from {it.origin} instead of {trip.origin}.")
    if it.destination != trip.destination:
        parts.append(f"It lands at {it.destination} instead of {trip.destination}.")
    booked, seated = CABINS.index(trip.cabin), CABINS.index(option.cabin)
    if seated > booked:
        parts.append(f"In {_cabin(option.cabin)}, at no extra cost: {_cabin(trip.cabin)} is full.")
    elif seated < booked:
        parts.append(f"In {_cabin(option.cabin)}: no {_cabin(trip.cabin)} seat was left on any "
                     "flight. You are owed the difference.")
    if split:
        parts.append("No flight had seats for your whole party, so you travel on different flights.")
    return " ".join(parts)


def _why_unplaced(trip: Trip, itineraries: Sequence[Itinerary], rules: Rules) -> str:
    hours = round(rules.horizon / timedelta(hours=1))
    if trip.arrive_by is not None and not itineraries:
        return (f"No flight from {trip.origin} to {trip.destination} gets you there before your return "
                "flight leaves.")
    if not itineraries:
        return (f"No flight from {trip.origin} to {trip.destination} in the next {hours} hours "
                f"on {' or '.join(sorted(rules.carriers_for(trip.carrier)))}.")
    seats = "a seat" if trip.party == 1 else f"{trip.party} seats together"
    return (f"Every flight from {trip.origin} to {trip.destination} in the next {hours} hours "
            f"is full: none has {seats}.")


def why_no_alternative(refund: Refund, unplaced: str) -> str:
    """Why a journey is refunded, in a sentence the passenger can read."""
    if refund.connection_lost:
        return f"{unplaced} So this trip cannot go ahead as booked: please do not set out."
    return unplaced


def refund_notice(refund: Refund) -> str:
    """The notice for a refunded journey: a lost connection tells them not to set out."""
    return "no_onward" if refund.connection_lost else "no_alternative"


def homeward(trip: Trip, home: str) -> Trip:
    """The way back for passengers stranded at a connecting airport: from there to where their
    journey began, as soon as they can leave (EU261 Art. 8(1)(a): "a return flight to the first
    point of departure, at the earliest opportunity")."""
    return dataclasses.replace(trip, destination=home, planned_arrival=trip.earliest_departure,
                               replaced_flight_ids=(), onward_connection=True, arrive_by=None)


def without_seat(trip: Trip, refund: Refund) -> Literal["needs_agent", "no_alternative"]:
    """A trip no seat was found for: an agent for an unaccompanied minor (moved only on a direct
    flight, with the family) or for passengers stranded part of the way (their way on or home, and
    their care meanwhile); otherwise the journey is given up and its fare refunded."""
    return "needs_agent" if trip.unaccompanied_minor or refund.stranded else "no_alternative"


def why_flown_home(trip: Trip, home: str) -> str:
    return (f"No flight can take you on from {trip.origin} to {trip.destination} in time, so we fly you back "
            f"to {home}, where your journey began, and refund all of this journey, the flights you took "
            "included.")


def why_an_agent(trip: Trip, rules: Rules) -> str:
    """Why a trip `without_seat` needs an agent."""
    if trip.unaccompanied_minor:
        return ("An unaccompanied minor can only be moved to a direct flight, and none has a seat: an agent will "
                "arrange the trip with the family.")
    # Part of the journey is flown: they wait at a connecting airport, where an agent arranges
    # their way on or home, and their care meanwhile.
    return why_stranded(trip, rules)


def why_stranded(trip: Trip, rules: Rules) -> str:
    hours = round(rules.horizon / timedelta(hours=1))
    return (f"You are on your way, and no flight can take you on from {trip.origin} to {trip.destination} "
            f"or back home in the next {hours} hours: an agent will arrange your way, and your meals and "
            "hotel while you wait.")


def _duration(delta: timedelta) -> str:
    minutes = round(delta / timedelta(minutes=1))
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"


def _cabin(cabin: Cabin) -> str:
    return cabin.replace("_", " ")


def answer_deadline(decided_at: datetime, departure: datetime, within: timedelta,
                    at_least: timedelta) -> datetime:
    """Until the passenger must answer a rebooking: an hour before the new flight leaves, and no
    later than `within` from now — but never less than `at_least`, or there is no real choice."""
    return max(min(decided_at + within, departure - timedelta(hours=1)), decided_at + at_least)
