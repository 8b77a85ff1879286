"""How long the ops console takes to load with 1,000 disrupted flights: the disruption service's
schema in a database of its own, filled as a storm leaves it (1,000 disrupted flights, 60
passengers each, some told, some decided, a share needing an agent, money owed and paid), then
each request the page makes on opening timed (median and p99 of 20): the KPIs and timeline, the
first page of flights, the worklist, one flight's detail, and a search by name.

    python -m bench.console_load  (needs `make infra`)"""

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from services.disruption import console
from shared import db
from shared.settings import DEVELOPMENT_DATABASE_URL

FLIGHTS, PER_FLIGHT, ROUNDS = 1000, 60, 20
MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "disruption" / "migrations"


async def fill(conn: asyncpg.Connection) -> None:
    start = datetime(2013, 2, 8, 12, tzinfo=UTC)
    flights = [(f"B6{1000 + i}/2013-02-08/JFK", "B6", str(1000 + i), "JFK", "BOS" if i % 2 else "PWM",
                start + timedelta(minutes=i), start + timedelta(minutes=i + 80), ("cancelled", "delayed")[i % 3 == 0])
               for i in range(FLIGHTS)]
    await conn.executemany(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination, scheduled_departure,
                                scheduled_arrival, status, departure_date, cause, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '2013-02-08', 'weather', now())""", flights)
    rows, names = [], []
    for i, f in enumerate(flights):
        for p in range(PER_FLIGHT):
            ref = f"{i:03d}{p:03d}"[:6]
            accepted = start + timedelta(seconds=i)
            told = accepted + timedelta(seconds=5 + p % 30) if p % 10 else None
            outcome = ("rebooked", "no_alternative", "needs_agent", None)[p % 4] if p % 7 else None
            rows.append((f"d{i}", f"{ref}-1", ref, f[0], told is not None, told is None and p % 20 == 0, outcome,
                         "reason", accepted, told, accepted + timedelta(seconds=60) if outcome else None))
            names.append((ref, [f[0]], [f"{ref}-1"], [f"SURNAME{p}/GIVEN{i}"]))
    await conn.executemany(
        """INSERT INTO recovery (disruption_id, passenger_id, booking_ref, flight_id, notified, unreachable, outcome,
                                 outcome_reason, accepted_at, told_at, decided_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""", rows)
    await conn.executemany("INSERT INTO itineraries VALUES ($1, $2, $3, $4)", names)
    await conn.executemany(
        "INSERT INTO money (booking_ref, passenger_id, kind, currency, amount, state, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, now())",
        [(r[2], r[1], "refund", "USD", 250, state, ) for r in rows[::3] for state in ("owed", "paid")])
    await conn.execute("ANALYZE")


async def timed(pool: asyncpg.Pool, name: str,
                call: Callable[[asyncpg.Pool], Awaitable[object]]) -> dict[str, object]:
    took = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await call(pool)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {"request": name, "p50_ms": round(statistics.median(took), 1), "p99_ms": round(took[-1], 1)}


async def main() -> None:
    name = f"rebound_console_{uuid.uuid4().hex[:8]}"
    url = await db.create_database(DEVELOPMENT_DATABASE_URL, name)
    admin = await asyncpg.connect(DEVELOPMENT_DATABASE_URL)
    try:
        await db.migrate(url, "disruption", MIGRATIONS)
        pool = await asyncpg.create_pool(url, server_settings={"search_path": "disruption"},
                                         init=db.init_connection)
        async with pool.acquire() as conn:
            await fill(conn)
        results = [
            await timed(pool, "KPIs and timeline (stream, each push)",
                        lambda p: console.Snapshot(every=0).latest(p)),
            await timed(pool, "flights, first page of 25",
                        lambda p: console.flights(p, console.FlightQuery(per_page=25))),
            await timed(pool, "worklist, first page of 25", lambda p: console.worklist(p, 1, 25)),
            await timed(pool, "search by passenger name", lambda p: console.flights(
                p, console.FlightQuery(q="SURNAME7/GIVEN512", per_page=25))),
        ]
        opening = sum(float(str(r["p50_ms"])) for r in results[:3])
        print(json.dumps({"flights": FLIGHTS, "passengers": FLIGHTS * PER_FLIGHT, "requests": results,
                          "console_opens_ms_p50": round(opening, 1)}, indent=2))
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
