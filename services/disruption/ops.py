"""The ops board: disrupted flights and how their passengers' recovery is going, live.

The page itself holds no data; its API needs an ops token (`Authorization: Bearer …`)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from shared.http import GatedRoute, require_role, secure_page
from shared.runtime import Database

router = APIRouter(tags=["ops board"], route_class=GatedRoute)
api = APIRouter(prefix="/ops/api", route_class=GatedRoute, dependencies=[Depends(require_role("ops-viewer"))])

_PAGE = (Path(__file__).parent / "static" / "ops.html").read_text(encoding="utf-8")

# One row per disrupted passenger and flight, whatever number of events touched them.
_PER_PASSENGER = """
    SELECT flight_id, passenger_id, booking_ref,
           bool_or(notified) AS notified, bool_or(unreachable) AND NOT bool_or(notified) AS unreachable,
           bool_or(outcome IN ('rebooked', 'accepted', 'changed', 'no_response')) AS rebooked,
           bool_or(refunded) AS refunded, bool_or(outcome = 'needs_agent') AS agent_asked,
           bool_or(outcome IN ('no_alternative', 'returned', 'refund_requested')) AS no_alternative,
           bool_or(outcome = 'kept') AS kept,
           (array_agg(outcome_reason ORDER BY outcome_reason IS NULL))[1] AS outcome_reason
    FROM recovery GROUP BY flight_id, passenger_id, booking_ref"""
_NEEDS_AGENT = "(p.unreachable OR p.agent_asked OR (p.no_alternative AND NOT p.refunded))"


@router.get("/ops", include_in_schema=False)
async def board() -> HTMLResponse:
    return secure_page(_PAGE)


@api.get("/flights", operation_id="list_disrupted_flights")
async def disrupted_flights(pool: Database) -> list[dict[str, object]]:
    """Disrupted flights, latest change first, with each one's recovery progress."""
    rows = await pool.fetch(f"""
        WITH p AS ({_PER_PASSENGER})
        SELECT f.flight_id, f.carrier || ' ' || f.number AS flight, f.origin, f.destination,
               f.scheduled_departure, f.estimated_departure, f.status, f.cause, f.diverted_to,
               f.updated_at,
               count(p.passenger_id) AS affected,
               count(*) FILTER (WHERE p.notified) AS notified,
               count(*) FILTER (WHERE p.rebooked) AS rebooked,
               count(*) FILTER (WHERE p.refunded) AS refunded,
               count(*) FILTER (WHERE {_NEEDS_AGENT}) AS needs_agent
        FROM flights f LEFT JOIN p ON p.flight_id = f.flight_id
        WHERE f.status IN ('delayed', 'cancelled', 'diverted') OR p.flight_id IS NOT NULL
        GROUP BY f.flight_id
        ORDER BY f.updated_at DESC, f.flight_id
        LIMIT 300""")
    return [dict(r) for r in rows]


@api.get("/flights/{flight_id:path}", operation_id="get_flight")
async def flight_detail(pool: Database, flight_id: Annotated[str, PathParam(max_length=40)]) -> dict[str, object]:
    """One flight: its state, its history, and its disrupted passengers (names and booking
    references only: contact details never leave notify)."""
    flight = await pool.fetchrow("SELECT * FROM flights WHERE flight_id = $1", flight_id)
    if flight is None:
        raise HTTPException(404, f"No flight {flight_id!r} in the schedule")
    history = await pool.fetch(
        "SELECT type, source, occurred_at, recorded_at, effect FROM flight_events"
        " WHERE flight_id = $1 ORDER BY occurred_at, recorded_at", flight_id)
    passengers = await pool.fetch(f"""
        WITH p AS ({_PER_PASSENGER})
        SELECT p.booking_ref, p.passenger_id,
               coalesce(nullif(i.passenger_names[array_position(i.passenger_ids, p.passenger_id)], ''),
                        p.passenger_id) AS name,
               p.notified, p.rebooked, p.refunded, {_NEEDS_AGENT} AS needs_agent,
               CASE WHEN p.refunded THEN 'refunded' WHEN p.rebooked THEN 'rebooked'
                    WHEN {_NEEDS_AGENT} THEN 'needs an agent' WHEN p.kept THEN 'keeps the flight'
                    ELSE 'in progress' END AS progress,
               CASE WHEN p.unreachable THEN 'no notice could be delivered'
                    ELSE p.outcome_reason END AS reason
        FROM p LEFT JOIN itineraries i ON i.booking_ref = p.booking_ref
        WHERE p.flight_id = $1 ORDER BY p.booking_ref, name""", flight_id)
    return {"flight": dict(flight), "history": [dict(h) for h in history],
            "passengers": [dict(p) for p in passengers]}


router.include_router(api)
