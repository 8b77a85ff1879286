"""Rebooking on real Kafka and PostgreSQL: replicas (separate processes) racing for one flight's
last seats, and the passenger's choice through the signed link, in a browser and over JSON."""

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from bench import small_scenario
from services.rebooking import answers
from services.rebooking.config import DEVELOPMENT_CHOICE_SECRET, Config, RebookingSettings
from services.rebooking.links import ChoiceLink, parse_keys, sign
from shared import db as shared_db
from shared import topics
from shared.events import BookingConfirmed, FlightCancelled, FlightRef, FlightScheduled, Passenger, flight_id
from tests.integration.conftest import choice_links, eventually, publish

pytestmark = pytest.mark.integration


def scheduled(carrier: str, number: str, day: date, origin: str, destination: str, hour: float,
              seats: int, cabins: dict | None = None) -> FlightScheduled:
    departure = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)
    return FlightScheduled(flight_id=flight_id(carrier, number, day, origin), carrier=carrier, number=number,
                           origin=origin, destination=destination, scheduled_departure=departure,
                           scheduled_arrival=departure + timedelta(minutes=110), seats=seats,
                           cabins=cabins or {})


def booking(ref: str, flight: FlightScheduled, party: int, **kw) -> BookingConfirmed:
    return BookingConfirmed(booking_ref=ref, flight_ids=[flight.flight_id], passengers=[
        Passenger(passenger_id=f"{ref}-{i}", fare=Decimal("180")) for i in range(party)], **kw)


async def inventory_has(db: asyncpg.Connection, flights: list[FlightScheduled]) -> bool:
    """Whether the rebooking service has these flights' seats (it reads the schedule on its own)."""
    return await db.fetchval("SELECT count(*) FROM rebooking.cabins WHERE flight_id = ANY($1::text[])",
                             [f.flight_id for f in flights]) == len(flights)


async def cancel_all(stack, flights: list[FlightScheduled], day: date) -> list[str]:
    ids = await asyncio.gather(*[small_scenario.cancel(stack.url("disruption"), FlightCancelled(
        partner_event_id=f"race-{f.flight_id}", reason="weather",
        flight=FlightRef(carrier=f.carrier, number=f.number, departure_date=day, origin=f.origin)))
        for f in flights])
    return [i for batch in ids for i in batch]


async def test_replicas_racing_for_the_last_seats_never_oversell(stack, settings):
    """Three processes of the rebooking service, in one consumer group, place the passengers of
    six cancelled flights: 20 seats on the one alternative, for about 100 passengers."""
    day, rng = date(2013, 3, 12), random.Random(12)
    cancelled = [scheduled("EV", str(4101 + i), day, "EWR", "SAV", 8 + i * 0.5, 50) for i in range(6)]
    alternative = scheduled("EV", "4199", day, "EWR", "SAV", 15, 20)
    bookings = [booking(f"RC{i:04d}", cancelled[i % 6], rng.randint(1, 3), booked_at=datetime(2013, 1, 1, tzinfo=UTC)
                        + timedelta(hours=i)) for i in range(48)]
    await publish(settings, topics.SCHEDULE, [*cancelled, alternative])
    await publish(settings, topics.BOOKINGS, bookings)
    replicas = [stack.add_replica("rebooking", i) for i in (2, 3)]
    db = await asyncpg.connect(settings.database_url)
    try:
        async def loaded():
            return await db.fetchval("SELECT count(*) FROM rebooking.bookings WHERE booking_ref LIKE 'RC%'") == 48 \
                and await db.fetchval("SELECT count(*) FROM disruption.manifest WHERE booking_ref LIKE 'RC%'") == 48 \
                and await inventory_has(db, [*cancelled, alternative])
        assert await eventually(loaded)
        await cancel_all(stack, cancelled, day)

        # Each booking's latest decision. A booking placed on one of the other cancelled flights
        # before rebooking heard of that cancellation is disrupted, and decided, again.
        async def decided():
            rows = await db.fetch(
                """SELECT DISTINCT ON (r.booking_ref) r.booking_ref, r.outcome, r.seats, r.to_flights
                   FROM rebooking.rebookings r WHERE r.booking_ref LIKE 'RC%'
                     AND NOT EXISTS (SELECT 1 FROM rebooking.pending p WHERE p.booking_ref = r.booking_ref)
                     AND NOT (r.outcome = 'rebooked' AND r.to_flights && $1::text[])
                   ORDER BY r.booking_ref, r.decided_at DESC""", [f.flight_id for f in cancelled])
            return rows if len(rows) == 48 else None
        rows = await eventually(decided, within_seconds=90)
        assert rows, "not every booking was decided"
        sold, capacity, holding = await db.fetchrow(
            "SELECT sold, capacity, (SELECT count(*) FROM rebooking.seats WHERE flight_id = $1)"
            " FROM rebooking.cabins WHERE flight_id = $1", alternative.flight_id)
        oversold = await db.fetchval("SELECT count(*) FROM rebooking.cabins WHERE sold > capacity"
                                     " OR sold <> (SELECT count(*) FROM rebooking.seats s"
                                     "             WHERE s.flight_id = cabins.flight_id AND s.cabin = cabins.cabin)")
    finally:
        await db.close()
        for name in replicas:
            stack.stop_process(name)
    rebooked = [r for r in rows if r["outcome"] == "rebooked"]
    assert {r["outcome"] for r in rows} <= {"rebooked", "no_alternative"}
    assert oversold == 0  # nowhere: every cabin's count matches the seats held, within capacity
    assert sold == holding == sum(r["seats"] for r in rebooked) <= capacity == 20
    assert sold >= 18  # parties of up to three fill all but at most two seats
    assert all(r["to_flights"] == [alternative.flight_id] for r in rebooked)


async def rebooked(stack, settings, prefix: str, day: date):
    """Three bookings on a cancelled LGA→CLT flight, rebooked onto the next one."""
    cancelled = scheduled("B6", "1301", day, "LGA", "CLT", 12, 100)
    soon = scheduled("B6", "1303", day, "LGA", "CLT", 14, 10)
    later = scheduled("B6", "1305", day, "JFK", "CLT", 17, 10)
    bookings = [booking(f"{prefix}000{i}", cancelled, 2) for i in range(1, 4)]
    await publish(settings, topics.SCHEDULE, [cancelled, soon, later])
    await publish(settings, topics.BOOKINGS, bookings)
    db = await asyncpg.connect(settings.database_url)

    async def loaded():
        return await db.fetchval("SELECT count(*) FROM disruption.manifest WHERE booking_ref LIKE $1",
                                 f"{prefix}000%") == 3 and await inventory_has(db, [cancelled, soon, later])
    assert await eventually(loaded)
    await cancel_all(stack, [cancelled], day)

    async def links():
        found = {ref[2:]: await choice_links(db, ref) for ref in (f"{prefix}0001", f"{prefix}0002", f"{prefix}0003")}
        return found if all(found.values()) else None
    found = await eventually(links)
    assert found, "the rebooking notices carry no choice link"
    assert all(len(set(urls)) == len(urls) == 2 for urls in found.values())  # each passenger their own
    return db, {ref: urls[0] for ref, urls in found.items()}, soon, later


async def test_the_choice_page_in_a_browser_accept_change_and_refund(stack, settings, browser_page):
    db, urls, soon, later = await rebooked(stack, settings, "CH", date(2013, 3, 13))
    page = browser_page
    await page.goto(urls["0001"])
    assert "B6 1303" in await page.inner_text("#current")
    assert "B6 1305" in await page.inner_text("body")  # another option, with its seats left
    await page.click("text=Keep this flight")
    await expect(page.locator("#answer")).to_contain_text("you're booked on")

    await page.goto(urls["0002"])
    await page.click("text=Take this flight instead")
    await expect(page.locator("#answer")).to_contain_text("now booked on")
    await expect(page.locator("#answer")).to_contain_text("B6 1305")

    await page.goto(urls["0003"])
    await page.click("text=Refund me instead")
    await expect(page.locator("#answer")).to_contain_text("refunded")

    async def settled():
        rows = await db.fetch("SELECT booking_ref, answer, to_flights FROM rebooking.rebookings"
                              " WHERE booking_ref LIKE 'CH000%' ORDER BY booking_ref")
        grants = await db.fetch("SELECT passenger_id FROM compensation.grants WHERE kind = 'refund'"
                                " AND booking_ref = 'CH0003'")
        return (rows, grants) if len(grants) == 2 else None
    result = await eventually(settled)
    assert result, "the refund asked for was not granted"
    rows, _ = result
    assert [(r["answer"], r["to_flights"]) for r in rows] == [
        ("accepted", [soon.flight_id]), ("changed", [later.flight_id]), ("refund_requested", [])]
    seats = dict(await db.fetch("SELECT flight_id, sold FROM rebooking.cabins WHERE flight_id = ANY($1::text[])",
                                [soon.flight_id, later.flight_id]))
    assert seats == {soon.flight_id: 2, later.flight_id: 2}  # the change and the refund gave seats back
    manifest = await db.fetch("SELECT booking_ref, flight_id FROM disruption.manifest"
                              " WHERE booking_ref LIKE 'CH000%' ORDER BY booking_ref")
    await db.close()
    assert [(m["booking_ref"], m["flight_id"]) for m in manifest] == [
        ("CH0001", soon.flight_id), ("CH0002", later.flight_id)]


async def test_the_choice_api_is_idempotent_and_refuses_forged_expired_and_conflicting_answers(stack, settings):
    db, urls, soon, later = await rebooked(stack, settings, "CJ", date(2013, 3, 16))
    token = urls["0001"].rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=stack.url("rebooking")) as client:
        offer = (await client.get(f"/v1/choices/{token}")).json()
        assert offer["status"] == "awaiting_answer" and offer["current"][0]["number"] == "1303"
        other = offer["options"][0]["option_id"]
        first = await client.post(f"/v1/choices/{token}", json={"answer": "change", "option": other})
        again = await client.post(f"/v1/choices/{token}", json={"answer": "change", "option": other})
        assert first.status_code == again.status_code == 200 and first.json() == again.json()
        conflict = await client.post(f"/v1/choices/{token}", json={"answer": "refund"})
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == "application/problem+json"
        assert "already answered" in conflict.json()["detail"]

        forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        assert (await client.get(f"/v1/choices/{forged}")).status_code == 403
        row = await db.fetchrow("SELECT disruption_id FROM rebooking.rebookings WHERE booking_ref = 'CJ0002'")
        expired = sign(parse_keys(DEVELOPMENT_CHOICE_SECRET), ChoiceLink(row["disruption_id"], "CJ0002", 0,
                                                                    datetime.now(UTC) - timedelta(minutes=1)))
        response = await client.post(f"/v1/choices/{expired}", json={"answer": "refund"})
        assert response.status_code == 410 and "ended" in response.json()["detail"]
        bad = await client.post(f"/v1/choices/{token}", json={"answer": "maybe"})
        assert bad.status_code == 422
    audit = await db.fetchval("SELECT count(*) FROM rebooking.choices WHERE booking_ref = 'CJ0001'")
    await db.close()
    assert audit == 1  # the repeat changed nothing


async def test_silence_by_the_deadline_counts_as_the_policy_says(stack, settings):
    db, urls, soon, later = await rebooked(stack, settings, "CS", date(2013, 3, 19))
    await db.execute("UPDATE rebooking.rebookings SET respond_by = now() - interval '1 minute'"
                     " WHERE booking_ref LIKE 'CS000%'")
    pool = await shared_db.create_pool(settings.database_url, "rebooking")
    try:
        for booking_ref, policy in (("CS0001", "accepted"), ("CS0002", "refund_requested")):
            policy_settings = RebookingSettings(database_url=settings.database_url,
                                                topic_prefix=settings.topic_prefix, silence_counts_as=policy)
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("UPDATE rebookings SET respond_by = now() + interval '1 hour'"
                                   " WHERE booking_ref LIKE 'CS000%' AND booking_ref <> $1 AND answer IS NULL",
                                   booking_ref)
                assert await answers.settle_silences(conn, Config.of(policy_settings)) == 1
                assert await answers.settle_silences(conn, Config.of(policy_settings)) == 0  # once
                await conn.execute("UPDATE rebookings SET respond_by = now() - interval '1 minute'"
                                   " WHERE booking_ref LIKE 'CS000%' AND answer IS NULL")
    finally:
        await pool.close()
    rows = await db.fetch("SELECT booking_ref, answer, to_flights FROM rebooking.rebookings"
                          " WHERE booking_ref IN ('CS0001', 'CS0002') ORDER BY booking_ref")
    sold = await db.fetchval("SELECT sold FROM rebooking.cabins WHERE flight_id = $1", soon.flight_id)
    async with httpx.AsyncClient(base_url=stack.url("rebooking")) as client:
        late = await client.post(f"/v1/choices/{urls['0001'].rsplit('/', 1)[1]}", json={"answer": "refund"})
    await db.close()
    assert [(r["booking_ref"], r["answer"], r["to_flights"]) for r in rows] == [
        ("CS0001", "no_response", [soon.flight_id]), ("CS0002", "no_response", [])]
    assert sold == 4  # CS0002's two seats went back; CS0001 and CS0003 keep theirs
    assert late.status_code == 409  # answered already, by the deadline
