"""Replicas racing for the last seats: the conditional update never sells more than exist."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.rebooking import handlers
from shared import db
from shared.events import BookingConfirmed, Envelope, Leg, Passenger, PassengerDisruption
from shared.outbox import Outbox
from shared.settings import Settings

pytestmark = pytest.mark.integration

SCHEMA = "rebooking_race"
T0 = datetime(2013, 2, 8, 22, 40, tzinfo=UTC)


def leg(number: str, hours: float) -> Leg:
    departure = T0 + timedelta(hours=hours)
    return Leg(flight_id=f"B6{number}/2013-02-08/JFK", carrier="B6", number=number,
               origin="JFK", destination="BOS", scheduled_departure=departure,
               scheduled_arrival=departure + timedelta(minutes=75))


async def test_racing_replicas_never_oversell(environment):
    await db.migrate(environment.database_url, SCHEMA,
                     Path(handlers.__file__).parent / "migrations")
    pool = await db.create_pool(environment.database_url, SCHEMA, min_size=20, max_size=20)
    settings = Settings(database_url=environment.database_url)
    cancelled, alternative = leg("2001", 0), leg("2003", 2)
    try:
        async with pool.acquire() as conn:
            await conn.executemany(
                """INSERT INTO flights (flight_id, carrier, number, origin, destination,
                                        scheduled_departure, scheduled_arrival, capacity)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                [(f.flight_id, f.carrier, f.number, f.origin, f.destination,
                  f.scheduled_departure, f.scheduled_arrival, 200 if f is cancelled else 9)
                 for f in (cancelled, alternative)])

        parties = 40  # of two: 80 passengers for 9 seats
        disruptions = []
        async with pool.acquire() as conn:
            for i in range(parties):
                ref = f"RACE{i:02d}"
                booking = BookingConfirmed(
                    booking_ref=ref, flight_ids=[cancelled.flight_id],
                    passengers=[Passenger(passenger_id=f"{ref}-{n}", fare=100) for n in (1, 2)])
                await handlers.record_booking(
                    conn, Envelope.wrap(booking, source="test", subject=ref), Outbox(settings, "t"))
                disruptions.append(Envelope.wrap(PassengerDisruption(
                    disruption_id="race", booking_ref=ref, passenger_ids=[f"{ref}-1", f"{ref}-2"],
                    flight=cancelled, kind="cancelled", reason="weather"),
                    source="test", subject=ref))

        start = asyncio.Event()

        async def replica(envelope: Envelope) -> None:
            async with pool.acquire() as conn:
                await start.wait()
                async with conn.transaction():
                    await handlers.rebook(conn, envelope, Outbox(settings, "t"))

        tasks = [asyncio.create_task(replica(e)) for e in disruptions]
        await asyncio.sleep(0.1)
        start.set()
        await asyncio.gather(*tasks)

        async with pool.acquire() as conn:
            sold = await conn.fetchval("SELECT seats_sold FROM flights WHERE flight_id = $1",
                                       alternative.flight_id)
            outcomes = dict(await conn.fetch(
                "SELECT outcome, count(*) FROM rebookings WHERE disruption_id = 'race'"
                " GROUP BY outcome"))
            holding = await conn.fetchval(
                "SELECT coalesce(sum(cardinality(passenger_ids)), 0) FROM bookings"
                " WHERE flight_ids @> ARRAY[$1::text]", alternative.flight_id)
    finally:
        await pool.close()
    assert sold == holding == 8  # four parties of two; the ninth seat cannot take a party of two
    assert outcomes == {"rebooked": 4, "no_alternative": parties - 4}
