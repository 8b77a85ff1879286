"""A what-if plan's rebookings: what an assignment round would decide for the bookings a plan would
hurt, on the seats as they are now, with the flights the plan cancels or diverts taken away and
those it delays at their new times. The same trips, candidates, solver and refund rules as a
round (`assignment`), read in one read-only snapshot: nothing is taken, written or told."""

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends

from services.rebooking import assignment, domain, inventory
from services.rebooking.config import Config
from services.rebooking.decisions import legs_of
from services.rebooking.handlers import KEEP_THE_FLIGHT
from shared import low_priority
from shared.events import PassengerDisruption, RebookingDecided
from shared.http import GatedRoute, require_role
from shared.runtime import Database, service_config
from shared.what_if import PlannedFlight, RebookingAsked, RebookingPreview

router = APIRouter(prefix="/ops/api/what-if", tags=["what-if"], route_class=GatedRoute,
                   dependencies=[Depends(require_role("planner"))])


def as_planned(flights: Sequence[domain.Flight], planned: Sequence[PlannedFlight]) -> list[domain.Flight]:
    """The flights an alternative may use once the plan is carried out: none it cancels or
    diverts; those it delays or retimes at their new times."""
    by_id = {p.flight_id: p for p in planned}
    kept = []
    for f in flights:
        p = by_id.get(f.flight_id)
        if p is None:
            kept.append(f)
        elif p.status in ("delayed", "retimed") and p.departure and p.arrival:
            kept.append(dataclasses.replace(f, departure=p.departure, arrival=p.arrival))
    return kept


def seats_left(flights: Sequence[domain.Flight], placements: dict[str, list[domain.Placement]]
               ) -> list[domain.Flight]:
    """The flights with the seats `placements` take off their free seats."""
    taken = Counter[tuple[str, str]]()
    for ps in placements.values():
        for p in ps:
            for f in p.itinerary.flights:
                taken[(f.flight_id, p.cabin)] += len(p.passenger_ids)
    return [dataclasses.replace(f, seats_free={c: n - taken[(f.flight_id, c)] for c, n in f.seats_free.items()})
            for f in flights]


def _passengers(bookings: dict[str, asyncpg.Record], disruptions: Sequence[PassengerDisruption]
                ) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    """Passengers hit by cabin, by tier, by special service request, and unaccompanied minors (a
    booking the reservation side never described: economy, no tier)."""
    cabins, tiers, services = Counter[str](), Counter[str](), Counter[str]()
    minors = 0
    for d in disruptions:
        b = bookings.get(d.booking_ref)
        n = len(d.passenger_ids)
        cabins[b["cabin"] if b else "economy"] += n
        tiers[b["tier"] if b else "none"] += n
        for s in (b["special_services"] if b else ()):
            services[s] += n
        minors += n if b and "UMNR" in b["special_services"] else 0
    return cabins, tiers, services, minors


async def preview(conn: asyncpg.Connection, config: Config, asked: RebookingAsked) -> RebookingPreview:
    """What a round would decide for `asked.disruptions`, in the caller's (read-only) transaction."""
    rules = config.rules
    moving, later = _waiting(asked.disruptions)
    trips = await assignment.trips_for(conn, list(moving.values()), rules)
    first = {d.booking_ref: d for d in reversed(asked.disruptions)}
    bookings = {r["booking_ref"]: r for r in await conn.fetch(
        "SELECT booking_ref, cabin, tier, special_services FROM bookings WHERE booking_ref = ANY($1::text[])",
        list(first))}
    cabins, tiers, services, minors = _passengers(bookings, list(first.values()))
    flights = as_planned(await inventory.flights_for(conn, trips.values(), rules), asked.planned) if trips else []
    result = await low_priority.run(_assign, trips, flights, rules, asked.budget_seconds)
    placed = result.placements
    refunds = await assignment.refunds_for(conn, [(ref, t, ()) for ref, t in trips.items() if ref not in placed],
                                           rules)
    home = {ref: domain.homeward(trips[ref], r.home) for ref, r in refunds.items()
            if r.stranded and not trips[ref].unaccompanied_minor}
    flown_home = (await low_priority.run(_assign, home, seats_left(flights, placed), rules,
                                           asked.budget_seconds / 2)).placements if home else {}
    decided = [_decided(d, "kept", KEEP_THE_FLIGHT[d.kind], arrival_delay_minutes=max(d.delay_minutes, 0))
               for d in asked.disruptions if d.kind in KEEP_THE_FLIGHT]
    decided += [_decided(d, "kept", "settled with the booking's first disruption") for d in later]
    decided += [_outcome(d, trips.get(ref), placed.get(ref), flown_home.get(ref), refunds.get(ref), result, rules)
                for ref, d in moving.items()]
    return RebookingPreview(decided=decided, cabins=dict(cabins), tiers=dict(tiers), special_services=dict(services),
                            unaccompanied_minors=minors, method=result.method, solve_seconds=result.solve_seconds,
                            cost=result.objective, cost_profile=rules.profile.name)


def _waiting(disruptions: Sequence[PassengerDisruption]
             ) -> tuple[dict[str, PassengerDisruption], list[PassengerDisruption]]:
    """As the consumer and the rounds take them: a flight that still goes is kept at once (not
    here); the rest wait for a round, a booking's second disruption for the round after its first."""
    moving: dict[str, PassengerDisruption] = {}
    later: list[PassengerDisruption] = []
    for d in disruptions:
        if d.kind in KEEP_THE_FLIGHT:
            continue
        if d.booking_ref in moving:
            later.append(d)
        else:
            moving[d.booking_ref] = d
    return moving, later


def _outcome(d: PassengerDisruption, trip: domain.Trip | None, placed: list[domain.Placement] | None,
             home: list[domain.Placement] | None, refund: domain.Refund | None, result: domain.Assignment,
             rules: domain.Rules) -> RebookingDecided:
    """The round's decision for one booking, as `assignment._place` makes it (no seat race: a
    preview takes no seats)."""
    if trip is None:
        return _decided(d, "kept", "the booking had already moved off this flight")
    if placed:
        return _decided(d, "rebooked", " ".join(dict.fromkeys(p.reason for p in placed)), segments=legs_of(placed),
                        cabin=placed[0].cabin, downgraded=any(p.downgraded for p in placed),
                        arrival_delay_minutes=max(p.arrival_delay_minutes for p in placed))
    assert refund is not None
    if home:
        return _decided(d, "returned", domain.why_flown_home(trip, refund.home), segments=legs_of(home),
                        refund_due=True, whole_trip=refund.whole_trip)
    if domain.without_seat(trip, refund) == "needs_agent":
        return _decided(d, "needs_agent", domain.why_an_agent(trip, rules))
    return _decided(d, "no_alternative", domain.why_no_alternative(refund, result.unplaced[d.booking_ref]),
                    refund_due=True, whole_trip=refund.whole_trip)


def _assign(trips: dict[str, domain.Trip], flights: list[domain.Flight], rules: domain.Rules,
            budget: float) -> domain.Assignment:
    # Not `assignment.solve`: a preview is not a round, and its solves stay out of the round's
    # metrics; and its budget is a limit, so that a preview answers while it is being weighed.
    return domain.assign(list(trips.values()), assignment.candidates(trips, flights, rules), rules,
                         time_budget=budget, strict=True)


def _decided(d: PassengerDisruption, outcome: str, reason: str, **more: object) -> RebookingDecided:
    return RebookingDecided.model_validate({"disruption_id": d.disruption_id, "booking_ref": d.booking_ref,
                                            "passenger_ids": d.passenger_ids, "outcome": outcome, "reason": reason,
                                            **more})


@router.post("/rebooking", response_model=RebookingPreview, operation_id="preview_rebooking")
async def preview_rebooking(asked: RebookingAsked, pool: Database,
                            config: Annotated[Config, Depends(service_config)]) -> RebookingPreview:
    """What the assignment would decide for these disruptions now, on a snapshot of the seats:
    nothing is taken or told. For the disruption service's what-if preview."""
    async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        return await preview(conn, config, asked)
