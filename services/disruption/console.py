"""What the ops console reads, all from this service's own tables (kept current from the events):
the storm's KPIs and timeline, the disrupted flights a page at a time with search and filters,
and the worklist of passengers who need an agent."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

# Each disrupted passenger and flight, whatever number of events touched them.
PER_PASSENGER = """
    SELECT flight_id, passenger_id, booking_ref,
           bool_or(notified) AS notified, bool_or(unreachable) AND NOT bool_or(notified) AS unreachable,
           bool_or(outcome IN ('rebooked', 'accepted', 'changed', 'no_response')) AS rebooked,
           bool_or(refunded) AS refunded, bool_or(outcome = 'needs_agent') AS agent_asked,
           bool_or(outcome IN ('no_alternative', 'returned', 'refund_requested')) AS no_alternative,
           bool_or(outcome = 'kept') AS kept, bool_and(handled_at IS NOT NULL) AS handled,
           bool_and(outcome IS NOT NULL) AS decided,
           (array_agg(outcome_reason ORDER BY outcome_reason IS NULL))[1] AS outcome_reason
    FROM recovery {where} GROUP BY flight_id, passenger_id, booking_ref"""
EVERY_PASSENGER = PER_PASSENGER.format(where="")
ON_FLIGHT = PER_PASSENGER.format(where="WHERE flight_id = $1")
NEEDS_AGENT = "(NOT p.handled AND (p.unreachable OR p.agent_asked OR (p.no_alternative AND NOT p.refunded)))"
# A flight on the console: disrupted now, or with passengers it disrupted.
IS_DISRUPTED = """(f.status IN ('delayed', 'cancelled', 'diverted')
                   OR EXISTS (SELECT 1 FROM recovery r WHERE r.flight_id = f.flight_id))"""


async def kpis(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Any]:
    """The header's figures, each from one table of this service (named in docs/tutorials/demo.md)."""
    flights = await conn.fetchval(f"SELECT count(*) FROM flights f WHERE {IS_DISRUPTED}")
    people = await conn.fetchrow(
        f"""WITH p AS ({EVERY_PASSENGER})
            SELECT count(DISTINCT passenger_id) AS affected,
                   count(DISTINCT passenger_id) FILTER (WHERE p.notified) AS told,
                   count(DISTINCT passenger_id) FILTER (WHERE p.decided) AS with_outcome,
                   count(DISTINCT passenger_id) FILTER (WHERE {NEEDS_AGENT}) AS needs_agent
            FROM p""")
    notice = await conn.fetchrow(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99, count(*) AS n
           FROM (SELECT extract(epoch FROM told_at - accepted_at) AS s FROM recovery
                 WHERE told_at IS NOT NULL AND accepted_at IS NOT NULL) t""")
    money = await conn.fetch(
        """SELECT currency, sum(amount) FILTER (WHERE state = 'owed') AS owed,
                  coalesce(sum(amount) FILTER (WHERE state = 'paid'), 0) AS paid,
                  coalesce(sum(amount) FILTER (WHERE state = 'failed'), 0) AS failed
           FROM money GROUP BY currency ORDER BY currency""")
    return {"flights_disrupted": flights, **dict(people),
            "first_notice_seconds": {"p50": _round(notice["p50"]), "p99": _round(notice["p99"]), "n": notice["n"]},
            "money": [{"currency": m["currency"].strip(), "owed": str(m["owed"] or 0), "paid": str(m["paid"]),
                       "failed": str(m["failed"])} for m in money]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def timeline(conn: asyncpg.Connection | asyncpg.Pool, buckets: int = 60) -> dict[str, Any]:
    """Passengers affected, told and decided so far, over the storm, in at most `buckets` steps."""
    span = await conn.fetchrow("SELECT min(accepted_at) AS first, greatest(max(accepted_at), max(told_at),"
                               " max(decided_at)) AS last FROM recovery")
    if span["first"] is None:
        return {"step_seconds": 0, "points": []}
    step = max(1, int((span["last"] - span["first"]).total_seconds() // buckets) + 1)
    rows = await conn.fetch(
        """WITH marks AS (
               SELECT 'affected' AS what, accepted_at AS at FROM recovery WHERE accepted_at IS NOT NULL
               UNION ALL SELECT 'told', told_at FROM recovery WHERE told_at IS NOT NULL
               UNION ALL SELECT 'decided', decided_at FROM recovery WHERE decided_at IS NOT NULL)
           SELECT date_bin(make_interval(secs => $1), at, $2) AS bucket, what, count(*) AS n
           FROM marks GROUP BY 1, 2 ORDER BY 1""", step, span["first"])
    points: dict[datetime, dict[str, int]] = {}
    for r in rows:
        points.setdefault(r["bucket"], {"affected": 0, "told": 0, "decided": 0})[r["what"]] = r["n"]
    running = {"affected": 0, "told": 0, "decided": 0}
    out = []
    for at in sorted(points):
        running = {k: running[k] + points[at][k] for k in running}
        out.append({"at": at.isoformat(), **running})
    return {"step_seconds": step, "points": out}


@dataclass(frozen=True)
class FlightQuery:
    page: int = 1
    per_page: int = 50
    q: str = ""
    status: str | None = None
    airport: str | None = None
    carrier: str | None = None
    # The key's limits (None: all): shared.http.key_limits.
    key_carriers: list[str] | None = None
    key_stations: list[str] | None = None

    def arguments(self) -> list[object]:
        """$1–$7 of `_CHOSEN`: each filter, or NULL where none is asked."""
        q = self.q.strip().upper()
        return [self.status, self.airport.upper() if self.airport else None,
                self.carrier.upper() if self.carrier else None, q.replace(" ", "") or None, f"%{like_escaped(q)}%",
                self.key_carriers, self.key_stations]


def _within_key(carriers: str, stations: str) -> str:
    """SQL: flight `f` is among the key's airlines and at its stations (parameters naming text
    arrays, NULL for no limit)."""
    return (f"({carriers}::text[] IS NULL OR f.carrier = ANY({carriers}))"
            f" AND ({stations}::text[] IS NULL OR ARRAY[f.origin, f.destination, f.diverted_to] && {stations})")


_FLIGHTS_WITHIN_KEY, _WORKLIST_WITHIN_KEY = _within_key("$6", "$7"), _within_key("$3", "$4")


def like_escaped(text: str) -> str:
    """`text` matched as itself in a LIKE pattern: its `%`, `_` and `\\` escaped (PostgreSQL's
    default escape character is the backslash), so a search for `%` finds a `%`, not every row."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The flights asked for (disrupted ones only): by status, airport, carrier, and a search that finds
# a flight by its designator, or by a booking reference or passenger name disrupted on it.
_CHOSEN = f"""
    {IS_DISRUPTED}
    AND ($1::text IS NULL OR f.status = $1)
    AND ($2::text IS NULL OR $2 IN (f.origin, f.destination, f.diverted_to))
    AND ($3::text IS NULL OR f.carrier = $3)
    AND {_FLIGHTS_WITHIN_KEY}
    AND ($4::text IS NULL OR f.carrier || f.number = $4 OR f.flight_id = $4 OR starts_with(f.flight_id, $4 || '/')
         OR EXISTS (SELECT 1 FROM recovery r LEFT JOIN itineraries i ON i.booking_ref = r.booking_ref
                    WHERE r.flight_id = f.flight_id
                      AND (r.booking_ref = $4 OR upper(array_to_string(i.passenger_names, ' ')) LIKE $5)))"""
_PAGE_OF_FLIGHTS = f"""
    WITH page AS (SELECT f.* FROM flights f WHERE {_CHOSEN} ORDER BY f.updated_at DESC, f.flight_id LIMIT $8 OFFSET $9),
         p AS ({PER_PASSENGER.format(where="WHERE flight_id IN (SELECT flight_id FROM page)")})
    SELECT f.flight_id, f.carrier, f.carrier || ' ' || f.number AS flight, f.origin, f.destination,
           f.scheduled_departure, f.estimated_departure, f.status, f.cause, f.diverted_to, f.updated_at,
           count(p.passenger_id) AS affected,
           count(*) FILTER (WHERE p.notified) AS notified,
           count(*) FILTER (WHERE p.rebooked) AS rebooked,
           count(*) FILTER (WHERE p.refunded) AS refunded,
           count(*) FILTER (WHERE {NEEDS_AGENT}) AS needs_agent
    FROM page f LEFT JOIN p ON p.flight_id = f.flight_id
    GROUP BY f.flight_id, f.carrier, f.number, f.origin, f.destination, f.scheduled_departure,
             f.estimated_departure, f.status, f.cause, f.diverted_to, f.updated_at
    ORDER BY f.updated_at DESC, f.flight_id"""


async def flights(conn: asyncpg.Connection | asyncpg.Pool, query: FlightQuery) -> dict[str, Any]:
    """One page of the disrupted flights, latest change first, each with its passengers' progress."""
    args = query.arguments()
    total = await conn.fetchval(f"SELECT count(*) FROM flights f WHERE {_CHOSEN}", *args)
    rows = await conn.fetch(_PAGE_OF_FLIGHTS, *args, query.per_page, (query.page - 1) * query.per_page)
    return {"total": total, "page": query.page, "per_page": query.per_page, "flights": [dict(r) for r in rows]}


async def worklist(conn: asyncpg.Connection | asyncpg.Pool, page: int, per_page: int,
                   key_carriers: list[str] | None = None, key_stations: list[str] | None = None) -> dict[str, Any]:
    """The passengers who need an agent, longest waiting first: why, since when, and whether any
    notice reached them; of the key's airlines and stations only, where it is limited."""
    rows = await conn.fetch(f"""
        WITH p AS ({EVERY_PASSENGER})
        SELECT r.disruption_id, p.booking_ref, p.passenger_id, p.flight_id, f.carrier || ' ' || f.number AS flight,
               f.origin, f.destination, f.status,
               coalesce(nullif(i.passenger_names[array_position(i.passenger_ids, p.passenger_id)], ''),
                        p.passenger_id) AS name,
               p.notified,
               CASE WHEN p.unreachable THEN 'No notice could be delivered: no working phone or email'
                    WHEN p.agent_asked THEN p.outcome_reason
                    ELSE 'No flight found, and the refund is not granted yet' END AS reason,
               min(r.accepted_at) AS waiting_since, count(*) OVER () AS total
        FROM p JOIN recovery r ON r.flight_id = p.flight_id AND r.passenger_id = p.passenger_id
               JOIN flights f ON f.flight_id = p.flight_id
               LEFT JOIN itineraries i ON i.booking_ref = p.booking_ref
        WHERE {NEEDS_AGENT} AND {_WORKLIST_WITHIN_KEY}
        GROUP BY r.disruption_id, p.booking_ref, p.passenger_id, p.flight_id, f.carrier, f.number, f.origin,
                 f.destination, f.status, i.passenger_names, i.passenger_ids, p.notified, p.unreachable,
                 p.agent_asked, p.outcome_reason
        ORDER BY waiting_since, p.booking_ref, p.passenger_id
        LIMIT $1 OFFSET $2""", per_page, (page - 1) * per_page, key_carriers, key_stations)
    now = datetime.now(UTC)
    return {"total": rows[0]["total"] if rows else 0, "page": page, "per_page": per_page,
            "cases": [{k: v for k, v in dict(r).items() if k != "total"}
                      | {"waited_seconds": round((now - r["waiting_since"]).total_seconds())
                         if r["waiting_since"] else None} for r in rows]}


class Snapshot:
    """The KPIs and the timeline, computed at most once per `every` seconds however many consoles
    watch: each stream reads the latest."""

    def __init__(self, every: float = 1.5) -> None:
        self._every = every
        self._lock = asyncio.Lock()
        self._taken = 0.0
        self._value: dict[str, Any] = {}

    async def latest(self, pool: asyncpg.Pool) -> dict[str, Any]:
        async with self._lock:
            if time.monotonic() - self._taken >= self._every:
                async with pool.acquire() as conn:
                    self._value = {"kpis": await kpis(conn), "timeline": await timeline(conn),
                                   "at": datetime.now(UTC).isoformat()}
                self._taken = time.monotonic()
            return self._value
