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
from shared import db, desk, notices, topics
from shared.events import BOOKING_REF, FlightStatus, event_id
from shared.http import GatedRoute, key_limits, key_of, require_covers, require_role, secure_page
from shared.outbox import Outbox
from shared.runtime import Database, service_config

SOURCE = "rebound/disruption"
router = APIRouter(tags=["ops console"], route_class=GatedRoute)
api = APIRouter(prefix="/ops/api", route_class=GatedRoute, dependencies=[Depends(require_role("ops-viewer"))])
Agent = Annotated[str, Depends(require_role("ops-agent"))]
Viewer = Annotated[str, Depends(require_role("ops-viewer"))]

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
# schemathesis) can call and wait for; the console tutorial and /ops/api/summary describe it.
@api.get("/stream", include_in_schema=False)
async def stream(request: Request, pool: Database, snapshot: Snapshotted, config: Configured,
                 viewer: Viewer) -> StreamingResponse:
    """Server-sent events: a `snapshot` (the KPIs and the timeline) at once and every two seconds,
    for at most REBOUND_CONSOLE_STREAM_SECONDS (the page then connects again). Read it with fetch,
    which can send the bearer key (EventSource cannot). A key holds at most a few streams at once,
    and the service a bounded number in all: each is a connection held open."""
    seats = _stream_seats(request, config)
    seats.take(viewer)
    ends = asyncio.get_running_loop().time() + config.settings.console_stream_seconds

    async def events() -> Any:
        try:
            while not await request.is_disconnected() and asyncio.get_running_loop().time() < ends:
                yield f"event: snapshot\ndata: {json.dumps(await snapshot.latest(pool), default=str)}\n\n"
                await asyncio.sleep(PUSH_EVERY_SECONDS)
        finally:
            seats.give_back(viewer)
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class StreamSeats:
    """The live streams open, by key: at most `per_key` for one key, `total` in all."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key, self.total = per_key, total
        self.open: dict[str, int] = {}

    def take(self, holder: str) -> None:
        if self.open.get(holder, 0) >= self.per_key:
            raise HTTPException(429, f"This key already holds {self.per_key} live streams: close one first")
        if sum(self.open.values()) >= self.total:
            raise HTTPException(503, "The console's live streams are all in use: the page will try again")
        self.open[holder] = self.open.get(holder, 0) + 1

    def give_back(self, holder: str) -> None:
        self.open[holder] -= 1
        if not self.open[holder]:
            del self.open[holder]


def _stream_seats(request: Request, config: Config) -> StreamSeats:
    state = request.app.state
    if not hasattr(state, "stream_seats"):
        state.stream_seats = StreamSeats(config.settings.console_streams_per_key, config.settings.console_streams_total)
    seats: StreamSeats = state.stream_seats
    return seats


def _for_the_key(request: Request, found: dict[str, Any]) -> dict[str, Any]:
    """What the key may see of it: a viewer (who acts on nobody) sees booking references and
    passenger ids masked (a reservation system's ids may carry the reference), an agent (who acts
    on them) whole."""
    key = key_of(request)
    if key is not None and key.does("ops-agent"):
        return found
    return _masked(found)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: masked_booking(v) if k in _MASKED and isinstance(v, str) else _masked(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


_MASKED = ("booking_ref", "passenger_id")


def masked_booking(identifier: str) -> str:
    """`ABC123` → `AB••••`: enough to tell two apart on a screen, not to look one up."""
    return identifier[:2] + "•" * max(len(identifier) - 2, 2)


async def _read_list(pool: asyncpg.Pool, request: Request, list_name: str, flight_id: str | None,
                     passengers: int) -> None:
    """The audit of who read a list of passengers, and which."""
    key = key_of(request)
    await pool.execute("INSERT INTO passenger_list_reads (reader, list, flight_id, passengers) VALUES ($1, $2, $3, $4)",
                       key.holder if key else "unknown", list_name, flight_id, passengers)


@api.get("/flights", operation_id="list_disrupted_flights")
async def disrupted_flights(
        request: Request, pool: Database, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
        q: Annotated[str, Query(max_length=60, pattern=r"^[^\x00-\x1f\x7f]*$",
                                description="A flight (B6 1001), booking reference or name")] = "",
        status: Annotated[FlightStatus | None, Query()] = None,
        airport: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
        carrier: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{2}$")] = None) -> dict[str, Any]:
    """Disrupted flights, latest change first, a page at a time, each with its recovery progress;
    those of the key's airlines and stations only, where it is limited."""
    return await console.flights(pool, console.FlightQuery(page, per_page, q, status, airport, carrier,
                                                           *key_limits(request)))


@api.get("/worklist", operation_id="list_worklist")
async def worklist(request: Request, pool: Database, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                   per_page: Annotated[int, Query(ge=1, le=200)] = 25) -> dict[str, Any]:
    """Passengers who need an agent, longest waiting first (booking references masked for a viewer's
    key). Each read is audited."""
    found = await console.worklist(pool, page, per_page, *key_limits(request))
    await _read_list(pool, request, "worklist", None, len(found["cases"]))
    return _for_the_key(request, found)


@api.get("/flights/{flight_id:path}", operation_id="get_flight")
async def flight_detail(request: Request, pool: Database,
                        flight_id: Annotated[str, PathParam(max_length=40, pattern=desk.IDENTIFIER)]
                        ) -> dict[str, object]:
    """One flight: its state, its history, its disrupted passengers (names and booking references
    only, the references masked for a viewer's key: contact details never leave notify), and what
    agents did about it. Each read of its passengers is audited."""
    flight = await pool.fetchrow("SELECT * FROM flights WHERE flight_id = $1", flight_id)
    if flight is None:
        raise HTTPException(404, f"No flight {flight_id!r} in the schedule")
    require_covers(request, flight["carrier"], flight["origin"], flight["destination"], flight["diverted_to"])
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
    await _read_list(pool, request, "flight", flight_id, len(passengers))
    return _for_the_key(request, {"flight": dict(flight), "history": [dict(h) for h in history],
                                  "passengers": [dict(p) for p in passengers], "actions": [dict(a) for a in actions]})


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


async def send_message(conn: asyncpg.Connection, outbox: Outbox, given: FlightMessage, action_id: str,
                       per_hour: int = 3) -> desk.Done:
    """The desk template, filled in, to every disrupted passenger of the flight: one notice per
    booking, under the action's own id, so a second message to the flight is a new one. At most
    `per_hour` messages to one flight an hour, whoever sends them: a flight's passengers are not
    to be flooded, by a mistake or by a key in the wrong hands."""
    await db.lock(conn, [f"desk-message:{given.flight_id}"])
    sent = await conn.fetchval("SELECT count(*) FROM desk_actions WHERE action = 'message' AND target = $1"
                               " AND acted_at > now() - interval '1 hour'", given.flight_id)
    if sent >= per_hour:
        raise desk.Refused(429, f"This flight's passengers had {sent} messages from the desk in the last hour, "
                                f"the most there may be: wait, or say it in the next one")
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
async def case_handled(request: Request,
                       disruption_id: Annotated[str, PathParam(max_length=80, pattern=desk.IDENTIFIER)],
                       booking_ref: Annotated[str, PathParam(pattern=BOOKING_REF)], given: desk.Why,
                       agent: Agent, action_id: desk.ActionId, pool: Database,
                       config: Configured) -> dict[str, Any]:
    """Take a booking's passengers off the worklist: an agent has dealt with them."""
    for f in await pool.fetch("SELECT DISTINCT f.carrier, f.origin, f.destination, f.diverted_to FROM recovery r"
                              " JOIN flights f USING (flight_id) WHERE r.disruption_id = $1 AND r.booking_ref = $2",
                              disruption_id, booking_ref):
        require_covers(request, f["carrier"], f["origin"], f["destination"], f["diverted_to"])
    return await desk.act(pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="handled",
                          target=booking_ref, why=given.why, asked={"disruption_id": disruption_id},
                          perform=lambda conn, _: mark_handled(conn, disruption_id, booking_ref, agent))


@api.post("/messages", operation_id="message_flight")
async def message_flight(request: Request, given: FlightMessage, agent: Agent, action_id: desk.ActionId,
                         pool: Database, config: Configured) -> dict[str, Any]:
    """Send one of the desk's messages, as previewed, to a flight's disrupted passengers."""
    if f := await pool.fetchrow("SELECT carrier, origin, destination, diverted_to FROM flights WHERE flight_id = $1",
                                given.flight_id):
        require_covers(request, f["carrier"], f["origin"], f["destination"], f["diverted_to"])
    return await desk.act(pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="message",
                          target=given.flight_id, why=given.why, asked=given.model_dump(exclude={"why"}),
                          perform=lambda conn, outbox: send_message(
                              conn, outbox, given, action_id, config.settings.desk_messages_per_flight_per_hour))


# --- the relay to the services that own seats, money and words ------------------------------------

_RELAYED = ("authorization", "idempotency-key", "content-type", "accept")
_DESK_PATH = re.compile(r"[A-Za-z0-9._~:/-]{1,300}")


def desk_client(request: Request) -> httpx.AsyncClient:
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
        answer = await desk_client(request).request(request.method, f"{base}/ops/api/{path}",
                                                     params=request.query_params, content=await request.body(),
                                                     headers=headers)
    except httpx.HTTPError as exc:
        raise HTTPException(502, f"The {service} service did not answer: try again shortly") from exc
    return Response(answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type", "application/json"))


router.include_router(api)
