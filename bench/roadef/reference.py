"""The exact reference: the same passenger problem as one integer program, solved by HiGHS (through
OR-Tools) to proven optimality or a stated gap. It is here, not in the service: it measures how far
the service's solver is from the best that can be done on the same alternatives.

Variables: how many passengers of each broken itinerary take each alternative in each cabin. The
alternatives are the earliest `OPTIONS` itineraries of up to four legs per trip, found by the
service's search without its limit per flight (the service keeps 150, at most four per first or
last flight); the costs are the service's own
(`domain.carried_cost`, `domain.not_carried_cost` under the ROADEF profile); no cabin of a flight
over its free seats."""

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import cast

from ortools.linear_solver import pywraplp

from bench.roadef.recovery import Problem
from services.rebooking import domain
from shared.events import CABINS, Cabin

OPTIONS = 1000


@dataclass
class Reference:
    assignment: domain.Assignment
    objective: float  # in the profile's units (cents)
    bound: float  # the best objective any solution can have, proven
    status: str
    seconds: float

    @property
    def gap(self) -> float:
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


def solve(p: Problem, *, time_limit: float = 300.0) -> Reference:
    started = time.perf_counter()
    solver = pywraplp.Solver.CreateSolver("HIGHS")
    solver.SetTimeLimit(int(time_limit * 1000))
    solver.SuppressOutput()
    trips = {b.trip.booking_ref: b.trip for b in p.broken}
    uses: dict[tuple[str, str], list] = defaultdict(list)
    seats: dict[tuple[str, str], int] = {}
    chosen: list[tuple[domain.Trip, domain.Itinerary, str, pywraplp.Variable]] = []
    objective = solver.Objective()
    constant = 0
    for ref, trip in trips.items():
        unplaced = domain.not_carried_cost(trip, p.rules)
        constant += unplaced * trip.party
        mine = []
        for itinerary in p.options.get(ref, ()):
            for cabin in CABINS:
                free = itinerary.seats_free(cabin)
                if free < 1:
                    continue
                x = solver.IntVar(0, min(trip.party, free), "")
                mine.append(x)
                objective.SetCoefficient(x, domain.carried_cost(trip, itinerary, cabin, p.rules) - unplaced)
                chosen.append((trip, itinerary, cabin, x))
                for f in itinerary.flights:
                    uses[(f.flight_id, cabin)].append(x)
                    seats[(f.flight_id, cabin)] = f.seats_free.get(cabin, 0)
        if mine:
            solver.Add(solver.Sum(mine) <= trip.party)
    for key, xs in uses.items():
        solver.Add(solver.Sum(xs) <= seats[key])
    objective.SetMinimization()
    status = solver.Solve()
    names = {pywraplp.Solver.OPTIMAL: "optimal", pywraplp.Solver.FEASIBLE: "feasible"}
    if status not in names:
        raise RuntimeError(f"the reference MIP found no solution (status {status})")
    placements: dict[str, list[domain.Placement]] = defaultdict(list)
    taken: dict[str, int] = defaultdict(int)
    for trip, itinerary, seated, x in chosen:
        n = round(x.solution_value())
        if n:
            ids = trip.passenger_ids[taken[trip.booking_ref]:taken[trip.booking_ref] + n]
            taken[trip.booking_ref] += n
            placements[trip.booking_ref].append(domain.Placement(trip, ids, itinerary, cast(Cabin, seated), ""))
    seconds = time.perf_counter() - started
    value = objective.Value() + constant
    assignment = domain.Assignment(dict(placements), {}, names[status], seconds, round(value))
    return Reference(assignment, value, objective.BestBound() + constant, names[status], seconds)
