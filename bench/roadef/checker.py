"""The ROADEF 2009 cost function and the passenger-side feasibility rules, from the two
specifications Amadeus gave the competitors (`../shared/roadef2009/docs/`): the cost checker's
(CostChecker_EN4.doc, §4.1.1–4.1.11) and the solution checker's (SolutionValidationChecker, §4.1–4.2,
§4.7 for cabin capacities).

What the specifications leave unsaid is done as the official checkers did on a peer's published
results (`../shared/roadef2009/README.md`): the minimum connection is 30 minutes (30 accepted, 29
refused); a capacity of -1 is unlimited; "outside the window" is judged by the recovered schedule's
departure; compensation and care apply strictly above their thresholds."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.roadef.instance import CABINS, TYPES, Flight, Instance, Itinerary, Leg

MINIMUM_CONNECTION = timedelta(minutes=30)
# Solution checker §4.2: the longest an outbound trip may be delayed.
MAX_DELAY = {"D": timedelta(hours=18), "C": timedelta(hours=18), "I": timedelta(hours=36)}

TERMS = ("Passenger Delay Cost", "Outbound Trip Cancellation Cost", "Inbound Trip Cancellation Cost",
         "Downgrading cost", "Cancellation Legal Compensation Cost", "Delay Legal Compensation Cost",
         "Flight Operating Cost Decrease", "Flight Operating Cost Increase",
         "Swapped Aircraft Flight Operating Cost", "Penalties for non-compliant location of aircraft")


def highest(values: Iterable[str], order: tuple[str, ...]) -> str:
    return max(values, key=order.index)


def planned_minutes(itinerary: Itinerary, schedule: Mapping[tuple[str, date], Flight]) -> int:
    """The trip's planned duration: its legs' flying times in the original schedule, without the
    connections (§4.1.5)."""
    return sum(int((schedule[leg.key].arrival - schedule[leg.key].departure) / timedelta(minutes=1))
               for leg in itinerary.legs)


def cancellation_compensation(minutes: int) -> Decimal:
    """§4.1.5: 250 euros for a trip under two hours, 400 under four and a half, 600 beyond."""
    return Decimal(250) if minutes < 120 else Decimal(400) if minutes < 270 else Decimal(600)


def delay_compensation(minutes: int, delay: int) -> Decimal:
    """§4.1.6: 15 euros once the delay is longer than 2, 3 or 4 hours (by the trip's planned
    duration, as in §4.1.5), and 60 more for a hotel once it is longer than five hours."""
    threshold = 120 if minutes < 120 else 180 if minutes < 270 else 240
    return Decimal(15) * (delay > threshold) + Decimal(60) * (delay > 300)


@dataclass(frozen=True)
class Reference:
    """What the cost of an itinerary's passengers depends on, from the original itinerary."""

    cabin: str  # the highest cabin booked on its legs
    type: str  # the type of its longest leg: intercontinental > continental > domestic
    planned_minutes: int
    planned_arrival: datetime
    planned_departure: datetime
    destination: str
    origin: str


def reference(itinerary: Itinerary, instance: Instance) -> Reference:
    flights = [instance.schedule[leg.key] for leg in itinerary.legs]
    return Reference(
        highest((leg.cabin for leg in itinerary.legs), CABINS),
        highest((instance.leg_type[(f.origin, f.destination)] for f in flights), TYPES),
        planned_minutes(itinerary, instance.schedule), flights[-1].arrival, flights[0].departure,
        flights[-1].destination, flights[0].origin)


@dataclass
class Score:
    terms: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(TERMS, Decimal(0)))
    violations: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        t, c = self.terms, self._weights
        return (c[0] * (t["Cancellation Legal Compensation Cost"] + t["Delay Legal Compensation Cost"]
                        - t["Flight Operating Cost Decrease"] + t["Flight Operating Cost Increase"]
                        + t["Swapped Aircraft Flight Operating Cost"])
                + c[1] * (t["Passenger Delay Cost"] + t["Outbound Trip Cancellation Cost"]
                          + t["Inbound Trip Cancellation Cost"] + t["Downgrading cost"])
                + c[2] * t["Penalties for non-compliant location of aircraft"])

    _weights: tuple[Decimal, Decimal, Decimal] = (Decimal(1), Decimal(1), Decimal(1))


def score(instance: Instance, recovered: Mapping[tuple[str, date], Flight], solution: list[Itinerary]) -> Score:
    """The solution's cost, term by term (§4.1), and every passenger-side rule it breaks."""
    s = Score(_weights=(instance.config.alpha, instance.config.beta, instance.config.gamma))
    _aircraft_terms(s, instance, recovered)
    originals = {i.id: i for i in instance.itineraries}
    carried: dict[str, int] = defaultdict(int)
    load: dict[tuple[str, date, str], int] = defaultdict(int)
    refs: dict[str, Reference] = {}  # each itinerary's, worked out once for all its lines
    for line in solution:
        original = originals.get(line.id)
        if original is None:
            s.violations.append(f"Itinerary {line.id} is not in the instance")
            continue
        carried[line.id] += line.count
        if line.id not in refs:
            refs[line.id] = reference(original, instance)
        _check_line(s, instance, recovered, original, line, refs[line.id])
        _cost_line(s, instance, recovered, original, line, refs[line.id])
        for leg in line.legs:
            load[(leg.flight, leg.day, leg.cabin)] += line.count
    for i in instance.itineraries:
        if carried[i.id] != i.count:
            s.violations.append(f"Incorrect number of passengers reaccomodated on itinerary {i.id}")
    _check_capacity(s, instance, recovered, load)
    return s


def _cost_line(s: Score, instance: Instance, recovered: Mapping[tuple[str, date], Flight],
               original: Itinerary, line: Itinerary, ref: Reference) -> None:
    config, n = instance.config, line.count
    arrived = bool(line.legs) and not line.cancelled and line.legs[-1].key in recovered \
        and recovered[line.legs[-1].key].destination == ref.destination
    if not arrived:
        # Cancelled, or not at the final destination: a cancelled trip (§4.1.2–4.1.3, §4.1.5).
        table, term = ((config.outbound_cancellation, "Outbound Trip Cancellation Cost") if original.kind == "A"
                       else (config.inbound_cancellation, "Inbound Trip Cancellation Cost"))
        s.terms[term] += n * table[(ref.cabin, ref.type)]
        s.terms["Cancellation Legal Compensation Cost"] += n * (
            original.price + cancellation_compensation(ref.planned_minutes))
        return
    delay = int((recovered[line.legs[-1].key].arrival - ref.planned_arrival) / timedelta(minutes=1))
    if delay > 0:
        s.terms["Passenger Delay Cost"] += n * config.delay[(ref.cabin, ref.type)] * delay
        s.terms["Delay Legal Compensation Cost"] += n * delay_compensation(ref.planned_minutes, delay)
    if line.legs != original.legs:
        booked = set(original.legs)
        for leg in line.legs:
            if leg in booked or CABINS.index(leg.cabin) >= CABINS.index(ref.cabin):
                continue
            f = recovered[leg.key]
            s.terms["Downgrading cost"] += n * config.downgrade[
                (ref.cabin, leg.cabin, instance.leg_type[(f.origin, f.destination)])]


def _check_line(s: Score, instance: Instance, recovered: Mapping[tuple[str, date], Flight],
                original: Itinerary, line: Itinerary, ref: Reference) -> None:
    """Solution checker §4.1 and §4.2, for one line of the solution."""
    v, i = s.violations, line.id
    if line.kind != original.kind:
        v.append(f"Wrong type for itinerary {i}")
    if not line.legs and not line.cancelled:
        v.append(f"Empty itinerary {i}")
    window = (instance.config.window_start, instance.config.window_end)
    _check_fixed(v, original, line, recovered, window)
    flights = []
    for leg in line.legs:
        if leg.key not in recovered:
            v.append(f"Cancelled flight {leg.flight} is taken on itinerary {i}")
            return
        flights.append(recovered[leg.key])
    for leg, f in zip(line.legs, flights, strict=True):
        if leg not in original.legs and f.departure < window[0]:
            v.append(f"Flight {leg.flight} before the recovery period is added to itinerary {i}")
    _check_connections(v, i, flights)
    if not line.cancelled and flights:
        _check_ends(v, original, ref, flights)


def _check_fixed(v: list[str], original: Itinerary, line: Itinerary, recovered: Mapping[tuple[str, date], Flight],
                 window: tuple[datetime, datetime]) -> None:
    """§4.1: the legs outside the window (those the passengers could fly) kept."""
    fixed = [leg for leg in _flyable(original, recovered) if not window[0] <= recovered[leg.key].departure]
    fixed += [leg for leg in original.legs if leg.key in recovered and recovered[leg.key].departure > window[1]]
    missing = [leg.flight for leg in fixed if leg not in line.legs]
    if missing and line.legs:
        v.append(f"Fixed part of itinerary {line.id} missing flight(s) {', '.join(missing)}")


def _check_connections(v: list[str], i: str, flights: list[Flight]) -> None:
    for a, b in zip(flights, flights[1:], strict=False):
        if a.destination != b.origin:
            v.append(f"Arrival of flight {a.number} and departure of flight {b.number} differ on itinerary {i}")
        elif b.departure - a.arrival < MINIMUM_CONNECTION:
            v.append(f"Connection time not respected between flight {a.number} and flight {b.number} "
                     f"on itinerary {i}")


def _check_ends(v: list[str], original: Itinerary, ref: Reference, flights: list[Flight]) -> None:
    """§4.2: the same origin and final destination, not before the original, within the delay limit."""
    i = original.id
    if flights[0].origin != ref.origin:
        v.append(f"Origin problem on itinerary {i}")
    if flights[-1].destination != ref.destination:
        v.append(f"Final destination problem on itinerary {i}")
    if flights[0].departure < ref.planned_departure:
        v.append(f"Itinerary {i} departs before its original departure date")
    if original.kind == "A" and flights[-1].arrival - ref.planned_arrival > MAX_DELAY[ref.type]:
        hours = int(MAX_DELAY[ref.type] / timedelta(hours=1))
        v.append(f"Violation of {hours}h max delay on itinerary {i}")


def _flyable(original: Itinerary, recovered: Mapping[tuple[str, date], Flight]) -> list[Leg]:
    """The itinerary's legs up to the first it cannot take (cancelled, or too short a connection):
    a passenger stranded before the window opened keeps the legs flown, not the ones after."""
    flyable: list[Leg] = []
    for leg in original.legs:
        taken = recovered.get(leg.key)
        if taken is None or (flyable and taken.departure - recovered[flyable[-1].key].arrival < MINIMUM_CONNECTION):
            break
        flyable.append(leg)
    return flyable


def _check_capacity(s: Score, instance: Instance, recovered: Mapping[tuple[str, date], Flight],
                    load: Mapping[tuple[str, date, str], int]) -> None:
    names = {"F": "First", "B": "Business", "E": "Eco"}
    for (number, day, cabin), n in sorted(load.items()):
        f = recovered.get((number, day))
        if f is None or f.tail is None:
            continue
        seats = instance.aircraft[f.tail].seats[cabin]
        if 0 <= seats < n:
            s.violations.append(f"{names[cabin]} cabin capacity exceeded on flight {number} on {day} "
                                f"operated by aircraft {f.tail}")


def _aircraft_terms(s: Score, instance: Instance, recovered: Mapping[tuple[str, date], Flight]) -> None:
    """§4.1.7–4.1.10: the schedule's own costs (constant while the schedule is fixed)."""
    fleet, schedule = instance.aircraft, instance.schedule
    for key, f in schedule.items():
        if key not in recovered:
            s.terms["Flight Operating Cost Decrease"] += f.hours * fleet[f.tail].cost_per_hour  # type: ignore[index]
    for key, f in recovered.items():
        cost = f.hours * fleet[f.tail].cost_per_hour  # type: ignore[index]
        if key not in schedule:
            s.terms["Flight Operating Cost Increase"] += cost
        elif schedule[key].tail != f.tail:
            s.terms["Swapped Aircraft Flight Operating Cost"] += cost - f.hours * fleet[
                schedule[key].tail].cost_per_hour  # type: ignore[index]
    s.terms["Penalties for non-compliant location of aircraft"] = _position_penalties(instance, recovered)


def _position_penalties(instance: Instance, recovered: Mapping[tuple[str, date], Flight]) -> Decimal:
    """§4.1.10: each aircraft an airport needs at the end of the window, matched with one that is
    there (landed): the same family, model and seats cost nothing, then the same model, then the
    same family; none of its family costs the family penalty."""
    config, fleet = instance.config, instance.aircraft
    present = _present(instance, recovered)
    family_of = {a.model: a.family for a in fleet.values()}
    penalty = Decimal(0)
    for airport, needs in instance.positions.items():
        there = list(present.get(airport, []))
        wanted = [(family_of.get(model, model), model, seats) for model, seats, n in needs for _ in range(n)]
        for matches, cost in ((lambda w, h: w == h, Decimal(0)),
                              (lambda w, h: w[:2] == h[:2], config.penalty_configuration),
                              (lambda w, h: w[0] == h[0], config.penalty_model)):
            unmatched = []
            for w in wanted:
                hit = next((h for h in there if matches(w, h)), None)
                if hit is None:
                    unmatched.append(w)
                else:
                    there.remove(hit)
                    penalty += cost
            wanted = unmatched
        penalty += config.penalty_family * len(wanted)
    return penalty


def _present(instance: Instance, recovered: Mapping[tuple[str, date], Flight]) -> dict[str, list[tuple[str, str, str]]]:
    """(family, model, seats) of the aircraft on the ground at each airport when the window closes:
    where its last flight landed, or where it began if it flew none; airborne ones nowhere."""
    last: dict[str, Flight] = {}
    for f in recovered.values():
        if f.tail and (f.tail not in last or f.departure > last[f.tail].departure):
            last[f.tail] = f
    present: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for tail, a in instance.aircraft.items():
        landed = last.get(tail)
        if landed is None:
            present[a.origin].append((a.family, a.model, a.configuration))
        elif landed.arrival <= instance.config.window_end:
            present[landed.destination].append((a.family, a.model, a.configuration))
    return present


def write_solution(path: Path, lines: Iterable[Itinerary]) -> None:
    """sol_itineraries.csv in the official format, its `#` line last."""
    with open(path, "w", encoding="ascii") as out:
        for i in lines:
            legs = " ".join(f"{leg.flight} {leg.day:%d/%m/%y} {leg.cabin}" for leg in i.legs)
            tail = " cancelled" if i.cancelled else ""
            out.write(f"{i.id} {i.kind} {i.price} {i.count}{' ' + legs if legs else ''}{tail}\n")
        out.write("#\n")

