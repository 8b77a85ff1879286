"""The passenger's choice: a signed link to their new itinerary, other options with live seats,
and "refund me instead". A page for people and a JSON API beside it; one answer per rebooking
(repeating it changes nothing), each audited; no answer by the deadline counts as policy says."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import asyncpg
import jinja2
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from services.rebooking import domain, handlers, inventory, links, metrics
from services.rebooking.config import RebookingSettings
from shared import topics
from shared.events import Leg, NoticeRequested, PassengerDisruption, RebookingDecided, event_id
from shared.http import GatedRoute, gate, problem, secure_page
from shared.outbox import Outbox
from shared.runtime import Service

log = logging.getLogger(__name__)
_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                            autoescape=True)


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


async def _load(conn: asyncpg.Connection, settings: RebookingSettings, token: str,
                *, lock: bool) -> tuple[asyncpg.Record, domain.Trip, str]:
    """The rebooking a link is for, its trip, and the passenger the link was sent to."""
    try:
        offer = links.verify(settings.choice_keys, token, datetime.now(UTC))
    except links.InvalidLink as exc:
        raise ChoiceProblem(403, "Link not valid", str(exc)) from exc
    except links.ExpiredLink as exc:
        raise ChoiceProblem(410, "Link expired", f"{exc}. Contact us if you need help.") from exc
    row = await conn.fetchrow(
        "SELECT * FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2"
        + (" FOR UPDATE" if lock else ""), offer.disruption_id, offer.booking_ref)
    if row is None or row["trip"] is None or offer.passenger >= len(row["passenger_ids"]):
        raise ChoiceProblem(404, "No such rebooking", "We have no rebooking for this link.")
    held = {leg.flight_id for leg in await inventory.booked_legs(conn, row["booking_ref"], row["passenger_ids"])}
    if not set(row["to_flights"]) <= held:
        raise ChoiceProblem(409, "Replaced by a newer offer",
                            "Your booking has changed since this message: please use the latest one.")
    return row, domain.trip_from_json(row["trip"]), row["passenger_ids"][offer.passenger]


async def _options(conn: asyncpg.Connection, settings: RebookingSettings, row: asyncpg.Record,
                   trip: domain.Trip) -> dict[str, tuple[domain.Itinerary, str, int]]:
    rules = settings.rules
    flights = await inventory.flights_around(
        conn, rules.city_of(trip.origin), rules.city_of(trip.destination), trip.earliest_departure,
        trip.earliest_departure + rules.horizon + rules.max_connection)
    current = tuple(row["to_flights"])
    found = {}
    for it in domain.candidate_itineraries(trip, flights, rules):
        free = it.seats_free(trip.cabin)
        if it.flight_ids != current and free >= trip.party:
            found[_option_id(it, trip.cabin)] = (it, trip.cabin, free)
        if len(found) >= settings.other_options_shown:
            break
    return found


async def _current(conn: asyncpg.Connection, row: asyncpg.Record) -> list[Leg]:
    rows = await conn.fetch(
        "SELECT flight_id, carrier, number, origin, destination, scheduled_departure, scheduled_arrival"
        " FROM flights WHERE flight_id = ANY($1::text[]) ORDER BY scheduled_departure", row["to_flights"])
    return [Leg(**dict(r)) for r in rows]


async def view(pool: asyncpg.Pool, settings: RebookingSettings, token: str) -> Offer:
    async with pool.acquire() as conn:
        row, trip, _ = await _load(conn, settings, token, lock=False)
        options = await _options(conn, settings, row, trip) if row["answer"] is None else {}
        return Offer(booking_ref=row["booking_ref"], status=row["answer"] or "awaiting_answer",
                     reason=row["reason"], respond_by=row["respond_by"], current=await _current(conn, row),
                     cabin=row["cabin"],
                     options=[Option(option_id=k, flights=[handlers.leg_of(f) for f in it.flights], cabin=cabin,
                                     seats_free=free) for k, (it, cabin, free) in options.items()])


async def answer(pool: asyncpg.Pool, settings: RebookingSettings, token: str, given: Answer,
                 client: str) -> Offer:
    outcome = _ANSWERS[given.answer]
    async with pool.acquire() as conn, conn.transaction():
        row, trip, passenger_id = await _load(conn, settings, token, lock=True)
        client = f"{passenger_id}'s link, {client}"  # whose link answered for the party
        if row["answer"] is not None:
            repeated = row["answer"] == outcome and (
                given.answer != "change" or (given.option or "").split(":", 1)[-1] == "+".join(row["to_flights"]))
            if not repeated:
                raise ChoiceProblem(409, "Already answered",
                                    f"This rebooking was already answered: {row['answer'].replace('_', ' ')}.")
            return await _after(conn, row)
        d = PassengerDisruption.model_validate(row["decided"])
        ref, passengers = row["booking_ref"], row["passenger_ids"]
        outbox = Outbox(settings, source=handlers.SOURCE)
        segments, cabin, delay, refund_due, refund = await _current(conn, row), row["cabin"], \
            row["arrival_delay_minutes"], False, None
        if given.answer == "change":
            options = await _options(conn, settings, row, trip)
            if given.option not in options:
                raise ChoiceProblem(409, "Option not available",
                                    "That option is no longer available: please pick one from the page.")
            it, cabin, _ = options[given.option]
            if not await inventory.take_seats(conn, ref, passengers, it.flight_ids, cabin):
                raise ChoiceProblem(409, "Seats just taken",
                                    "Someone has just taken the last seats on that flight: please pick another.")
            await inventory.release_seats(conn, ref, passengers, set(row["to_flights"]) - set(it.flight_ids))
            segments = [handlers.leg_of(f) for f in it.flights]
            delay = round((it.arrival - trip.planned_arrival) / timedelta(minutes=1))
        elif given.answer == "refund":
            refund = await _give_up(conn, settings, row, trip)
            segments, refund_due = [], True
        await _record(conn, outbox, row, d, outcome, segments, cabin, delay, refund_due, client, refund)
        await outbox.flush(conn)
        return await _after(conn, await conn.fetchrow(
            "SELECT * FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2",
            row["disruption_id"], ref))


async def _give_up(conn: asyncpg.Connection, settings: RebookingSettings, row: asyncpg.Record,
                   trip: domain.Trip) -> domain.Refund:
    """A refund instead of the new flights: every seat the refund covers goes back on sale — the
    new flights, and the booking's other coupons of that journey and of the journeys after it
    (the return)."""
    refund = (await handlers.refunds_for(conn, [(row["booking_ref"], trip, row["to_flights"])],
                                         settings.rules))[row["booking_ref"]]
    await inventory.release_seats(conn, row["booking_ref"], row["passenger_ids"],
                                  [*row["to_flights"], *refund.released])
    return refund


async def _after(conn: asyncpg.Connection, row: asyncpg.Record) -> Offer:
    return Offer(booking_ref=row["booking_ref"], status=row["answer"], reason=row["reason"],
                 respond_by=row["respond_by"], current=await _current(conn, row), cabin=row["cabin"],
                 options=[])


async def _record(conn: asyncpg.Connection, outbox: Outbox, row: asyncpg.Record, d: PassengerDisruption,
                  outcome: str, segments: list[Leg], cabin: str | None, delay: int | None,
                  refund_due: bool, client: str, refund: domain.Refund | None = None) -> None:
    ref = row["booking_ref"]
    await conn.execute(
        """UPDATE rebookings SET answer = $3, answered_at = now(), to_flights = $4,
                                 arrival_delay_minutes = $5
           WHERE disruption_id = $1 AND booking_ref = $2""",
        row["disruption_id"], ref, outcome, [s.flight_id for s in segments], delay)
    await conn.execute(
        "INSERT INTO choices (disruption_id, booking_ref, answer, to_flights, client) VALUES ($1,$2,$3,$4,$5)",
        row["disruption_id"], ref, outcome, [s.flight_id for s in segments], client[:200])
    metrics.CHOICES.labels(outcome).inc()
    outbox.publish(topics.REBOOKINGS, RebookingDecided(
        disruption_id=d.disruption_id, booking_ref=ref, passenger_ids=row["passenger_ids"],
        outcome=outcome, reason=row["reason"], segments=segments, cabin=cabin,
        downgraded=row["downgraded"], arrival_delay_minutes=delay, refund_due=refund_due,
        whole_trip=bool(refund and refund.whole_trip),
        released_flight_ids=sorted(set(row["to_flights"]) - {s.flight_id for s in segments}
                                   | set(refund.released if refund else ())),
    ), key=ref, id=event_id(d.disruption_id, ref, "answer"), traceparent=row["traceparent"])
    if outcome == "changed":
        outbox.publish(topics.NOTICES, NoticeRequested(
            disruption_id=d.disruption_id, booking_ref=ref, passenger_ids=row["passenger_ids"],
            stage="choice", template="changed",
            facts={"new_flight": " and ".join(f"{s.carrier} {s.number}" for s in segments),
                   "new_origin": segments[0].origin, "new_destination": segments[-1].destination,
                   "new_departure": segments[0].scheduled_departure.isoformat(),
                   "new_arrival": segments[-1].scheduled_arrival.isoformat()},
            occurred_at=datetime.now(UTC), about=d.flight.flight_id,
        ), key=ref, id=event_id(d.disruption_id, ref, "answer_notice"), traceparent=row["traceparent"])


async def settle_silences(conn: asyncpg.Connection, settings: RebookingSettings, limit: int = 500) -> int:
    """Rebookings nobody answered by their deadline, settled as the policy says, once each (in the
    caller's transaction); how many."""
    rows = await conn.fetch(
        """SELECT * FROM rebookings WHERE outcome = 'rebooked' AND answer IS NULL AND respond_by < now()
           ORDER BY respond_by LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)
    outbox = Outbox(settings, source=handlers.SOURCE)
    refund = settings.silence_counts_as == "refund_requested"
    for row in rows:
        d = PassengerDisruption.model_validate(row["decided"])
        given_up = await _give_up(conn, settings, row, domain.trip_from_json(row["trip"])) if refund else None
        await _record(conn, outbox, row, d, "no_response", [] if refund else await _current(conn, row),
                      row["cabin"], row["arrival_delay_minutes"], refund, "deadline", given_up)
    await outbox.flush(conn)
    return len(rows)


async def count_silences(service: Service) -> None:
    settings: RebookingSettings = service.settings  # type: ignore[assignment]
    while True:
        async with service.pool.acquire() as conn, conn.transaction():
            settled = await settle_silences(conn, settings)
        await asyncio.sleep(1 if settled else 15)


# --- HTTP ---------------------------------------------------------------------------------------

router = APIRouter(route_class=GatedRoute)


def _context(request: Request) -> tuple[asyncpg.Pool, RebookingSettings]:
    service = request.app.state.service
    return service.pool, service.settings


async def check_link(request: Request) -> None:
    """Only links we made get their answer read (an expired one still gets its page, saying so)."""
    try:
        links.verify(request.app.state.service.settings.choice_keys, request.path_params["token"],
                     datetime.fromtimestamp(0, UTC))
    except links.InvalidLink as exc:
        raise HTTPException(403, f"Link not valid: {exc}") from exc


@gate(check_link)
async def our_link(request: Request) -> None:
    ...


@router.get("/v1/choices/{token}", response_model=Offer, tags=["choice"], operation_id="get_offer",
            responses={403: {"description": "Not our link"}, 410: {"description": "Expired"}})
async def get_offer(token: str, request: Request) -> Offer | JSONResponse:
    """The new itinerary, other options with seats now, and the answer so far."""
    try:
        return await view(*_context(request), token)
    except ChoiceProblem as p:
        return problem(p.status, p.title, p.detail)


@router.post("/v1/choices/{token}", response_model=Offer, tags=["choice"], operation_id="answer_offer",
             dependencies=[Depends(our_link)],
             responses={403: {"description": "Not our link"}, 409: {"description": "Conflicts"},
                        410: {"description": "Expired"}})
async def answer_offer(token: str, given: Answer, request: Request) -> Offer | JSONResponse:
    """Accept the new itinerary, change to another option, or take a refund instead."""
    if given.answer == "change" and not given.option:
        return problem(422, "Invalid request", "`option` is required to change")
    try:
        return await answer(*_context(request), token, given, f"api {request.headers.get('user-agent', '')}")
    except ChoiceProblem as p:
        return problem(p.status, p.title, p.detail)


@router.get("/choice/{token}", response_class=HTMLResponse, include_in_schema=False)
async def choice_page(token: str, request: Request) -> HTMLResponse:
    try:
        return _page(await view(*_context(request), token), token)
    except ChoiceProblem as p:
        return _page(None, token, problem=p)


@router.post("/choice/{token}", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(our_link)])
async def choice_form(token: str, request: Request,
                      answer_: Annotated[Literal["accept", "change", "refund"], Form(alias="answer")],
                      option: Annotated[str | None, Form()] = None) -> HTMLResponse:
    try:
        offer = await answer(*_context(request), token, Answer(answer=answer_, option=option),
                             f"page {request.headers.get('user-agent', '')}")
        return _page(offer, token)
    except ChoiceProblem as p:
        try:
            return _page(await view(*_context(request), token), token, problem=p)
        except ChoiceProblem:
            return _page(None, token, problem=p)


def _page(offer: Offer | None, token: str, problem: ChoiceProblem | None = None) -> HTMLResponse:
    html = _pages.get_template("choice.html").render(offer=offer, token=token, problem=problem)
    return secure_page(html, status_code=problem.status if problem and offer is None else 200)
