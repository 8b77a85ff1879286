"""The ops board in a real browser (Debian's Chromium, driven by Playwright): a cancellation
shows up live, with its passengers' recovery."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from bench import small_scenario
from shared import topics
from shared.events import (
    BookingConfirmed,
    FlightCancelled,
    FlightRef,
    FlightScheduled,
    Passenger,
    flight_id,
)
from tests.integration.conftest import (
    AGENT,
    AGENT_KEY,
    API_KEY,
    JFK_AGENT_KEY,
    UNITED_AGENT_KEY,
    VIEWER_KEY,
    eventually,
    publish,
    sent_messages,
)

pytestmark = pytest.mark.integration



async def test_the_ops_api_needs_a_token(stack):
    async with httpx.AsyncClient(base_url=stack.url("disruption")) as client:
        refused = await client.get("/ops/api/flights")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        allowed = await client.get("/ops/api/flights", headers={"Authorization": f"Bearer {API_KEY}"})
        assert allowed.status_code == 200


async def test_the_board_shows_a_cancellation_live(stack, settings, browser_page):
    # Days after the other tests' flights, so their alternatives never mix.
    scenario = small_scenario.build(run=4, day=date(2013, 2, 14))
    await small_scenario.load(settings, scenario, stack.url("notify"), API_KEY)
    await small_scenario.wait_until_loaded(settings.database_url, scenario)
    cancelled = scenario.flights[0]
    label = f"B6 {cancelled.number}"

    page = browser_page
    await page.goto(f"{stack.url('disruption')}/ops")
    await page.get_by_label("Ops token").fill(API_KEY)
    await page.get_by_role("button", name="Show board").click()
    await expect(page.locator("#live")).to_contain_text("live")
    row = page.locator("#flights tbody tr", has_text=label)
    await expect(row).to_have_count(0)

    # The board is open; the cancellation arrives; the page shows it without a reload.
    await small_scenario.cancel(stack.url("disruption"), scenario.cancellation)
    await expect(row.locator("td.status")).to_have_text("cancelled", timeout=15_000)
    passengers = str(len(scenario.disrupted_passengers))
    cells = row.locator("td")
    await expect(cells.nth(5)).to_have_text(passengers)                    # affected
    await expect(cells.nth(6)).to_have_text(passengers, timeout=20_000)    # notified
    rows = await small_scenario.wait_until_settled(settings.database_url, scenario)
    rebooked = sum(r["outcome"] == "rebooked" for r in rows)
    refunded = sum(any(g.startswith("refund") for g in r["grants"] or []) for r in rows)
    await expect(cells.nth(7)).to_have_text(str(rebooked), timeout=10_000)
    await expect(cells.nth(8)).to_have_text(str(refunded), timeout=10_000)

    await row.click()
    await expect(page.locator("#detail-title")).to_contain_text(f"{label} JFK→BOS")
    listed = page.locator("#detail-passengers tr")
    await expect(listed).to_have_count(len(scenario.disrupted_passengers))
    first = scenario.bookings[0]
    await expect(listed.filter(has_text=first.booking_ref).first).to_contain_text(
        first.passengers[0].name)
    await expect(page.locator("#detail-history")).to_contain_text("cancelled (weather)")
    page_text = await page.content()
    assert "@example.com" not in page_text and "+1212555" not in page_text



def _minor_alone(day: date, run: int) -> tuple[FlightScheduled, BookingConfirmed, dict, FlightCancelled]:
    """An unaccompanied minor on a flight to Portland, the only one of the day on that route: when it
    is cancelled no flight can take them, and an agent must arrange it (domain: `_not_moved`)."""
    departs = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=21)
    flight = FlightScheduled(flight_id=flight_id("B6", str(1900 + run), day, "JFK"), carrier="B6",
                             number=str(1900 + run), origin="JFK", destination="PWM",
                             scheduled_departure=departs, scheduled_arrival=departs + timedelta(minutes=80), seats=50)
    ref = f"UM{run:04d}"
    booking = BookingConfirmed(booking_ref=ref, flight_ids=[flight.flight_id], passengers=[Passenger(
        passenger_id=f"{ref}-1", name="LEE/SAM", fare=Decimal(120), special_services=["UMNR"])])
    contact = {"passenger_id": f"{ref}-1", "booking_ref": ref, "given_name": "Sam",
               "email": f"{ref.lower()}@example.com", "phone": f"+1212555{run:04d}", "channels": ["sms"],
               "locale": "en"}
    cancellation = FlightCancelled(partner_event_id=f"desk-{flight.flight_id}", reason="weather",
                                   flight=FlightRef(carrier="B6", number=flight.number, departure_date=day,
                                                    origin="JFK"))
    return flight, booking, contact, cancellation


async def test_an_agent_rebooks_a_stranded_passenger_the_kpis_move_and_a_viewer_can_do_nothing(
        stack, settings, browser_page):
    day = date(2013, 2, 16)
    scenario = small_scenario.build(run=6, day=day)
    minor_flight, minor, contact, stranded = _minor_alone(day, run=6)
    scenario.flights.append(minor_flight)
    scenario.bookings.append(minor)
    scenario.contacts.append(contact)
    await small_scenario.load(settings, scenario, stack.url("notify"), API_KEY)
    await small_scenario.wait_until_loaded(settings.database_url, scenario)

    page = browser_page
    await page.set_viewport_size({"width": 1440, "height": 900})  # a laptop
    await page.goto(f"{stack.url('disruption')}/ops")
    await page.get_by_label("Ops token").fill(AGENT_KEY)
    await page.get_by_role("button", name="Show board").click()
    await expect(page.locator("#live")).to_contain_text("live")
    before = int(await page.locator("#kpi-affected").inner_text())

    # The storm arrives: the KPIs, pushed by the server, move without a reload.
    await small_scenario.cancel(stack.url("disruption"), scenario.cancellation)
    await small_scenario.cancel(stack.url("disruption"), stranded)
    await expect(page.locator("#kpi-affected")).to_have_text(
        str(before + len(scenario.disrupted_passengers) + 1), timeout=20_000)
    await expect(page.locator("#chart polyline[data-series=told]")).to_have_count(1)
    case_row = page.locator("#worklist tbody tr", has_text=minor.booking_ref)
    await expect(case_row).to_contain_text("unaccompanied minor", timeout=30_000)
    await expect(case_row).to_contain_text("LEE/SAM")

    # Operations add a flight to Portland; the agent opens the case and rebooks the minor onto it.
    recovery = minor_flight.model_copy(update={
        "number": "1999", "flight_id": flight_id("B6", "1999", day, "JFK"),
        "scheduled_departure": minor_flight.scheduled_departure + timedelta(hours=2),
        "scheduled_arrival": minor_flight.scheduled_arrival + timedelta(hours=2)})
    await publish(settings, topics.SCHEDULE, [recovery])
    db = await asyncpg.connect(settings.database_url)
    try:
        assert await eventually(lambda: db.fetchval("SELECT 1 FROM rebooking.flights WHERE flight_id = $1",
                                                    recovery.flight_id))
        await _rebook_in_the_console(page, minor.booking_ref)
        audit = await eventually(lambda: db.fetchrow(
            "SELECT * FROM disruption.desk_log WHERE booking_ref = $1 AND action = 'rebook'", minor.booking_ref))
    finally:
        await db.close()

    async def told() -> list[str]:
        sms, _ = await sent_messages(stack)
        return [m["body"] for m in sms if m["to"] == contact["phone"] and "1999" in m["body"]]
    assert len(await eventually(told)) == 1
    # The audit: who, what and why, as the console shows it.
    assert audit["agent"] == AGENT and audit["why"].startswith("Recovery flight")
    assert len(await told()) == 1  # told once, still
    await _a_viewer_can_do_nothing(stack, audit["disruption_id"], minor.booking_ref, contact["passenger_id"],
                                   recovery.flight_id, minor_flight.flight_id)
    await _another_airlines_agent_sees_and_does_nothing_here(
        stack, audit["disruption_id"], minor.booking_ref, contact["passenger_id"], recovery.flight_id,
        minor_flight.flight_id)


async def _rebook_in_the_console(page, booking_ref: str) -> None:
    """The agent picks the recovery flight (B6 1999) for the case and says why."""
    case_row = page.locator("#worklist tbody tr", has_text=booking_ref)
    await case_row.click()
    option = page.locator("#case-options label", has_text="B6 1999")
    await expect(option).to_have_count(1, timeout=10_000)
    await page.get_by_label("Why", exact=True).fill("Recovery flight added for the minor; family agreed by phone")
    await option.locator("input").check()
    await page.get_by_role("button", name="Rebook onto this option").click()
    await expect(page.locator("#case-result")).to_have_text("Rebooked: the passengers are being told.")
    await expect(case_row).to_have_count(0, timeout=20_000)


async def _another_airlines_agent_sees_and_does_nothing_here(stack, disruption_id: str, booking_ref: str,
                                                              passenger_id: str, recovery: str, flight: str) -> None:
    """An agent key limited to United's flights neither sees this JetBlue flight nor acts on its
    passengers, at any service; one limited to JetBlue at JFK sees it."""
    async with httpx.AsyncClient(base_url=stack.url("disruption"),
                                 headers={"Authorization": f"Bearer {JFK_AGENT_KEY}"}) as client:
        assert (await client.get(f"/ops/api/flights/{flight}")).status_code == 200
        assert flight in json.dumps((await client.get("/ops/api/flights", params={"per_page": 200})).json())
    async with httpx.AsyncClient(base_url=stack.url("disruption"),
                                 headers={"Authorization": f"Bearer {UNITED_AGENT_KEY}"}) as client:
        listed = (await client.get("/ops/api/flights", params={"per_page": 200})).json()
        assert listed["flights"] and {f["carrier"] for f in listed["flights"]} == {"UA"} or listed["total"] == 0
        assert all(c["flight"].startswith("UA ") for c in (await client.get("/ops/api/worklist")).json()["cases"])
        refused = [await client.get(f"/ops/api/flights/{flight}"),
                   await client.get(f"/ops/api/desk/rebooking/cases/{disruption_id}/{booking_ref}")]
        for path, body in _ACTIONS:
            refused.append(await client.post(path.format(d=disruption_id, r=booking_ref), json={
                "why": "not my airline", **body(passenger_id, recovery, flight)},
                headers={"Idempotency-Key": str(uuid.uuid4())}))
        for answer in refused:
            assert answer.status_code == 403, answer.request.url
            assert answer.json()["title"] == "This key is for UA flights: not this B6 flight"


_ACTIONS = [
    ("/ops/api/desk/rebooking/cases/{d}/{r}/rebook", lambda p, recovery, f: {"option": f"economy:{recovery}"}),
    ("/ops/api/desk/rebooking/cases/{d}/{r}/refund", lambda p, recovery, f: {}),
    ("/ops/api/desk/compensation/cases/{d}/{r}/voucher",
     lambda p, recovery, f: {"passenger_id": p, "amount": "20", "currency": "USD"}),
    ("/ops/api/cases/{d}/{r}/handled", lambda p, recovery, f: {}),
    ("/ops/api/messages", lambda p, recovery, f: {"flight_id": f, "topic": "agents_at_desk", "place": "T5"}),
]


async def _a_viewer_can_do_nothing(stack, disruption_id: str, booking_ref: str, passenger_id: str, recovery: str,
                                   flight: str) -> None:
    """A viewer sees all of it and can do none of it."""
    actions = [
        ("/ops/api/desk/rebooking/cases/{d}/{r}/rebook", {"option": f"economy:{recovery}"}),
        ("/ops/api/desk/rebooking/cases/{d}/{r}/refund", {}),
        ("/ops/api/desk/compensation/cases/{d}/{r}/voucher", {"passenger_id": passenger_id,
                                                             "amount": "20", "currency": "USD"}),
        ("/ops/api/cases/{d}/{r}/handled", {}),
        ("/ops/api/messages", {"flight_id": flight, "topic": "agents_at_desk", "place": "T5"}),
    ]
    async with httpx.AsyncClient(base_url=stack.url("disruption"),
                                 headers={"Authorization": f"Bearer {VIEWER_KEY}"}) as client:
        assert (await client.get("/ops/api/worklist")).status_code == 200
        # It sees who is on the flight, with booking references masked (it acts on nobody).
        detail = (await client.get(f"/ops/api/flights/{flight}")).json()
        assert detail["passengers"] and all(p["booking_ref"].endswith("••••") for p in detail["passengers"])
        assert booking_ref not in json.dumps(detail, ensure_ascii=False)
        for path, body in actions:
            refused = await client.post(path.format(d=disruption_id, r=booking_ref),
                                        json={"why": "trying my luck", **body},
                                        headers={"Idempotency-Key": str(uuid.uuid4())})
            assert refused.status_code == 403, path
            assert refused.headers["content-type"] == "application/problem+json"
            assert "ops-agent" in refused.json()["title"]


async def test_the_console_runs_in_a_process_of_its_own_apart_from_partner_ingest(stack):
    """REBOUND_SERVES=console: the board and the desk, no partner ingest and no consumer (ready
    without one); REBOUND_SERVES=ingest: partner ingest, no console."""
    console = await asyncio.to_thread(stack.add_replica, "disruption", "console", {"REBOUND_SERVES": "console"})
    ingest_only = await asyncio.to_thread(stack.add_replica, "disruption", "ingest", {"REBOUND_SERVES": "ingest"})
    try:
        async with httpx.AsyncClient(base_url=stack.url(console)) as client:
            ready = (await client.get("/readyz")).json()
            assert ready == {"ready": True,
                             "checks": {"database": True, "database_primary": True, "outbox_relay": True}}
            assert (await client.get("/ops")).status_code == 200
            board = await client.get("/ops/api/summary", headers={"Authorization": f"Bearer {VIEWER_KEY}"})
            assert board.status_code == 200
            assert (await client.post("/v1/flight-events", content=b"{}")).status_code == 404
        async with httpx.AsyncClient(base_url=stack.url(ingest_only)) as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/ops")).status_code == 404
            assert (await client.get("/ops/api/summary", headers={"Authorization": f"Bearer {VIEWER_KEY}"})
                    ).status_code == 404
            unsigned = await client.post("/v1/flight-events", content=b"{}",
                                         headers={"Content-Type": "application/json"})
            assert unsigned.status_code == 401
    finally:
        for name in (console, ingest_only):
            await asyncio.to_thread(stack.stop_process, name)
