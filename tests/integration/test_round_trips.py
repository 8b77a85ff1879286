"""Round trips and lost connections on real Kafka and PostgreSQL, through the four services: a
refund pays each ticket once and gives up every coupon it covers, and a passenger whose onward
flight cannot be reached is told before setting out, refunded, and nobody is left without an
outcome."""

from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from bench import small_scenario
from shared import topics
from shared.events import BookingConfirmed, FlightDelayed, FlightDeparted, FlightRef, Passenger
from tests.integration.conftest import choice_links, eventually, publish
from tests.integration.test_rebooking import cancel_all, inventory_has, scheduled

pytestmark = pytest.mark.integration


async def seats_held(db: asyncpg.Connection, ref: str) -> list[str]:
    return [r["flight_id"] for r in await db.fetch(
        "SELECT DISTINCT flight_id FROM rebooking.seats WHERE booking_ref = $1 ORDER BY 1", ref)]


async def sold(db: asyncpg.Connection, flight_id: str) -> int:
    return await db.fetchval("SELECT sum(sold) FROM rebooking.cabins WHERE flight_id = $1", flight_id)


async def refunds(db: asyncpg.Connection, ref: str) -> dict[str, int]:
    return {r["passenger_id"]: r["amount_minor"] for r in await db.fetch(
        "SELECT passenger_id, amount_minor FROM compensation.grants WHERE booking_ref = $1 AND kind = 'refund'", ref)}


async def booking_loaded(db: asyncpg.Connection, trip: BookingConfirmed, flights: list) -> bool:
    """Every service holds the booking: the flights' seats, a seat on each coupon, the manifest,
    the passengers' tickets."""
    ref = trip.booking_ref
    return await inventory_has(db, flights) and len(await seats_held(db, ref)) == len(trip.flight_ids) \
        and await db.fetchval("SELECT count(*) FROM disruption.manifest WHERE booking_ref = $1", ref) \
        == len(trip.flight_ids) \
        and await db.fetchval("SELECT count(*) FROM compensation.passengers WHERE booking_ref = $1", ref) \
        == len(trip.passengers)


async def paid(stack, ref: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=stack.url("payments")) as client:
        return [p for p in (await client.get("/v1/payouts")).json() if p["booking_ref"] == ref]


async def test_a_round_trip_refunded_instead_of_rebooked_pays_once_and_gives_the_return_back(stack, settings):
    """The outbound is cancelled and the passengers are moved to a later flight; they choose a
    refund instead. They never set out, so the return is of no use to them: the whole ticket is
    refunded, once, and the return flight's seats go back on sale."""
    day = date(2013, 4, 2)
    out = scheduled("B6", "2101", day, "JFK", "BOS", 12, 100)
    later = scheduled("B6", "2103", day, "JFK", "BOS", 15, 10)
    home = scheduled("B6", "2102", day + timedelta(days=2), "BOS", "JFK", 12, 6)
    trip = BookingConfirmed(booking_ref="RT0001", flight_ids=[out.flight_id, home.flight_id], payment="credit_card",
                            passengers=[Passenger(passenger_id=f"RT0001-{i}", fare=Decimal("300.00"))
                                        for i in (1, 2)])
    await publish(settings, topics.SCHEDULE, [out, later, home])
    await publish(settings, topics.BOOKINGS, [trip])
    db = await asyncpg.connect(settings.database_url)
    try:
        async def loaded():
            return await inventory_has(db, [out, later, home]) and await sold(db, home.flight_id) == 2 \
                and await db.fetchval("SELECT count(*) FROM disruption.manifest WHERE booking_ref = 'RT0001'") == 2 \
                and await db.fetchval("SELECT count(*) FROM compensation.passengers WHERE booking_ref = 'RT0001'") == 2
        assert await eventually(loaded)
        await cancel_all(stack, [out], day)

        async def offered():
            return await choice_links(db, "RT0001")
        urls = await eventually(offered)
        assert urls, "no rebooking offer"
        url = urls[0]
        assert await seats_held(db, "RT0001") == sorted([later.flight_id, home.flight_id])
        token = url.rsplit("/", 1)[1]
        async with httpx.AsyncClient(base_url=stack.url("rebooking")) as client:
            for _ in range(2):  # asked twice: answered once
                answer = await client.post(f"/v1/choices/{token}", json={"answer": "refund"})
                assert answer.status_code == 200 and answer.json()["status"] == "refund_requested"

        async def refunded():
            payouts = await paid(stack, "RT0001")
            return payouts if len(payouts) == 2 else None
        payouts = await eventually(refunded)
        assert payouts, await refunds(db, "RT0001")
        assert await refunds(db, "RT0001") == {"RT0001-1": 30000, "RT0001-2": 30000}  # the whole ticket, once
        assert sorted((p["passenger_id"], p["amount_minor"]) for p in payouts) == [("RT0001-1", 30000),
                                                                                  ("RT0001-2", 30000)]
        assert await seats_held(db, "RT0001") == []  # the new flight and the return coupon given back
        assert await sold(db, later.flight_id) == 0 and await sold(db, home.flight_id) == 0

        async def manifest_follows():
            return not await db.fetchval("SELECT count(*) FROM disruption.manifest WHERE booking_ref = 'RT0001'")
        assert await eventually(manifest_follows)
        assert await db.fetchval("SELECT sum(refunded_minor) = sum(paid_minor) FROM compensation.passengers"
                                 " WHERE booking_ref = 'RT0001'")
    finally:
        await db.close()


async def test_the_database_refuses_a_refund_beyond_the_fare(stack, settings):
    """The last line of defence: whatever the code computes, the ledger's constraint refuses a
    refund that would take a ticket past what was paid."""
    db = await asyncpg.connect(settings.database_url)
    try:
        await db.execute("INSERT INTO compensation.passengers (booking_ref, passenger_id, fare, currency, paid_minor)"
                         " VALUES ('CAP001', 'CAP001-1', 120.00, 'USD', 12000)")
        await db.execute("UPDATE compensation.passengers SET refunded_minor = 12000 WHERE booking_ref = 'CAP001'")
        with pytest.raises(asyncpg.CheckViolationError, match="refunds_within_fare"):
            await db.execute("UPDATE compensation.passengers SET refunded_minor = refunded_minor + 1"
                             " WHERE booking_ref = 'CAP001'")
    finally:
        await db.close()


async def test_a_connection_lost_with_no_onward_flight_is_told_not_to_travel_and_refunded_in_full(stack, settings):
    """The first flight runs two hours late, so the passenger would miss the only flight on from
    Chicago. Rather than strand them there, Rebound tells them before they set out, gives up every
    seat of the trip (the flight that still goes and the return too) and refunds the whole ticket."""
    day = date(2013, 4, 5)
    first = scheduled("UA", "3101", day, "EWR", "ORD", 13, 50)
    onward = scheduled("UA", "7101", day, "ORD", "LAX", 16.5, 50)
    home = scheduled("UA", "7102", day + timedelta(days=2), "LAX", "EWR", 15, 50)
    trip = BookingConfirmed(booking_ref="LC0001", flight_ids=[first.flight_id, onward.flight_id, home.flight_id],
                            payment="debit_card", passengers=[Passenger(passenger_id="LC0001-1", fare=Decimal("500"))])
    await publish(settings, topics.SCHEDULE, [first, onward, home])
    await publish(settings, topics.BOOKINGS, [trip])
    db = await asyncpg.connect(settings.database_url)
    try:
        assert await eventually(lambda: booking_loaded(db, trip, [first, onward, home]))
        late = FlightDelayed(partner_event_id="lc-late", reason="technical",
                             flight=FlightRef(carrier="UA", number="3101", departure_date=day, origin="EWR"),
                             occurred_at=first.scheduled_departure - timedelta(hours=1),
                             estimated_departure=first.scheduled_departure + timedelta(hours=2),
                             estimated_arrival=first.scheduled_arrival + timedelta(hours=2))
        (await small_scenario.submit(stack.url("disruption"), late.model_dump_json().encode())).raise_for_status()

        async def decided():
            return await db.fetchrow("SELECT outcome, reason FROM rebooking.rebookings WHERE booking_ref = 'LC0001'"
                                     " AND decided->>'kind' = 'connection_at_risk'")
        decision = await eventually(decided)
        assert decision and decision["outcome"] == "no_alternative"
        assert "please do not set out" in decision["reason"]
        got = await eventually(lambda: refunds(db, "LC0001"))
        assert got == {"LC0001-1": 50000}  # all three coupons: the passenger never set out
        assert await seats_held(db, "LC0001") == []
        notice = await db.fetchval("SELECT DISTINCT template FROM notify.deliveries WHERE booking_ref = 'LC0001'"
                                   " AND stage = 'rebooking'")
        assert notice == "no_onward"
        payouts = await eventually(lambda: paid(stack, "LC0001"))
        assert [(p["kind"], p["amount_minor"]) for p in payouts] == [("refund", 50000)]
    finally:
        await db.close()


async def test_a_passenger_stranded_at_the_connection_is_flown_home_and_refunded(stack, settings):
    """The first flight left on time, then lost two hours in the air: the passenger, on board,
    will miss the only flight on from Chicago. They are flown back to Newark on the next flight
    home (EU261 Art. 8(1)(a): a return to the first point of departure), the trip is refunded in
    full (the flight taken included, and the return from Los Angeles they will never fly), and
    the seats they will not use go back on sale."""
    day = date(2013, 4, 8)
    first = scheduled("UA", "3201", day, "EWR", "ORD", 13, 50)
    onward = scheduled("UA", "7201", day, "ORD", "LAX", 16.5, 50)
    back = scheduled("UA", "7202", day + timedelta(days=2), "LAX", "EWR", 15, 50)
    home = scheduled("UA", "3202", day, "ORD", "EWR", 19, 10)
    trip = BookingConfirmed(booking_ref="SH0001", flight_ids=[first.flight_id, onward.flight_id, back.flight_id],
                            payment="credit_card", passengers=[Passenger(passenger_id="SH0001-1", fare=Decimal("500"))])
    await publish(settings, topics.SCHEDULE, [first, onward, back, home])
    await publish(settings, topics.BOOKINGS, [trip])
    ref = FlightRef(carrier="UA", number="3201", departure_date=day, origin="EWR")
    db = await asyncpg.connect(settings.database_url)
    try:
        assert await eventually(lambda: booking_loaded(db, trip, [first, onward, back, home]))
        gone = FlightDeparted(partner_event_id="sh-off", flight=ref, actual_departure=first.scheduled_departure,
                              occurred_at=first.scheduled_departure)
        (await small_scenario.submit(stack.url("disruption"), gone.model_dump_json().encode())).raise_for_status()

        async def airborne():
            return await db.fetchval("SELECT status FROM rebooking.flights WHERE flight_id = $1",
                                     first.flight_id) == "departed"
        assert await eventually(airborne)
        late = FlightDelayed(partner_event_id="sh-late", flight=ref, reason="technical",
                             occurred_at=first.scheduled_departure + timedelta(hours=1),
                             estimated_arrival=first.scheduled_arrival + timedelta(hours=2))
        (await small_scenario.submit(stack.url("disruption"), late.model_dump_json().encode())).raise_for_status()

        async def decided():
            return await db.fetchrow("SELECT outcome, reason, to_flights FROM rebooking.rebookings"
                                     " WHERE booking_ref = 'SH0001' AND decided->>'kind' = 'connection_at_risk'")
        decision = await eventually(decided)
        assert decision and decision["outcome"] == "returned", decision
        assert decision["to_flights"] == [home.flight_id] and "back to EWR" in decision["reason"]
        assert await seats_held(db, "SH0001") == sorted([first.flight_id, home.flight_id])  # the one flown stays
        assert await sold(db, onward.flight_id) == 0 and await sold(db, back.flight_id) == 0
        got = await eventually(lambda: refunds(db, "SH0001"))
        assert got == {"SH0001-1": 50000}
        notice = await db.fetchval("SELECT DISTINCT template FROM notify.deliveries WHERE booking_ref = 'SH0001'"
                                   " AND stage = 'rebooking'")
        assert notice == "returned"
    finally:
        await db.close()
