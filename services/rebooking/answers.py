"""The passenger's answer to a rebooking: what the signed link offers (the new itinerary, other
options with live seats, "refund me instead"), the answer recorded once (repeating it changes
nothing) and audited, and no answer by the deadline settled as policy says. The page and the API
that carry it are in services/rebooking/choice.py."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg
from pydantic import BaseModel, Field

from services.rebooking import assignment, domain, inventory, links, metrics, store
from services.rebooking.config import Config
from services.rebooking.decisions import SOURCE, leg_of
from shared import notices, topics
from shared.events import Cabin, Leg, PassengerDisruption, RebookingDecided, event_id
from shared.outbox import Outbox
from shared.runtime import Service

log = logging.getLogger(__name__)


class ChoiceProblem(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class Option(BaseModel):
    option_id: str = Field(description="Pass back as `option` to change to this itinerary")
    flights: list[Leg]
    cabin: str
    seats_free: int


class Offer(BaseModel):
    booking_ref: str
    status: Literal["awaiting_answer", "accepted", "changed", "refund_requested", "no_response"]
    reason: str
    respond_by: datetime
    current: list[Leg]
    cabin: str | None
    options: list[Option] = Field(description="Other itineraries with seats for the whole party now")


class Answer(BaseModel):
    answer: Literal["accept", "change", "refund"]
    option: str | None = Field(default=None, description="For `change`: an `option_id` from the offer")


_ANSWERS = {"accept": "accepted", "change": "changed", "refund": "refund_requested"}


def _option_id(it: domain.Itinerary, cabin: str) -> str:
    return f"{cabin}:{'+'.join(it.flight_ids)}"


async def _load(conn: asyncpg.Connection, config: Config, token: str,
                *, lock: bool) -> tuple[store.Rebooking, domain.Trip, str]:
    """The rebooking a link is for, its trip, and the passenger the link was sent to."""
    try:
        link = links.verify(config.choice_keys, token, datetime.now(UTC))
    except links.InvalidLink as exc:
        raise ChoiceProblem(403, "Link not valid", str(exc)) from exc
    except links.ExpiredLink as exc:
        raise ChoiceProblem(410, "Link expired", f"{exc}. Contact us if you need help.") from exc
    row = await store.rebooking(conn, link.disruption_id, link.booking_ref, lock=lock)
    trip = row.replaced_trip if row else None
    if row is None or trip is None or link.passenger >= len(row.passenger_ids):
        raise ChoiceProblem(404, "No such rebooking", "We have no rebooking for this link.")
    held = {leg.flight_id for leg in await inventory.booked_legs(conn, row.booking_ref, row.passenger_ids)}
    if not set(row.to_flights) <= held:
        raise ChoiceProblem(409, "Replaced by a newer offer",
                            "Your booking has changed since this message: please use the latest one.")
    return row, trip, row.passenger_ids[link.passenger]


async def options_for(conn: asyncpg.Connection, config: Config, row: store.Rebooking,
                   trip: domain.Trip) -> dict[str, tuple[domain.Itinerary, Cabin, int]]:
    rules = config.rules
    flights = await inventory.flights_for(conn, [trip], rules)
    current = tuple(row.to_flights)
    found: dict[str, tuple[domain.Itinerary, Cabin, int]] = {}
    for it in domain.candidate_itineraries(trip, flights, rules):
        free = it.seats_free(trip.cabin)
        if it.flight_ids != current and free >= trip.party:
            found[_option_id(it, trip.cabin)] = (it, trip.cabin, free)
        if len(found) >= config.settings.other_options_shown:
            break
    return found


async def _current(conn: asyncpg.Connection, row: store.Rebooking) -> list[Leg]:
    return await store.legs(conn, row.to_flights)


async def view(pool: asyncpg.Pool, config: Config, token: str) -> Offer:
    async with pool.acquire() as conn:
        return await view_in(conn, config, token)


async def view_in(conn: asyncpg.Connection, config: Config, token: str) -> Offer:
    """What the link offers now: the new itinerary, other options with seats, the answer so far."""
    row, trip, _ = await _load(conn, config, token, lock=False)
    options = await options_for(conn, config, row, trip) if row.answer is None else {}
    return Offer(booking_ref=row.booking_ref, status=row.answer or "awaiting_answer",
                 reason=row.reason, respond_by=row.respond_by, current=await _current(conn, row),
                 cabin=row.cabin,
                 options=[Option(option_id=k, flights=[leg_of(f) for f in it.flights], cabin=cabin,
                                 seats_free=free) for k, (it, cabin, free) in options.items()])


async def answer(pool: asyncpg.Pool, config: Config, token: str, given: Answer, client: str) -> Offer:
    async with pool.acquire() as conn, conn.transaction():
        return await answer_in(conn, config, token, given, client)


async def answer_in(conn: asyncpg.Connection, config: Config, token: str, given: Answer, client: str) -> Offer:
    """The passenger's answer, recorded once in the caller's transaction with what it tells others."""
    outcome = _ANSWERS[given.answer]
    row, trip, passenger_id = await _load(conn, config, token, lock=True)
    client = f"{passenger_id}'s link, {client}"  # whose link answered for the party
    if row.answer is not None:
        repeated = row.answer == outcome and (
            given.answer != "change" or (given.option or "").split(":", 1)[-1] == "+".join(row.to_flights))
        if not repeated:
            raise ChoiceProblem(409, "Already answered",
                                f"This rebooking was already answered: {row.answer.replace('_', ' ')}.")
        return await _after(conn, row)
    d = row.disruption
    outbox = Outbox(config.settings, source=SOURCE)
    segments, cabin, delay, refund_due, refund = await _current(conn, row), row.cabin, \
        row.arrival_delay_minutes, False, None
    if given.answer == "change":
        segments, cabin, delay = await _change(conn, config, row, trip, given.option)
    elif given.answer == "refund":
        refund = await give_up(conn, config, row, trip)
        segments, refund_due = [], True
    await _record(conn, outbox, row, d, outcome, segments, cabin, delay, refund_due, client, refund)
    await outbox.flush(conn)
    answered = await store.rebooking(conn, row.disruption_id, row.booking_ref)
    assert answered
    return await _after(conn, answered)


async def _change(conn: asyncpg.Connection, config: Config, row: store.Rebooking, trip: domain.Trip,
                  option: str | None) -> tuple[list[Leg], str, int]:
    """The party moved to the option they picked, if its seats are still there: its flights, cabin
    and arrival delay."""
    ref, passengers = row.booking_ref, row.passenger_ids
    options = await options_for(conn, config, row, trip)
    if option not in options:
        raise ChoiceProblem(409, "Option not available",
                            "That option is no longer available: please pick one from the page.")
    it, cabin, _ = options[option]
    if not await inventory.take_seats(conn, ref, passengers, it.flight_ids, cabin):
        raise ChoiceProblem(409, "Seats just taken",
                            "Someone has just taken the last seats on that flight: please pick another.")
    await inventory.release_seats(conn, ref, passengers, set(row.to_flights) - set(it.flight_ids))
    return [leg_of(f) for f in it.flights], cabin, round((it.arrival - trip.planned_arrival) / timedelta(minutes=1))


async def give_up(conn: asyncpg.Connection, config: Config, row: store.Rebooking,
                   trip: domain.Trip) -> domain.Refund:
    """A refund instead of the new flights: every seat the refund covers goes back on sale — the
    new flights, and the booking's other coupons of that journey and of the journeys after it
    (the return)."""
    refund = (await assignment.refunds_for(conn, [(row.booking_ref, trip, row.to_flights)],
                                           config.rules))[row.booking_ref]
    await inventory.release_seats(conn, row.booking_ref, row.passenger_ids,
                                  [*row.to_flights, *refund.released])
    return refund


async def _after(conn: asyncpg.Connection, row: store.Rebooking) -> Offer:
    return Offer(booking_ref=row.booking_ref, status=row.answer, reason=row.reason,
                 respond_by=row.respond_by, current=await _current(conn, row), cabin=row.cabin,
                 options=[])


async def _record(conn: asyncpg.Connection, outbox: Outbox, row: store.Rebooking, d: PassengerDisruption,
                  outcome: str, segments: list[Leg], cabin: str | None, delay: int | None,
                  refund_due: bool, client: str, refund: domain.Refund | None = None) -> None:
    ref = row.booking_ref
    await store.record_answer(conn, row, outcome, [s.flight_id for s in segments], delay, client)
    metrics.CHOICES.labels(outcome).inc()
    outbox.publish(topics.REBOOKINGS, RebookingDecided(
        disruption_id=d.disruption_id, booking_ref=ref, passenger_ids=row.passenger_ids,
        outcome=outcome, reason=row.reason, segments=segments, cabin=cabin,
        downgraded=row.downgraded, arrival_delay_minutes=delay, refund_due=refund_due,
        whole_trip=bool(refund and refund.whole_trip),
        released_flight_ids=sorted(set(row.to_flights) - {s.flight_id for s in segments}
                                   | set(refund.released if refund else ())),
    ), key=ref, id=event_id(d.disruption_id, ref, "answer"), traceparent=row.traceparent)
    if outcome == "changed":
        changed = notices.Changed(
            new_flight=" and ".join(f"{s.carrier} {s.number}" for s in segments), new_origin=segments[0].origin,
            new_destination=segments[-1].destination, new_departure=segments[0].scheduled_departure,
            new_arrival=segments[-1].scheduled_arrival)
        outbox.publish(topics.NOTICES, notices.request(
            changed, disruption_id=d.disruption_id, booking_ref=ref, passenger_ids=row.passenger_ids,
            stage="choice", occurred_at=datetime.now(UTC), about=d.flight.flight_id,
        ), key=ref, id=event_id(d.disruption_id, ref, "answer_notice"), traceparent=row.traceparent)


async def settle_silences(conn: asyncpg.Connection, config: Config, limit: int = 500) -> int:
    """Rebookings nobody answered by their deadline, settled as the policy says, once each (in the
    caller's transaction); how many."""
    rows = await store.unanswered_past_deadline(conn, limit)
    outbox = Outbox(config.settings, source=SOURCE)
    refund = config.settings.silence_counts_as == "refund_requested"
    for row in rows:
        # Every rebooking offered since the choice page began keeps its trip; one without it cannot
        # be refunded (the refund covers the trip's seats), so its passengers keep their flights.
        trip = row.replaced_trip
        given_up = await give_up(conn, config, row, trip) if refund and trip else None
        await _record(conn, outbox, row, row.disruption, "no_response",
                      [] if given_up else await _current(conn, row), row.cabin, row.arrival_delay_minutes,
                      given_up is not None, "deadline", given_up)
    await outbox.flush(conn)
    return len(rows)


async def watch_deadlines(service: Service[Config]) -> None:
    """Settle each silence as its deadline passes (the service's background work)."""
    while True:
        async with service.database.acquire() as conn, conn.transaction():
            settled = await settle_silences(conn, service.config)
        await asyncio.sleep(1 if settled else 15)
