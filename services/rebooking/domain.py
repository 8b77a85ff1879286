"""Where disrupted bookings go. Pure: no I/O.

Two decisions: which itineraries could carry a disrupted trip (`candidate_itineraries`), and which
trip gets which seats when they compete for the same flights (`assign`). All trips disrupted
together are placed together, by a solver that minimises the total arrival delay weighted by
priority, never placing more passengers on a flight's cabin than it has free seats.
"""

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ortools.sat.python import cp_model

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
    # What a worse itinerary costs, in minutes of arrival delay: a co-terminal airport, a stop,
    # each cabin above the one booked (seats a paying passenger could have had).
    airport_change_minutes: int = 45
    stop_minutes: int = 30
    upgrade_minutes: int = 20

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
    # The latest a new itinerary may arrive: in time for the booking's next journey (the return).
    arrive_by: datetime | None = None

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
    """Direct and one-stop itineraries that could carry the trip, earliest arrival first.

    They leave no earlier than the passengers can, within the horizon, from the trip's city to its
    destination city (co-terminal airports count), on the booked carrier or its partners, and
    connect at one airport with at least its minimum connecting time, with at least one free seat
    in some cabin. Whose seats they become is the assignment's job."""
    origins, destinations = rules.city_of(trip.origin), rules.city_of(trip.destination)
    latest = trip.earliest_departure + rules.horizon
    carriers = rules.carriers_for(trip.carrier)
    usable = [f for f in flights
              if f.carrier in carriers and any(f.seats_free.values())
              and f.flight_id not in trip.replaced_flight_ids and f.departure >= trip.earliest_departure]
    direct_flights, first_legs, onward_from = _by_role(usable, origins, destinations, latest)
    # Minors travel alone only on direct flights.
    connecting = [] if trip.unaccompanied_minor else _connections(first_legs, onward_from, origins, rules)
    direct = [Itinerary((f,)) for f in direct_flights]
    ranked = sorted((i for i in direct + connecting if trip.arrive_by is None or i.arrival <= trip.arrive_by),
                    key=lambda i: (i.arrival, len(i.flights), i.flight_ids))
    return ranked[:rules.options_per_trip]


def _by_role(usable: list[Flight], origins: frozenset[str], destinations: frozenset[str], latest: datetime
             ) -> tuple[list[Flight], list[Flight], dict[str, list[Flight]]]:
    """Flights straight from the trip's city to its destination, flights from it elsewhere (a
    first leg), and flights into the destination by the airport they leave from (a second leg)."""
    direct_flights: list[Flight] = []
    first_legs: list[Flight] = []
    onward_from: dict[str, list[Flight]] = defaultdict(list)
    for f in usable:
        if f.origin in origins:
            if f.departure <= latest:
                (direct_flights if f.destination in destinations else first_legs).append(f)
        elif f.destination in destinations:
            onward_from[f.origin].append(f)
    return direct_flights, first_legs, onward_from


def _connections(first_legs: list[Flight], onward_from: Mapping[str, list[Flight]], origins: frozenset[str],
                 rules: Rules) -> list[Itinerary]:
    """Each first leg with each onward flight from where it lands, at least the airport's minimum
    connecting time later and at most the longest connection."""
    connecting: list[Itinerary] = []
    for first in first_legs:
        if first.destination not in onward_from or first.destination in origins:
            continue
        needed = timedelta(minutes=rules.minimum_connecting.get(
            first.destination, rules.minimum_connecting.get("default", 60)))
        connecting += [Itinerary((first, second)) for second in onward_from[first.destination]
                       if first.arrival + needed <= second.departure <= first.arrival + rules.max_connection]
    return connecting


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


def trip_to_json(trip: Trip) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else sorted(v) if isinstance(v, frozenset)
                else list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(trip).items()}


def trip_from_json(data: Mapping[str, Any]) -> Trip:
    values = dict(data)
    for k in ("earliest_departure", "planned_arrival", "booked_at", "arrive_by"):
        values[k] = values.get(k) and datetime.fromisoformat(values[k])
    for k in ("passenger_ids", "replaced_flight_ids"):
        values[k] = tuple(values[k])
    values["special_services"] = frozenset(values["special_services"])
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
    cost: int  # per passenger, priority-weighted


@dataclass(frozen=True)
class _Unit:
    trip: Trip
    passenger_ids: tuple[str, ...]
    options: tuple[_Option, ...]
    weight: int

    @property
    def size(self) -> int:
        return len(self.passenger_ids)


Seats = dict[tuple[str, Cabin], int]
Solver = Callable[[list[_Unit], list[list[int]], Seats, float], tuple[list[int | None], str]]


def assign(trips: Sequence[Trip], itineraries: Mapping[str, Sequence[Itinerary]], rules: Rules,
           *, time_budget: float = 2.0) -> Assignment:
    """Place every trip it can: all trips compete for the same seats and are placed together.

    Four passes, each over what the earlier ones left: parties together in their cabin or better;
    then split, where the booking allows; then, as the last resort, a lower cabin (together, then
    split). Within a pass a CP-SAT model minimises the priority-weighted arrival delay; if it finds
    no solution within `time_budget`, a greedy pass in priority order stands in."""
    started = time.perf_counter()
    seats: Seats = {(f.flight_id, cabin): free for found in itineraries.values() for itinerary in found
                    for f in itinerary.flights for cabin, free in f.seats_free.items()}
    weights = priority_weights(trips)
    order = sorted(trips, key=lambda t: -weights[t.booking_ref])
    placements: dict[str, list[Placement]] = {}
    methods: list[str] = []
    for downgrade in (False, True):
        for split in (False, True):
            pending = [t for t in order if t.booking_ref not in placements
                       and (not split or (t.may_split and t.party > 1))]
            budget_left = time_budget - (time.perf_counter() - started)
            methods += _place_pass(pending, itineraries, rules, weights, seats, placements, budget_left,
                                   downgrade=downgrade, split=split)
    unplaced = {t.booking_ref: _why_unplaced(t, itineraries.get(t.booking_ref, ()), rules)
                for t in order if t.booking_ref not in placements}
    return Assignment(placements, unplaced, _weakest(methods), time.perf_counter() - started,
                      objective(trips, placements, rules))


def _weakest(methods: list[str]) -> str:
    """How the assignment was found, as its weakest pass found it."""
    return "greedy" if "greedy" in methods else "feasible" if "feasible" in methods else "optimal"


def _place_pass(pending: Sequence[Trip], itineraries: Mapping[str, Sequence[Itinerary]], rules: Rules,
                weights: Mapping[str, int], seats: Seats, placements: dict[str, list[Placement]], budget: float,
                *, downgrade: bool, split: bool) -> list[str]:
    """One pass: its units solved over the seats left, each placed one added to `placements` and
    its seats counted off; the method that solved it (none when the pass had nothing to place)."""
    units, groups = _units(pending, itineraries, rules, weights, downgrade=downgrade, split=split)
    if not units:
        return []
    chosen, method = _solve(units, groups, seats, budget, rules.unplaced_minutes)
    for unit, pick in zip(units, chosen, strict=True):
        if pick is not None:
            placements.setdefault(unit.trip.booking_ref, []).append(
                _take(unit, unit.options[pick], seats, itineraries, split))
    return [method]


def _units(pending: Sequence[Trip], itineraries: Mapping[str, Sequence[Itinerary]], rules: Rules,
           weights: Mapping[str, int], *, downgrade: bool, split: bool) -> tuple[list[_Unit], list[list[int]]]:
    """What one pass places: each party whole, or (split) each passenger alone, with the options
    the pass allows; and the units that make up each party (placed all or none)."""
    units: list[_Unit] = []
    groups: list[list[int]] = []
    for t in pending:
        options = _options(t, itineraries.get(t.booking_ref, ()), rules, downgrade, weights[t.booking_ref])
        if not options:
            continue
        members = [(p,) for p in t.passenger_ids] if split else [t.passenger_ids]
        groups.append(list(range(len(units), len(units) + len(members))))
        units += [_Unit(t, ps, options, weights[t.booking_ref]) for ps in members]
    return units, groups


def _take(unit: _Unit, option: _Option, seats: Seats, itineraries: Mapping[str, Sequence[Itinerary]],
          split: bool) -> Placement:
    """The unit placed on the option, its seats counted off."""
    for f in option.itinerary.flights:
        seats[(f.flight_id, option.cabin)] -= unit.size
    return Placement(unit.trip, unit.passenger_ids, option.itinerary, option.cabin,
                     _reason(unit.trip, option, itineraries[unit.trip.booking_ref], split))


def _options(trip: Trip, itineraries: Sequence[Itinerary], rules: Rules, downgrade: bool,
             weight: int) -> tuple[_Option, ...]:
    booked = CABINS.index(trip.cabin)
    cabins = CABINS[:booked] if downgrade else CABINS[booked:]
    options = []
    for itinerary in itineraries:
        for cabin in cabins:
            if itinerary.seats_free(cabin) < 1:
                continue
            options.append(_Option(itinerary, cabin, weight * _minutes(trip, itinerary, cabin, rules)))
    return tuple(options)


def _minutes(trip: Trip, itinerary: Itinerary, cabin: Cabin, rules: Rules) -> int:
    minutes = max(0, round((itinerary.arrival - trip.planned_arrival) / timedelta(minutes=1)))
    minutes += rules.stop_minutes * (len(itinerary.flights) - 1)
    minutes += rules.airport_change_minutes * ((itinerary.origin != trip.origin)
                                               + (itinerary.destination != trip.destination))
    return minutes + rules.upgrade_minutes * abs(CABINS.index(cabin) - CABINS.index(trip.cabin))


def _solve(units: list[_Unit], groups: list[list[int]], seats: Seats,
           budget: float, unplaced_minutes: int) -> tuple[list[int | None], str]:
    """Each unit's chosen option (or None). A group's units are all placed or none are.

    Groups that can never want the same seats (other routes, other cabins) are solved apart:
    many small models solve to optimality where one large one would run out of time."""
    chosen: list[int | None] = [None] * len(units)
    methods = set()
    components = _components(units, groups)
    total = sum(len(c) for c in components)
    started = time.perf_counter()
    for component in sorted(components, key=len):
        members = [i for g in component for i in groups[g]]
        local = {i: n for n, i in enumerate(members)}
        share = budget * len(component) / total
        # Budget a small component does not use passes on to the larger ones after it; and each
        # gets a floor, as a time limit (a small model is solved in far less).
        left = budget - (time.perf_counter() - started)
        picks, method = _solve_component(
            [units[i] for i in members], [[local[i] for i in groups[g]] for g in component], seats,
            max(MIN_COMPONENT_SECONDS, share, min(left, 2 * share)) if budget > 0 else 0.0, unplaced_minutes)
        methods.add(method)
        for i, pick in zip(members, picks, strict=True):
            chosen[i] = pick
        total -= len(component)
    return chosen, "greedy" if "greedy" in methods else "feasible" if "feasible" in methods else "optimal"


def _components(units: list[_Unit], groups: list[list[int]]) -> list[list[int]]:
    """Groups joined (transitively) by a cabin of a flight that some option of each could use."""
    parent = list(range(len(groups)))

    def root(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    first_user: dict[tuple[str, Cabin], int] = {}
    for g, group in enumerate(groups):
        for i in group:
            for option in units[i].options:
                for f in option.itinerary.flights:
                    other = first_user.setdefault((f.flight_id, option.cabin), g)
                    parent[root(other)] = root(g)
    components: dict[int, list[int]] = defaultdict(list)
    for g in range(len(groups)):
        components[root(g)].append(g)
    return list(components.values())


def _solve_component(units: list[_Unit], groups: list[list[int]], seats: Seats,
                     budget: float, unplaced_minutes: int) -> tuple[list[int | None], str]:
    greedy = _greedy(units, groups, seats)
    if len(units) == 1 and groups == [[0]]:
        return greedy, "optimal"  # alone: its cheapest option that fits is the best there is
    if budget <= 0:
        return greedy, "greedy"
    model, picks = _model(units, groups, seats, unplaced_minutes)
    for unit_vars, pick in zip(picks, greedy, strict=True):
        for i, var in enumerate(unit_vars):
            model.add_hint(var, pick == i)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = budget
    # One search worker: on a machine shared with the other services, a second one takes the CPU
    # that first notices need, and a round's quality comes from its time budget more than its workers.
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return greedy, "greedy"
    chosen = [next((i for i, v in enumerate(vs) if solver.value(v)), None) for vs in picks]
    return chosen, "optimal" if status == cp_model.OPTIMAL else "feasible"


def _model(units: list[_Unit], groups: list[list[int]], seats: Seats, unplaced_minutes: int
           ) -> tuple[cp_model.CpModel, list[list[cp_model.IntVar]]]:
    """The CP-SAT model of one component: at most one option per unit, a party's units all placed
    or none, no cabin over its seats, the priority-weighted delay minimised."""
    model = cp_model.CpModel()
    picks = [[model.new_bool_var("") for _ in u.options] for u in units]
    use: dict[tuple[str, Cabin], tuple[list[cp_model.IntVar], list[int]]] = defaultdict(lambda: ([], []))
    variables: list[cp_model.IntVar] = []
    coefficients: list[int] = []
    for unit, vars_ in zip(units, picks, strict=True):
        model.add_at_most_one(vars_)
        for option, var in zip(unit.options, vars_, strict=True):
            for f in option.itinerary.flights:
                users, sizes = use[(f.flight_id, option.cabin)]
                users.append(var)
                sizes.append(unit.size)
            # A passenger placed saves the cost of leaving them unplaced (a constant otherwise).
            variables.append(var)
            coefficients.append((option.cost - unit.weight * unplaced_minutes) * unit.size)
    for group in groups:
        placed = [cp_model.LinearExpr.sum(picks[i]) for i in group]
        for other in placed[1:]:
            model.add(other == placed[0])
    for key, (users, sizes) in use.items():
        model.add(cp_model.LinearExpr.weighted_sum(users, sizes) <= seats.get(key, 0))
    model.minimize(cp_model.LinearExpr.weighted_sum(variables, coefficients))
    return model, picks


def _greedy(units: list[_Unit], groups: list[list[int]], seats: Seats) -> list[int | None]:
    """Highest weight first, each group takes the cheapest options that fit all its units."""
    left = dict(seats)
    chosen: list[int | None] = [None] * len(units)
    for group in sorted(groups, key=lambda g: -units[g[0]].weight):
        trial = dict(left)
        picks = []
        for i in group:
            unit = units[i]
            fits = [j for j, o in enumerate(unit.options)
                    if all(trial.get((f.flight_id, o.cabin), 0) >= unit.size for f in o.itinerary.flights)]
            if not fits:
                break
            j = min(fits, key=lambda j: unit.options[j].cost)
            for f in unit.options[j].itinerary.flights:
                trial[(f.flight_id, unit.options[j].cabin)] -= unit.size
            picks.append(j)
        if len(picks) == len(group):
            left = trial
            for i, j in zip(group, picks, strict=True):
                chosen[i] = j
    return chosen


def priority_weights(trips: Sequence[Trip]) -> dict[str, int]:
    """Each booking's weight in the objective: its priority, with booking order (earlier first)
    breaking ties within one priority, in up to 100 steps (small coefficients keep the solver
    fast)."""
    far = datetime.max.replace(tzinfo=UTC)
    order = sorted(trips, key=lambda t: (-t.priority, t.booked_at or far, t.booking_ref))
    return {t.booking_ref: t.priority * 100 + (99 * (len(order) - i)) // len(order) for i, t in enumerate(order)}


def objective(trips: Sequence[Trip], placements: Mapping[str, Sequence[Placement]], rules: Rules) -> int:
    """What the assignment minimises: each passenger's priority-weighted arrival delay (plus the
    minutes a worse itinerary counts for); a passenger left without a seat counts as
    `rules.unplaced_minutes`, longer than any delay, so as many as possible are placed."""
    weights = priority_weights(trips)
    total = 0
    for t in trips:
        placed = 0
        for p in placements.get(t.booking_ref, ()):
            total += weights[t.booking_ref] * _minutes(t, p.itinerary, p.cabin, rules) * len(p.passenger_ids)
            placed += len(p.passenger_ids)
        total += weights[t.booking_ref] * rules.unplaced_minutes * (t.party - placed)
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


def why_flown_home(trip: Trip, home: str) -> str:
    return (f"No flight can take you on from {trip.origin} to {trip.destination} in time, so we fly you back "
            f"to {home}, where your journey began, and refund all of this journey, the flights you took "
            "included.")


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
