"""The ops desk's actions on a disrupted booking, done where the seats are: see the case and the
itineraries with seats for the whole party now; rebook onto the one the agent picks (the seats
taken atomically, as the assignment rounds and the passenger's own choice take them); or refund
the journey instead. Each is done once per idempotency key, audited, and told as a revised
rebooking decision, so the passenger hears of it exactly as of any other."""

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from services.rebooking import answers, assignment, domain, inventory, store
from services.rebooking.config import Config
from services.rebooking.decisions import SOURCE, Decisions, Told, decided, leg_of
from shared import desk, notices
from shared.events import BOOKING_REF, BookingRef, Leg, PassengerDisruption, PassengerId
from shared.http import GatedRoute, require_covers, require_role
from shared.outbox import Outbox
from shared.runtime import Database, service_config

# What the passenger reads of an agent's decision (the agent's own reason stays in the audit).
AGENT_REBOOKED = "One of our agents chose this flight for you."
AGENT_REFUNDED = "One of our agents has arranged a refund of this journey's fare instead of a new flight."


class Case(BaseModel):
    disruption_id: str
    booking_ref: BookingRef
    outcome: str
    answer: str | None
    reason: str
    passenger_ids: list[PassengerId]
    current: list[Leg] = Field(description="The flights the booking holds for this trip now")
    options: list[answers.Option] = Field(description="Itineraries with seats for the whole party now")


class Rebook(desk.Why):
    option: str = Field(max_length=400, description="An `option_id` from the case's options")


async def _load(conn: asyncpg.Connection, config: Config, disruption_id: str, booking_ref: str, *, lock: bool = True
                ) -> tuple[store.Rebooking, PassengerDisruption, domain.Trip, list[str]]:
    """The booking's decision (locked, to act on it); the trip it replaces; and the flights it
    holds for that trip now. Refused if there is nothing left to move: no decision yet, or seats
    already given up."""
    row = await store.rebooking(conn, disruption_id, booking_ref, lock=lock)
    if row is None:
        raise desk.Refused(404, f"No rebooking decision for {booking_ref} in this disruption yet: it is "
                                "still being worked on, or there is no such case")
    d = row.disruption
    trip = row.replaced_trip or (await assignment.trips_for(conn, [d], config.rules)).get(booking_ref)
    held = list(row.to_flights) or list(trip.replaced_flight_ids if trip else ())
    booked = {leg.flight_id for leg in await inventory.booked_legs(conn, booking_ref, row.passenger_ids)}
    if trip is None or not held or not set(held) <= booked:
        raise desk.Refused(409, f"{booking_ref} no longer holds seats for this trip (refunded, or moved since): "
                                "there is nothing to rebook or refund here")
    return row, d, trip, held


async def _revisions(conn: asyncpg.Connection, booking_ref: str) -> int:
    """The revision of the next decision an agent makes for this booking (the first is 1: the
    automatic decision was 0)."""
    return await store.desk_actions_on(conn, booking_ref) + 1


async def view(conn: asyncpg.Connection, config: Config, disruption_id: str, booking_ref: str) -> Case:
    row, _, trip, held = await _load(conn, config, disruption_id, booking_ref, lock=False)
    options = await answers.options_for(conn, config, row, trip)
    current = await store.legs(conn, held)
    return Case(disruption_id=disruption_id, booking_ref=booking_ref, outcome=row.outcome, answer=row.answer,
                reason=row.reason, passenger_ids=row.passenger_ids, current=current,
                options=[answers.Option(option_id=k, flights=[leg_of(f) for f in it.flights], cabin=cabin,
                                        seats_free=free) for k, (it, cabin, free) in options.items()])


async def rebook(conn: asyncpg.Connection, outbox: Outbox, config: Config, disruption_id: str, booking_ref: str,
                 option: str, action_id: str) -> desk.Done:
    """The party moved onto the option the agent picked, if its seats are still there; the flights
    it held for the trip go back on sale; the passengers are told, with their link to answer."""
    row, d, trip, held = await _load(conn, config, disruption_id, booking_ref)
    options = await answers.options_for(conn, config, row, trip)
    if option not in options:
        raise desk.Refused(409, "That option is no longer available: pick one from the case's options")
    it, cabin, _ = options[option]
    if not await inventory.take_seats(conn, booking_ref, row.passenger_ids, it.flight_ids, cabin):
        raise desk.Refused(409, "Those seats have just been taken: pick another option")
    released = sorted(set(held) - set(it.flight_ids))
    await inventory.release_seats(conn, booking_ref, row.passenger_ids, released)
    decisions = Decisions(revision=action_id, told_revision=await _revisions(conn, booking_ref))
    placement = domain.Placement(trip, trip.passenger_ids, it, cabin, AGENT_REBOOKED)
    assignment.rebooked(decisions, outbox, config, d, trip, [placement], released)
    await decisions.flush(conn)
    return desk.Done({"booking_ref": booking_ref, "outcome": "rebooked", "flights": list(it.flight_ids),
                      "cabin": cabin}, booking_ref=booking_ref, disruption_id=disruption_id,
                     passenger_ids=list(row.passenger_ids),
                     detail={"flights": list(it.flight_ids), "cabin": cabin, "released": released})


async def refund(conn: asyncpg.Connection, outbox: Outbox, config: Config, disruption_id: str, booking_ref: str,
                 action_id: str) -> desk.Done:
    """The journey given up and its fare owed, as when a passenger asks for a refund: every seat
    the refund covers goes back on sale, and the passengers are told."""
    row, d, trip, _ = await _load(conn, config, disruption_id, booking_ref)
    given_up = await answers.give_up(conn, config, row, trip)
    notice = notices.KINDS[domain.refund_notice(given_up)].model_validate(
        decided(d, AGENT_REFUNDED) | {"whole_trip": given_up.whole_trip, "via": trip.origin, "to": trip.destination})
    released = sorted({*row.to_flights, *given_up.released})
    decisions = Decisions(revision=action_id, told_revision=await _revisions(conn, booking_ref))
    decisions.add(outbox, d, "refund_requested", AGENT_REFUNDED, refund_due=True, whole_trip=given_up.whole_trip,
                  released=released, told=[Told(list(row.passenger_ids), notice)])
    await decisions.flush(conn)
    return desk.Done({"booking_ref": booking_ref, "outcome": "refund_requested", "released": released},
                     booking_ref=booking_ref, disruption_id=disruption_id, passenger_ids=list(row.passenger_ids),
                     detail={"released": released, "whole_trip": given_up.whole_trip})


router = APIRouter(prefix="/ops/api/cases/{disruption_id}/{booking_ref}", tags=["ops desk"],
                   route_class=GatedRoute)
DisruptionId = Annotated[str, PathParam(max_length=80, pattern=desk.IDENTIFIER)]
BookingInPath = Annotated[str, PathParam(pattern=BOOKING_REF)]
Agent = Annotated[str, Depends(require_role("ops-agent"))]
Configured = Annotated[Config, Depends(service_config)]


async def _within_key(request: Request, pool: asyncpg.Pool, disruption_id: str, booking_ref: str) -> None:
    """403 unless the key covers the flight the case was disrupted on (after the key's own gate)."""
    leg = await store.disrupted_flight(pool, disruption_id, booking_ref)
    if leg is not None:
        require_covers(request, leg.carrier, leg.origin, leg.destination)


@router.get("", response_model=Case, operation_id="get_case", dependencies=[Depends(require_role("ops-viewer"))])
async def get_case(request: Request, disruption_id: DisruptionId, booking_ref: BookingInPath, pool: Database,
                   config: Configured) -> Case:
    """A disrupted booking's decision so far, and the itineraries an agent could move it to."""
    await _within_key(request, pool, disruption_id, booking_ref)
    async with pool.acquire() as conn:
        return await view(conn, config, disruption_id, booking_ref)


@router.post("/rebook", operation_id="rebook_case", responses={409: {"description": "Option or seats gone"}})
async def rebook_case(request: Request, disruption_id: DisruptionId, booking_ref: BookingInPath, given: Rebook,
                      agent: Agent, action_id: desk.ActionId, pool: Database, config: Configured) -> dict[str, object]:
    """Rebook the whole party onto the option picked, now."""
    await _within_key(request, pool, disruption_id, booking_ref)
    return await desk.act(
        pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="rebook", target=booking_ref,
        why=given.why, asked={"disruption_id": disruption_id, "option": given.option},
        perform=lambda conn, outbox: rebook(conn, outbox, config, disruption_id, booking_ref, given.option, action_id))


@router.post("/refund", operation_id="refund_case", responses={409: {"description": "Nothing left to refund"}})
async def refund_case(request: Request, disruption_id: DisruptionId, booking_ref: BookingInPath, given: desk.Why,
                      agent: Agent, action_id: desk.ActionId, pool: Database, config: Configured) -> dict[str, object]:
    """Give up the journey and refund its fare, instead of a new flight."""
    await _within_key(request, pool, disruption_id, booking_ref)
    return await desk.act(
        pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="refund", target=booking_ref,
        why=given.why, asked={"disruption_id": disruption_id},
        perform=lambda conn, outbox: refund(conn, outbox, config, disruption_id, booking_ref, action_id))
