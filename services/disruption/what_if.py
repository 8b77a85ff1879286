"""What if we cancel? A plan of hypothetical flight events previewed on the live state, changing
nothing: whom it hits (this service's manifests and rules, `planning`), what rebooking would do
with them, what they would be owed and what their first notices would be (each asked of the
service that owns it, which answers from a read-only snapshot of its own tables). Plans can be
saved, named, shared by link, compared, and applied by an agent: their events then go onto
`flight-events` like any other, and the real outcome is set beside the preview.

A preview answers within `REBOUND_WHAT_IF_SECONDS` with what it has, and names what is missing."""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import httpx
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.disruption import planning, store, times
from services.disruption.config import Config
from services.disruption.console import PER_PASSENGER
from services.disruption.ops import SOURCE, desk_client
from shared import desk, low_priority, topics
from shared.events import FlightEventData, Leg
from shared.events import event_id as derived_id
from shared.http import GatedRoute, require_covers, require_role
from shared.outbox import Outbox
from shared.runtime import Database, running, service_config
from shared.what_if import (
    MAX_FLIGHTS,
    CloseAirport,
    MoneyAsked,
    MoneyPreview,
    NoticesAsked,
    NoticesPreview,
    Plan,
    RebookingAsked,
    RebookingPreview,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/what-if", tags=["what-if"], route_class=GatedRoute)
Planner = Annotated[str, Depends(require_role("planner"))]
Agent = Annotated[str, Depends(require_role("ops-agent"))]
Configured = Annotated[Config, Depends(service_config)]
PlanId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{8,32}$")]
# The plan's events' source: the airline's own desk.
PLAN_SOURCE = "rebound/what-if"


# --- the plan against the schedule ---------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """The flights a plan changes, as they stand (rows of `flights`, and as legs), and the flights
    each of its changes closes an airport to."""

    legs: dict[str, Leg]
    closed: list[list[str]]
    rows: list[asyncpg.Record]


async def load(conn: asyncpg.Connection, plan: Plan) -> Loaded:
    """The plan's flights, refused whole (nothing previewed) if one is not in the schedule or has
    already left, or if they come to more than `MAX_FLIGHTS`."""
    closed = [await store.flights_at(conn, c.airport, c.start, c.end) if isinstance(c, CloseAirport) else []
              for c in plan.changes]
    wanted = list(dict.fromkeys([*plan.flights_named(), *(f for found in closed for f in found)]))
    if len(wanted) > MAX_FLIGHTS:
        raise HTTPException(422, f"The plan comes to {len(wanted)} flights; a plan may change at most {MAX_FLIGHTS}: "
                                 "split it")
    rows = await store.flights_by_id(conn, wanted)
    found = {r["flight_id"]: r for r in rows}
    if unknown := [f for f in wanted if f not in found]:
        raise HTTPException(422, f"Not in the schedule: {', '.join(unknown[:10])}"
                                 f"{f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''}")
    if gone := [f for f in wanted if found[f]["status"] in planning.GONE]:
        raise HTTPException(409, f"Already {found[gone[0]]['status']}: {', '.join(gone[:10])}; a plan can only "
                                 "change flights that have not left")
    return Loaded(legs={f: store.leg_of(r) for f, r in found.items()}, closed=closed, rows=rows)


def require_covers_all(request: Request, loaded: Loaded) -> None:
    """403 unless the key may plan every one of the flights (a key limited to some airlines and
    stations plans only theirs)."""
    for r in loaded.rows:
        require_covers(request, r["carrier"], r["origin"], r["destination"], r["diverted_to"])


def plan_events(plan: Plan, loaded: Loaded, at: datetime, tag: str) -> list[tuple[str, FlightEventData]]:
    """The flight events the plan is, in its order, each with its flight; refused if one's times
    contradict each other."""
    events = [e for c, closed in zip(plan.changes, loaded.closed, strict=True)
              for e in planning.events_for(c, loaded.legs, closed, at, tag)]
    if wrong := next((why for _, e in events if (why := times.contradiction(e))), None):
        raise HTTPException(422, f"The plan's times do not hold together: {wrong}")
    return events


# --- the preview --------------------------------------------------------------------------------


class Owners:
    """The services asked for their part of a preview, with the caller's own key: each decides what
    that key may see there."""

    def __init__(self, request: Request, config: Config) -> None:
        self.client = desk_client(request)
        self.headers = {"authorization": request.headers.get("authorization", "")}
        s = config.settings
        self.urls = {"rebooking": f"{s.rebooking_url}/ops/api/what-if/rebooking",
                     "money": f"{s.compensation_url}/ops/api/what-if/money",
                     "notices": f"{s.notify_url}/ops/api/what-if/notices"}

    async def ask(self, part: str, body: BaseModel, answer: type[BaseModel], seconds: float) -> Any:
        # Megabytes of JSON each way for a large plan: written and read off the event loop.
        reply = await self.client.post(self.urls[part], content=await low_priority.run(body.model_dump_json),
                                       headers=self.headers | {"content-type": "application/json"},
                                       timeout=max(0.1, seconds))
        reply.raise_for_status()
        return await low_priority.run(answer.model_validate_json, reply.content)


async def preview(pool: asyncpg.Pool, request: Request, config: Config, plan: Plan) -> dict[str, Any]:
    """The plan's preview; a part its owner did not give in time (or at all) is named in `missing`.
    A preview is never ahead of a passenger's first notice: while the first-notice path has work
    waiting it stands back (`shared.backlog`, at most `REBOUND_WHAT_IF_SECONDS`), and its heavy
    parts run at the lowest priority, off this service's event loop, which applies the flight
    events (`shared.low_priority`; the owners' parts too)."""
    waited = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(config.settings.what_if_seconds):
            await running(request.app).backlog.stand_back("what-if preview")
    started = time.monotonic()
    deadline = started + config.settings.what_if_seconds
    at = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        loaded = await load(conn, plan)
        require_covers_all(request, loaded)
        events = plan_events(plan, loaded, at, "preview")
        seen = await store.seen_on(conn, loaded.rows)
    played = await low_priority.run(planning.play, events, seen, at=at, source=PLAN_SOURCE,
                                     minimum_connecting=config.connecting.minimum_minutes,
                                     same_city=config.connecting.same_city)
    took: dict[str, float] = {"hit": round(time.monotonic() - started, 3)}
    figures, missing = await owners_parts(Owners(request, config).ask, played, deadline, config, took)
    return {"plan": plan.model_dump(mode="json"), "computed_at": at.isoformat(),
            "waited_for_first_notices_s": round(started - waited, 3),
            "seconds": round(time.monotonic() - started, 3), "seconds_by_part": took,
            "hit": planning.hit_figures(played), **figures, "missing": missing,
            "flights": [{"flight_id": f, "effect": effect} for f, effect in played.effects]}


Ask = Callable[[str, BaseModel, type[BaseModel], float], Awaitable[Any]]


async def owners_parts(ask: Ask, played: planning.Played, deadline: float, config: Config,
                       took: dict[str, float]) -> tuple[dict[str, Any], list[str]]:
    """Rebooking's and notify's parts at once, then money (it follows from the rebookings), each
    within what is left of the deadline; a part not given, named in the second list with why."""
    missing: list[str] = []
    figures: dict[str, Any] = {"rebooking": None, "money": None, "notices": None}

    async def part(name: str, asked: BaseModel, answer: type[BaseModel]) -> Any:
        begun = time.monotonic()
        try:
            return await ask(name, asked, answer, deadline - time.monotonic())
        except (httpx.HTTPError, ValueError) as exc:
            missing.append(_why_missing(name, exc, config.settings.what_if_seconds))
            return None
        finally:
            took[name] = round(time.monotonic() - begun, 3)
    if not played.hurt:
        return figures, missing
    # The solver's time is a limit: it answers with its best by then, the rest placed greedily.
    budget = max(0.1, min(config.settings.what_if_solve_seconds, deadline - time.monotonic() - 1.0))
    rebooked, notices = await asyncio.gather(
        part("rebooking", RebookingAsked(disruptions=played.hurt, planned=list(played.planned.values()),
                                         budget_seconds=budget), RebookingPreview),
        part("notices", NoticesAsked(bookings=[(d.booking_ref, d.passenger_ids) for d in played.hurt]),
             NoticesPreview))
    if rebooked is not None:
        figures["rebooking"] = planning.rebooking_figures(played.hurt, rebooked)
        money = await part("money", MoneyAsked(disruptions=played.hurt, decided=rebooked.decided), MoneyPreview)
        figures["money"] = planning.money_figures(money) if money else None
    else:
        missing.append("money: it follows from the rebookings, which are missing")
    figures["notices"] = planning.notice_figures(notices) if notices else None
    return figures, missing


def _why_missing(part: str, exc: Exception, limit: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"{part}: not computed within the preview's {limit:g} s"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{part}: its service answered {exc.response.status_code}"
    return f"{part}: its service could not be reached ({type(exc).__name__})"


@router.post("", operation_id="preview_plan")
async def preview_plan(request: Request, plan: Plan, pool: Database, config: Configured,
                       planner: Planner) -> dict[str, Any]:
    """What a plan of flight events would do, on the live state, changing nothing: passengers hit
    (by cabin, tier, special service requests, unaccompanied minors, connections broken), how
    rebooking would re-accommodate them and how late, what they would be owed (by currency, regime
    and kind, and what the cause exempts), and the first notices (by channel and language, and how
    long they would take). A part not computed in time is named in `missing`."""
    return await preview(pool, request, config, plan)


# --- saved plans --------------------------------------------------------------------------------


@router.post("/plans", status_code=201, operation_id="save_plan")
async def save_plan(request: Request, plan: Plan, pool: Database, config: Configured,
                    planner: Planner) -> dict[str, Any]:
    """Preview a plan and keep it, under its name, for others to open (`/ops#plan=<plan_id>`),
    compare and apply."""
    shown = await preview(pool, request, config, plan)
    plan_id = secrets.token_urlsafe(12)
    await pool.execute("INSERT INTO what_if_plans (plan_id, name, plan, preview, saved_by) VALUES ($1, $2, $3, $4, $5)",
                       plan_id, plan.name or f"Plan {plan_id[:6]}", plan.model_dump(mode="json"), shown, planner)
    return {"plan_id": plan_id, "name": plan.name or f"Plan {plan_id[:6]}", "preview": shown}


@router.get("/plans", operation_id="list_plans")
async def list_plans(pool: Database, planner: Planner) -> dict[str, Any]:
    """The plans saved, latest first, with their headline figures."""
    rows = await pool.fetch(
        """SELECT plan_id, name, saved_by, saved_at, applied_at, applied_by,
                  preview -> 'hit' ->> 'passengers' AS passengers, preview -> 'hit' ->> 'flights' AS flights
           FROM what_if_plans ORDER BY saved_at DESC LIMIT 100""")
    return {"plans": [dict(r) for r in rows]}


@router.get("/plans/{plan_id}", operation_id="get_plan")
async def get_plan(plan_id: PlanId, pool: Database, planner: Planner) -> dict[str, Any]:
    """A saved plan, its preview, and once applied, the real outcome so far beside it."""
    row = await pool.fetchrow("SELECT * FROM what_if_plans WHERE plan_id = $1", plan_id)
    if row is None:
        raise HTTPException(404, f"No saved plan {plan_id!r}")
    found = dict(row)
    found["outcome"] = await outcome(pool, row) if row["applied_at"] else None
    return found


# The passengers an applied plan's flights disrupted since it was applied.
SINCE_APPLIED = PER_PASSENGER.format(where="WHERE flight_id = ANY($1::text[]) AND accepted_at >= $2")


async def outcome(pool: asyncpg.Pool | asyncpg.Connection, row: asyncpg.Record) -> dict[str, Any]:
    """What applying the plan has done so far, in the preview's terms: the passengers its flights'
    events disrupted since it was applied (a broken connection counts on the flight that broke it),
    what became of them, and the money granted them."""
    people = await pool.fetchrow(
        f"""WITH p AS ({SINCE_APPLIED})
            SELECT count(*) AS passengers, count(*) FILTER (WHERE p.notified) AS told,
                   count(*) FILTER (WHERE p.rebooked) AS rebooked,
                   count(*) FILTER (WHERE p.no_alternative OR p.refunded) AS refunded,
                   count(*) FILTER (WHERE p.agent_asked) AS needs_agent,
                   count(*) FILTER (WHERE p.kept) AS kept, count(*) FILTER (WHERE p.decided) AS decided
            FROM p""", row["flight_ids"], row["applied_at"])
    money = await pool.fetch(
        """SELECT m.currency, m.kind, sum(m.amount) AS amount FROM money m
           WHERE m.state = 'owed' AND m.at >= $2 AND EXISTS (
               SELECT 1 FROM recovery r WHERE r.booking_ref = m.booking_ref AND r.passenger_id = m.passenger_id
                 AND r.flight_id = ANY($1::text[]) AND r.accepted_at >= $2)
           GROUP BY 1, 2 ORDER BY 1, 2""", row["flight_ids"], row["applied_at"])
    return {**dict(people), "money": [{"currency": m["currency"].strip(), "kind": m["kind"],
                                       "amount": str(m["amount"])} for m in money]}


class Apply(desk.Why):
    confirm: bool = Field(description="true: the agent has read the preview and means it")


@router.post("/plans/{plan_id}/apply", operation_id="apply_plan",
             responses={409: {"description": "Applied already, or a flight has left since"}})
async def apply_plan(request: Request, plan_id: PlanId, given: Apply, agent: Agent, action_id: desk.ActionId,
                     pool: Database, config: Configured) -> dict[str, Any]:
    """Carry the plan out: its flight events onto `flight-events`, in one transaction with the
    desk's audit of who applied it and why, checked against the schedule as it stands now. The
    recovery then starts as for any partner's events. Once per plan."""
    if not given.confirm:
        raise HTTPException(422, "Set confirm to true to apply the plan: its events go to the passengers")
    return await desk.act(pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="apply_plan",
                          target=plan_id, why=given.why, asked={},
                          perform=lambda conn, outbox: _apply(conn, outbox, request, plan_id, agent, given.why))


async def _apply(conn: asyncpg.Connection, outbox: Outbox, request: Request, plan_id: str, agent: str,
                 why: str) -> desk.Done:
    row = await conn.fetchrow("SELECT * FROM what_if_plans WHERE plan_id = $1 FOR UPDATE", plan_id)
    if row is None:
        raise desk.Refused(404, f"No saved plan {plan_id!r}")
    if row["applied_at"] is not None:
        raise desk.Refused(409, f"This plan was applied at {row['applied_at']:%Y-%m-%d %H:%M}Z by {row['applied_by']}")
    plan = Plan.model_validate(row["plan"])
    loaded = await load(conn, plan)
    require_covers_all(request, loaded)
    at = datetime.now(UTC)
    events = plan_events(plan, loaded, at, f"plan/{plan_id}")
    ids = []
    for _, e in events:
        sent = outbox.publish(topics.FLIGHT_EVENTS, e, key=e.flight.designator,
                              id=derived_id(PLAN_SOURCE, plan_id, e.partner_event_id), time=at)
        ids.append(sent.id)
    flights = sorted(loaded.legs)
    await conn.execute("UPDATE what_if_plans SET applied_at = $2, applied_by = $3, event_ids = $4, flight_ids = $5"
                       " WHERE plan_id = $1", plan_id, at, agent, ids, flights)
    detail = {"plan_id": plan_id, "name": row["name"], "events": len(ids), "flights": len(flights)}
    await store.store_desk_action(conn, f"plan/{plan_id}", agent, "apply_plan", why, at, None, None, None, [],
                                  detail, SOURCE)
    log.info("what-if plan applied", extra={"plan_id": plan_id, "events": len(ids), "agent": agent})
    return desk.Done({"plan_id": plan_id, "applied_at": at.isoformat(), "events": len(ids)}, detail=detail)
