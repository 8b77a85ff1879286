"""The ops console: the storm at a glance (KPIs and a timeline pushed live), the disrupted flights a
page at a time with search and filters, and the worklist of passengers who need an agent, with
the agent's actions on them.

The page itself holds no data; its API needs an ops key (`Authorization: Bearer …`). A viewer's
key reads everything and does nothing; an agent's key acts too. Actions on seats, refunds and
vouchers are done by the services that own them (rebooking, compensation), reached through this
service's relay so the page talks to one origin; each of them checks the agent's key itself."""

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import Field, ValidationError
from starlette.exceptions import HTTPException

from services.disruption import console, store
from services.disruption.config import Config
from services.disruption.console import NEEDS_AGENT, ON_FLIGHT
from shared import desk, notices, topics
from shared.events import BOOKING_REF, FlightStatus, event_id
from shared.http import GatedRoute, require_role, secure_page
from shared.outbox import Outbox
from shared.runtime import Database, service_config

SOURCE = "rebound/disruption"
router = APIRouter(tags=["ops console"], route_class=GatedRoute)
api = APIRouter(prefix="/ops/api", route_class=GatedRoute, dependencies=[Depends(require_role("ops-viewer"))])
Agent = Annotated[str, Depends(require_role("ops-agent"))]

_PAGE = (Path(__file__).parent / "static" / "ops.html").read_text(encoding="utf-8")
# How often the live stream pushes the KPIs and the timeline.
PUSH_EVERY_SECONDS = 2.0


def _snapshot(request: Request) -> console.Snapshot:
    state = request.app.state
    if not hasattr(state, "console_snapshot"):
        state.console_snapshot = console.Snapshot()
    snapshot: console.Snapshot = state.console_snapshot
    return snapshot


Configured = Annotated[Config, Depends(service_config)]
Snapshotted = Annotated[console.Snapshot, Depends(_snapshot)]


@router.get("/ops", include_in_schema=False)
async def board() -> HTMLResponse:
    return secure_page(_PAGE)


@api.get("/summary", operation_id="get_summary")
async def summary(pool: Database, snapshot: Snapshotted) -> dict[str, Any]:
    """The KPIs and the timeline, as `/ops/api/stream` pushes them (server-sent events, event
    `snapshot`, every two seconds)."""
    return await snapshot.latest(pool)


# Not in the OpenAPI document: a stream that never ends is no operation a generated client (or
# schemathesis) can call and wait for; the README and /ops/api/summary describe it.
@api.get("/stream", include_in_schema=False)
async def stream(request: Request, pool: Database, snapshot: Snapshotted) -> StreamingResponse:
    """Server-sent events: a `snapshot` (the KPIs and the timeline) at once and every two seconds.
    Read it with fetch, which can send the bearer key (EventSource cannot)."""

    async def events() -> Any:
        while not await request.is_disconnected():
            yield f"event: snapshot\ndata: {json.dumps(await snapshot.latest(pool), default=str)}\n\n"
            await asyncio.sleep(PUSH_EVERY_SECONDS)
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@api.get("/flights", operation_id="list_disrupted_flights")
async def disrupted_flights(
        pool: Database, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
        q: Annotated[str, Query(max_length=60, pattern=r"^[^\x00-\x1f\x7f]*$",
                                description="A flight (B6 1001), booking reference or name")] = "",
        status: Annotated[FlightStatus | None, Query()] = None,
        airport: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
        carrier: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{2}$")] = None) -> dict[str, Any]:
    """Disrupted flights, latest change first, a page at a time, each with its recovery progress."""
    return await console.flights(pool, console.FlightQuery(page, per_page, q, status, airport, carrier))


@api.get("/worklist", operation_id="list_worklist")
async def worklist(pool: Database, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                   per_page: Annotated[int, Query(ge=1, le=200)] = 25) -> dict[str, Any]:
    """Passengers who need an agent, longest waiting first."""
    return await console.worklist(pool, page, per_page)


@api.get("/flights/{flight_id:path}", operation_id="get_flight")
async def flight_detail(pool: Database, flight_id: Annotated[str, PathParam(max_length=40, pattern=desk.IDENTIFIER)]
                        ) -> dict[str, object]:
    """One flight: its state, its history, its disrupted passengers (names and booking references
    only: contact details never leave notify), and what agents did about it."""
    flight = await pool.fetchrow("SELECT * FROM flights WHERE flight_id = $1", flight_id)
    if flight is None:
        raise HTTPException(404, f"No flight {flight_id!r} in the schedule")
    history = await pool.fetch(
        "SELECT type, source, occurred_at, recorded_at, effect FROM flight_events"
        " WHERE flight_id = $1 ORDER BY occurred_at, recorded_at", flight_id)
    passengers = await pool.fetch(f"""
        WITH p AS ({ON_FLIGHT})
        SELECT p.booking_ref, p.passenger_id,
               coalesce(nullif(i.passenger_names[array_position(i.passenger_ids, p.passenger_id)], ''),
                        p.passenger_id) AS name,
               p.notified, p.rebooked, p.refunded, {NEEDS_AGENT} AS needs_agent,
               CASE WHEN p.refunded THEN 'refunded' WHEN p.rebooked THEN 'rebooked'
                    WHEN {NEEDS_AGENT} THEN 'needs an agent' WHEN p.handled THEN 'handled by an agent'
                    WHEN p.kept THEN 'keeps the flight' ELSE 'in progress' END AS progress,
               CASE WHEN p.unreachable THEN 'no notice could be delivered'
                    ELSE p.outcome_reason END AS reason
        FROM p LEFT JOIN itineraries i ON i.booking_ref = p.booking_ref
        ORDER BY p.booking_ref, name""", flight_id)
    actions = await pool.fetch(
        """SELECT agent, action, why, acted_at, booking_ref, detail FROM desk_log
           WHERE flight_id = $1 OR booking_ref IN (SELECT booking_ref FROM recovery WHERE flight_id = $1)
           ORDER BY acted_at""", flight_id)
    return {"flight": dict(flight), "history": [dict(h) for h in history],
            "passengers": [dict(p) for p in passengers], "actions": [dict(a) for a in actions]}


# --- the agent's own actions here: a case handled, a message to a flight ---------------------------


class FlightMessage(desk.Why):
    flight_id: str = Field(max_length=40, pattern=desk.IDENTIFIER)
    topic: notices.DeskTopic
    place: str | None = Field(default=None, pattern=notices.PLACE)
    at: datetime | None = None


async def mark_handled(conn: asyncpg.Connection, disruption_id: str, booking_ref: str, agent: str) -> desk.Done:
    rows = await conn.fetch(
        """UPDATE recovery SET handled_at = coalesce(handled_at, now()), handled_by = coalesce(handled_by, $3)
           WHERE disruption_id = $1 AND booking_ref = $2 RETURNING passenger_id, flight_id""",
        disruption_id, booking_ref, agent)
    if not rows:
        raise desk.Refused(404, f"No disrupted passengers of {booking_ref} in this disruption")
    return desk.Done({"booking_ref": booking_ref, "handled": True}, booking_ref=booking_ref,
                     disruption_id=disruption_id, flight_id=rows[0]["flight_id"],
                     passenger_ids=sorted({r["passenger_id"] for r in rows}))


async def send_message(conn: asyncpg.Connection, outbox: Outbox, given: FlightMessage, action_id: str) -> desk.Done:
    """The desk template, filled in, to every disrupted passenger of the flight: one notice per
    booking, under the action's own id, so a second message to the flight is a new one."""
    flight = await conn.fetchrow("SELECT * FROM flights WHERE flight_id = $1", given.flight_id)
    if flight is None:
        raise desk.Refused(404, f"No flight {given.flight_id!r} in the schedule")
    try:
        notice = notices.DeskMessage(**notices.flight_facts(store.leg_of(flight)), topic=given.topic,
                                     place=given.place, at=given.at)
    except ValidationError as exc:
        raise desk.Refused(422, "; ".join(str(e["msg"]) for e in exc.errors())) from exc
    bookings = await conn.fetch(
        "SELECT booking_ref, array_agg(DISTINCT passenger_id ORDER BY passenger_id) AS passenger_ids"
        " FROM recovery WHERE flight_id = $1 GROUP BY booking_ref ORDER BY booking_ref", given.flight_id)
    if not bookings:
        raise desk.Refused(409, "This flight has no disrupted passengers to write to")
    now = datetime.now(UTC)
    for b in bookings:
        outbox.publish(topics.NOTICES, notices.request(
            notice, disruption_id=f"desk/{action_id}", booking_ref=b["booking_ref"],
            passenger_ids=list(b["passenger_ids"]), stage="desk", occurred_at=now,
        ), key=b["booking_ref"], id=event_id("desk", action_id, b["booking_ref"]))
    told = sum(len(b["passenger_ids"]) for b in bookings)
    return desk.Done({"flight_id": given.flight_id, "bookings": len(bookings), "passengers": told},
                     flight_id=given.flight_id,
                     detail={"topic": given.topic, "place": given.place, "at": given.at, "passengers": told})


@api.post("/cases/{disruption_id}/{booking_ref}/handled", operation_id="mark_case_handled")
async def case_handled(disruption_id: Annotated[str, PathParam(max_length=80, pattern=desk.IDENTIFIER)],
                       booking_ref: Annotated[str, PathParam(pattern=BOOKING_REF)], given: desk.Why,
                       agent: Agent, action_id: desk.ActionId, pool: Database,
                       config: Configured) -> dict[str, Any]:
    """Take a booking's passengers off the worklist: an agent has dealt with them."""
    return await desk.act(pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="handled",
                          target=booking_ref, why=given.why, asked={"disruption_id": disruption_id},
                          perform=lambda conn, _: mark_handled(conn, disruption_id, booking_ref, agent))


@api.post("/messages", operation_id="message_flight")
async def message_flight(given: FlightMessage, agent: Agent, action_id: desk.ActionId, pool: Database,
                         config: Configured) -> dict[str, Any]:
    """Send one of the desk's messages, as previewed, to a flight's disrupted passengers."""
    return await desk.act(pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="message",
                          target=given.flight_id, why=given.why, asked=given.model_dump(exclude={"why"}),
                          perform=lambda conn, outbox: send_message(conn, outbox, given, action_id))


# --- the relay to the services that own seats, money and words ------------------------------------

_RELAYED = ("authorization", "idempotency-key", "content-type", "accept")
_DESK_PATH = re.compile(r"[A-Za-z0-9._~:/-]{1,300}")


def _desk_client(request: Request) -> httpx.AsyncClient:
    """One client for every relayed request, its connections kept alive: a new client for each
    cost the event loop some 27 ms (its TLS context), time the ops board and ingest waited."""
    client: httpx.AsyncClient | None = getattr(request.app.state, "desk_client", None)
    if client is None:
        client = request.app.state.desk_client = httpx.AsyncClient(timeout=30)
    return client


@api.api_route("/desk/{service}/{path:path}", methods=["GET", "POST"], operation_id="relay_to_owner",
               include_in_schema=False)
async def relay(service: Literal["rebooking", "compensation", "notify"], path: str, request: Request,
                config: Configured) -> Response:
    """The same request, to the owner's `/ops/api/…`, with the caller's own key: the owner decides
    what that key may do there."""
    # Desk paths are ids and words: anything else (a control character, which the HTTP client
    # would refuse to send, a dot-dot) names no desk path.
    if not _DESK_PATH.fullmatch(path) or ".." in path or "//" in path:
        raise HTTPException(404, "No such desk path")
    base = {"rebooking": config.settings.rebooking_url, "compensation": config.settings.compensation_url,
            "notify": config.settings.notify_url}[service]
    headers = {k: v for k, v in request.headers.items() if k.lower() in _RELAYED}
    try:
        answer = await _desk_client(request).request(request.method, f"{base}/ops/api/{path}",
                                                     params=request.query_params, content=await request.body(),
                                                     headers=headers)
    except httpx.HTTPError as exc:
        raise HTTPException(502, f"The {service} service did not answer: try again shortly") from exc
    return Response(answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type", "application/json"))


router.include_router(api)
