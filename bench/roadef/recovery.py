"""Passenger re-accommodation on a fixed recovered schedule, by the rebooking service's own solver.

The instance's itineraries are laid on the recovered schedule; those it breaks (a flight cancelled,
a connection shorter than the minimum) become the service's `Trip`s, its flights the service's
`Flight`s with the seats the unbroken passengers leave, and `services.rebooking.domain` finds their
alternatives (up to four legs in all) and assigns the seats with the ROADEF profile built from the
instance's `config.csv`. What the solver cannot carry is written `cancelled`, never dropped."""

import dataclasses
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.roadef.checker import MAX_DELAY, MINIMUM_CONNECTION, reference, score
from bench.roadef.instance import CABINS, Config, Flight, Instance, Itinerary, Leg
from services.rebooking import domain
from services.rebooking.costs import CostProfile, Haul, Money
from shared.events import Cabin
from shared.journeys import journey_spans

CABIN: dict[str, Cabin] = {"E": "economy", "B": "business", "F": "first"}
LETTER = {v: k for k, v in CABIN.items()}
HAUL: dict[str, Haul] = {"D": "domestic", "C": "continental", "I": "intercontinental"}
CARRIER = "XX"  # one airline: every flight of the instance is its own
MOST_LEGS = 4
UNLIMITED = 10**6  # a cabin capacity of -1: a ground transfer


def profile(config: Config) -> CostProfile:
    """The airline's costs as the instance's config.csv states them (cost checker §4.1.1–4.1.6):
    delay per passenger-minute and trip cancellation by cabin and type, downgrades per leg, the
    ticket refunded with 250/400/600 euros for a cancelled trip, 15 euros past 2/3/4 hours late and
    a 60-euro hotel past five; every passenger counts the same, and groups split freely."""
    def table(values: Mapping[Any, Decimal]) -> dict[Any, float]:
        return {tuple(CABIN.get(k) or HAUL[k] for k in key): float(v) for key, v in values.items()}
    not_carried = {("outbound", *k): v for k, v in table(config.outbound_cancellation).items()}
    not_carried |= {("return", *k): v for k, v in table(config.inbound_cancellation).items()}
    return CostProfile(
        "roadef2009", delay_per_minute=table(config.delay), delay_default=0.0,
        not_carried=not_carried, downgrade_per_leg=table(config.downgrade), cabin_step=0.0, upgrades=True,
        downgrade_last=False, stop=0.0, airport_change=0.0,
        money=Money(not_carried=((120, 250.0), (270, 400.0), (None, 600.0)),
                    delayed=((120, 120, 15.0), (270, 180, 15.0), (None, 240, 15.0)),
                    care_after_minutes=300, care=60.0, refund_fare=True),
        priorities=False, split_parties=True, partial_parties=True, scale=100)


def rules(config: Config) -> domain.Rules:
    return domain.Rules(
        horizon=config.window_end - config.window_start, max_connection=timedelta(days=2),
        minimum_connecting={"default": int(MINIMUM_CONNECTION / timedelta(minutes=1))}, co_terminals=(),
        options_per_trip=150, options_per_end_flight=4, max_legs=MOST_LEGS, profile=profile(config))


@dataclass(frozen=True)
class Broken:
    """An itinerary the schedule breaks: the legs kept before and after the part replaced."""

    itinerary: Itinerary
    before: tuple[Leg, ...]
    after: tuple[Leg, ...]
    trip: domain.Trip
    carriable: bool = True


@dataclass
class Recovery:
    lines: list[Itinerary]
    broken: list[Broken]
    assignment: domain.Assignment
    seconds: float


def flight_id(key: tuple[str, date]) -> str:
    return f"{key[0]}/{key[1]:%d%m%y}"


def key_of(flight: str) -> tuple[str, date]:
    number, day = flight.split("/")
    return number, datetime.strptime(day, "%d%m%y").date()


def is_broken(itinerary: Itinerary, instance: Instance, recovered: Mapping[tuple[str, date], Flight]) -> bool:
    """A flight of it cancelled, a connection of it shorter than the minimum, or an outbound trip
    later than its delay limit (solution checker §4.2)."""
    if _breaks(itinerary.legs, recovered):
        return True
    ref = reference(itinerary, instance)
    late = recovered[itinerary.legs[-1].key].arrival - ref.planned_arrival
    return itinerary.kind == "A" and late > MAX_DELAY[ref.type]


def _fixed(leg: Leg, recovered: Mapping[tuple[str, date], Flight], config: Config) -> bool:
    """Outside the recovery window (by the recovered schedule's departure): flown as it stands."""
    f = recovered.get(leg.key)
    return f is not None and not config.window_start <= f.departure <= config.window_end


def _broken(itinerary: Itinerary, instance: Instance, recovered: Mapping[tuple[str, date], Flight]) -> Broken:
    """The trip that replaces the broken journey of an itinerary (a round trip is two journeys,
    divided at its turnaround: shared.journeys), from where its passengers are (past the legs
    flown before the window, or the journeys before) to the journey's end, in time for the
    journeys after it and for the legs after the window."""
    config, legs = instance.config, itinerary.legs
    planned = [instance.schedule[leg.key] for leg in legs]
    start, end = _replaced(itinerary, planned, recovered, config)
    before, after = legs[:start], legs[end:]
    ref = reference(itinerary, instance)
    if before:
        earliest = max(recovered[before[-1].key].arrival + MINIMUM_CONNECTION, config.window_start)
        origin = recovered[before[-1].key].destination
    else:
        earliest, origin = max(ref.planned_departure, config.window_start), ref.origin
    limit = ref.planned_arrival + MAX_DELAY[ref.type]
    destination, arrive_by, planned_arrival = _end(after, planned, end, recovered, ref, limit)
    trip = domain.Trip(
        booking_ref=itinerary.id, passenger_ids=tuple(f"{itinerary.id}.{k}" for k in range(itinerary.count)),
        cabin=CABIN[ref.cabin], carrier=CARRIER, origin=origin, destination=destination,
        earliest_departure=earliest, planned_arrival=planned_arrival,
        replaced_flight_ids=tuple(flight_id(leg.key) for leg in legs[start:end] if leg.key not in recovered),
        may_split=True, arrive_by=arrive_by, direction="outbound" if itinerary.kind == "A" else "return",
        haul=HAUL[ref.type], fare=float(itinerary.price), planned_minutes=ref.planned_minutes,
        booked_cabins=tuple((flight_id(leg.key), CABIN[leg.cabin]) for leg in legs))
    # A later journey broken too cannot be kept after this one: the whole itinerary is cancelled.
    late = bool(after) and itinerary.kind == "A" and after[-1].key in recovered \
        and recovered[after[-1].key].arrival > limit
    return Broken(itinerary, before, after, trip,
                  carriable=start < end and not _breaks(after, recovered) and not late)


def _end(after: tuple[Leg, ...], planned: list[Flight], end: int, recovered: Mapping[tuple[str, date], Flight],
         ref: Any, limit: datetime) -> tuple[str, datetime, datetime]:
    """Where the replaced part must end, by when, and when it was planned to: the final destination
    within the delay limit, or in time for the legs kept after it."""
    if not after:
        return ref.destination, limit, ref.planned_arrival
    if after[0].key not in recovered:
        return planned[end].origin, limit, planned[end - 1].arrival
    following = recovered[after[0].key]
    return following.origin, min(following.departure - MINIMUM_CONNECTION, limit), planned[end - 1].arrival


def _replaced(itinerary: Itinerary, planned: list[Flight], recovered: Mapping[tuple[str, date], Flight],
              config: Config) -> tuple[int, int]:
    """The legs [start, end) to replace: the broken journey (or, a trip only too late, the last),
    less the legs flown before the window up to the first that cannot be taken, and less those
    after the window."""
    legs = itinerary.legs
    spans = journey_spans([(f.origin, f.destination, f.departure, f.arrival) for f in planned], lambda a, b: a == b)
    journey = next((span for span in spans if _breaks(legs[max(0, span.start - 1):span.stop], recovered)), spans[-1])
    start = journey.start
    while (start < journey.stop and _fixed(legs[start], recovered, config)
           and (start == 0 or _connects(legs[start - 1], legs[start], recovered))):
        start += 1
    end = journey.stop
    while end > start and legs[end - 1].key in recovered and recovered[legs[end - 1].key].departure > config.window_end:
        end -= 1
    return start, end


def _connects(a: Leg, b: Leg, recovered: Mapping[tuple[str, date], Flight]) -> bool:
    return a.key in recovered and b.key in recovered \
        and recovered[b.key].departure - recovered[a.key].arrival >= MINIMUM_CONNECTION


def _breaks(legs: tuple[Leg, ...], recovered: Mapping[tuple[str, date], Flight]) -> bool:
    """A flight of these legs cancelled, or a connection between them too short."""
    return any(leg.key not in recovered for leg in legs) or not all(
        _connects(a, b, recovered) for a, b in zip(legs, legs[1:], strict=False))


def _flights(instance: Instance, recovered: Mapping[tuple[str, date], Flight],
             load: Mapping[tuple[str, date, str], int]) -> dict[str, domain.Flight]:
    """The recovered schedule's flights inside the window, with the seats the passengers kept on
    them leave free."""
    config, found = instance.config, {}
    for key, f in recovered.items():
        if not config.window_start <= f.departure <= config.window_end:
            continue
        seats = instance.aircraft[f.tail].seats  # type: ignore[index]
        free = {CABIN[c]: UNLIMITED if seats[c] < 0 else max(0, seats[c] - load.get((*key, c), 0)) for c in CABINS}
        found[flight_id(key)] = domain.Flight(
            flight_id(key), CARRIER, f.number, f.origin, f.destination, f.departure, f.arrival, free,
            HAUL[instance.leg_type[(f.origin, f.destination)]])
    return found


@dataclass
class Problem:
    """The passengers' side of a recovery: the itineraries kept, those broken, and each broken
    one's alternatives on the recovered flights with the seats left."""

    kept: list[Itinerary]
    broken: list[Broken]
    options: dict[str, list[domain.Itinerary]]
    rules: domain.Rules


def problem(instance: Instance, recovered: Mapping[tuple[str, date], Flight], *,
            options_per_trip: int | None = None, every_way: bool = False) -> Problem:
    """`every_way`: the earliest `options_per_trip` alternatives however many share a flight (the
    exact reference's search), rather than the service's diverse ones."""
    kept, broken = [], []
    for i in instance.itineraries:
        (broken.append(_broken(i, instance, recovered)) if is_broken(i, instance, recovered) else kept.append(i))
    load: dict[tuple[str, date, str], int] = defaultdict(int)
    for i in kept:
        for leg in i.legs:
            load[(*leg.key, leg.cabin)] += i.count
    for b in broken:
        for leg in b.before + b.after:
            load[(*leg.key, leg.cabin)] += b.itinerary.count
    r = rules(instance.config)
    if options_per_trip:
        r = dataclasses.replace(r, options_per_trip=options_per_trip)
    if every_way:
        r = dataclasses.replace(r, options_per_end_flight=None)
    usable = list(_flights(instance, recovered, load).values())
    # Itineraries broken alike (the same place, time and limits) share their alternatives.
    shapes: dict[tuple, list[domain.Itinerary]] = {}
    options = {}
    for b in broken:
        if not b.carriable:
            continue
        legs = max(1, MOST_LEGS - len(b.before) - len(b.after))
        t = b.trip
        shape = (t.origin, t.destination, t.earliest_departure, t.arrive_by, legs)
        if shape not in shapes:
            shapes[shape] = domain.candidate_itineraries(t, usable, dataclasses.replace(r, max_legs=legs))
        options[t.booking_ref] = shapes[shape]
    return Problem(kept, broken, options, r)


def recover(instance: Instance, recovered: Mapping[tuple[str, date], Flight], *,
            within: float = 11.0) -> Recovery:
    """Every itinerary: kept, re-accommodated (split over several itineraries where that carries
    more), or cancelled, as the rebooking service's solver assigns the seats; all `within` seconds
    (the solver is given what the search for alternatives leaves of them, one second at least)."""
    started = time.perf_counter()
    p = problem(instance, recovered)
    budget = max(1.0, within - (time.perf_counter() - started))
    assignment = domain.assign([b.trip for b in p.broken], p.options, p.rules, time_budget=budget)
    return Recovery(solution_lines(instance, p, assignment), p.broken, assignment, time.perf_counter() - started)


def solution_lines(instance: Instance, p: Problem, assignment: domain.Assignment) -> list[Itinerary]:
    """sol_itineraries' lines, in the instance's order."""
    lines = list(p.kept) + [line for b in p.broken for line in _lines(b, assignment)]
    order = {i.id: n for n, i in enumerate(instance.itineraries)}
    return sorted(lines, key=lambda line: (order[line.id], line.cancelled))


def _lines(b: Broken, assignment: domain.Assignment) -> list[Itinerary]:
    """The broken itinerary's solution lines: one per new itinerary, and its passengers not
    carried as `cancelled`."""
    i, lines, carried = b.itinerary, [], 0
    for p in assignment.placements.get(i.id, ()):
        legs = tuple(Leg(*key_of(f.flight_id), LETTER[p.cabin]) for f in p.itinerary.flights)
        lines.append(dataclasses.replace(i, count=len(p.passenger_ids), legs=b.before + legs + b.after))
        carried += len(p.passenger_ids)
    if carried < i.count:
        lines.append(dataclasses.replace(i, count=i.count - carried, legs=(), cancelled=True))
    return lines


def bracket(instance: Instance, recovered: Mapping[tuple[str, date], Flight], broken: list[Broken]
            ) -> tuple[Decimal, Decimal]:
    """The passenger-only bracket by this project's checker: every broken itinerary cancelled
    (upper), and its passengers costing nothing (lower), the rest as they stand."""
    ids = {b.itinerary.id for b in broken}
    kept = [i for i in instance.itineraries if i.id not in ids]
    upper = score(instance, recovered, kept + [dataclasses.replace(b.itinerary, legs=(), cancelled=True)
                                               for b in broken]).total
    lower = score(dataclasses.replace(instance, itineraries=kept), recovered, kept).total
    return upper, lower

