"""Compensation over real Kafka and PostgreSQL, with the real rebooking service deciding and the
sandbox payment provider paying: grants exactly once through redelivery, a delay that grows, a
refund asked for afterwards, a failing provider, and a crash in the middle of a payout."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from shared import topics
from shared.events import (
    BookingConfirmed,
    Envelope,
    FlightScheduled,
    Leg,
    Passenger,
    PassengerDisruption,
    RebookingDecided,
    event_id,
    flight_id,
)
from tests.integration.conftest import API_KEY, eventually

DEPARTURE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # FRA 10:00
FLIGHT = FlightScheduled(flight_id=flight_id("LH", "400", DEPARTURE.date(), "FRA"), carrier="LH", number="400",
                         origin="FRA", destination="JFK", scheduled_departure=DEPARTURE,
                         scheduled_arrival=DEPARTURE + timedelta(hours=8, minutes=45), seats=300)
LEG = Leg(**FLIGHT.model_dump(include=set(Leg.model_fields)))


async def send(settings, topic: str, data, key: str, id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        envelope = Envelope.wrap(data, source="reservations/test", subject=key, id=id)
        await producer.send_and_wait(topics.name(settings, topic), envelope.to_bytes(), key=key.encode())
    finally:
        await producer.stop()


def booking(ref: str) -> BookingConfirmed:
    return BookingConfirmed(booking_ref=ref, flight_ids=[FLIGHT.flight_id], payment="credit_card", passengers=[
        Passenger(passenger_id=f"{ref}-1", fare=Decimal("640.00"), currency="EUR"),
        Passenger(passenger_id=f"{ref}-2", fare=Decimal("480.00"), currency="EUR")])


def delayed(ref: str, n: int, minutes: int) -> PassengerDisruption:
    return PassengerDisruption(
        disruption_id=f"delay-{ref}-{n}", booking_ref=ref, passenger_ids=[f"{ref}-1", f"{ref}-2"], flight=LEG,
        segments=[LEG], kind="delayed", cause="technical", delay_minutes=minutes,
        accepted_at=DEPARTURE - timedelta(hours=2))


async def ledger(settings, ref: str) -> tuple[dict, list, list]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        grants = {(r["passenger_id"], r["kind"]): dict(r) for r in await conn.fetch(
            "SELECT * FROM compensation.grants WHERE booking_ref = $1", ref)}
        changes = [dict(r) for r in await conn.fetch(
            "SELECT c.*, g.passenger_id, g.kind FROM compensation.grant_changes c JOIN compensation.grants g"
            " USING (grant_id) WHERE g.booking_ref = $1 ORDER BY c.changed_at", ref)]
        payouts = [dict(r) for r in await conn.fetch(
            "SELECT * FROM compensation.payouts WHERE booking_ref = $1 ORDER BY created_at", ref)]
        return grants, changes, payouts
    finally:
        await conn.close()


async def provider_payouts(stack, ref: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=stack.url("payments")) as client:
        return [p for p in (await client.get("/v1/payouts")).json() if p["booking_ref"] == ref]


async def control(stack, **settings) -> None:
    async with httpx.AsyncClient(base_url=stack.url("payments"),
                                 headers={"Authorization": "Bearer sandbox-payments-key"}) as client:
        (await client.post("/v1/control", json=settings)).raise_for_status()


async def test_a_growing_delay_then_a_refund_is_granted_and_paid_exactly_once(stack, settings):
    ref = "CMP001"
    await send(settings, topics.SCHEDULE, FLIGHT, FLIGHT.flight_id, event_id("cmp", "schedule", FLIGHT.flight_id))
    await send(settings, topics.BOOKINGS, booking(ref), ref, event_id("cmp", "booking", ref))
    first = delayed(ref, 1, 210)
    await send(settings, topics.PASSENGER_DISRUPTIONS, first, ref, event_id("cmp", first.disruption_id))

    # 3 h 30 late on a long-haul flight: EU261 halves its EUR 600; the airline adds a meal and a credit.
    async def granted(kinds: set, amount: int | None = None):
        grants, _, payouts = await ledger(settings, ref)
        ok = {k for _, k in grants} == kinds and all(p["status"] == "paid" for p in payouts) and payouts
        return (grants, payouts) if ok and (amount is None or grants[(f"{ref}-1", "compensation")]["amount_minor"]
                                            == amount) else None
    assert await eventually(lambda: granted({"compensation", "credit", "meal"}, 30000))

    # The delay grows to 5 h: compensation rises to EUR 600 by the difference, the credit too.
    second = delayed(ref, 2, 300)
    await send(settings, topics.PASSENGER_DISRUPTIONS, second, ref, event_id("cmp", second.disruption_id))
    result = await eventually(lambda: granted({"compensation", "credit", "meal"}, 60000))
    assert result, await ledger(settings, ref)
    grants, payouts = result
    assert len(grants) == 6  # two passengers, one grant of each kind
    assert sorted(p["amount_minor"] for p in payouts if p["passenger_id"] == f"{ref}-1") == [30000, 30000]
    meal = grants[(f"{ref}-1", "meal")]
    assert meal["code"].startswith("RB-") and len(meal["code"]) == 22 and meal["expires_at"] > datetime.now(UTC)
    assert meal["code"] != grants[(f"{ref}-2", "meal")]["code"]
    assert grants[(f"{ref}-1", "credit")]["amount_minor"] == 15000
    evaluated = json.loads(grants[(f"{ref}-1", "compensation")]["evaluated"])  # the case it came from
    assert evaluated["disruption"]["actual_arrival"] == "2026-12-01T22:45:00Z"
    assert grants[(f"{ref}-1", "compensation")]["rule_version"] == "2005-02-17"

    # Redelivered (same ids) and replayed (new ids, same facts): nothing changes.
    before = await ledger(settings, ref)
    await send(settings, topics.PASSENGER_DISRUPTIONS, second, ref, event_id("cmp", second.disruption_id))
    await send(settings, topics.PASSENGER_DISRUPTIONS, second, ref, event_id("cmp", "replayed", second.disruption_id))
    kept = RebookingDecided(disruption_id=second.disruption_id, booking_ref=ref, passenger_ids=second.passenger_ids,
                            outcome="kept", reason="the flight still goes", arrival_delay_minutes=300)
    await send(settings, topics.REBOOKINGS, kept, ref, event_id("cmp", "kept-again", ref))
    await asyncio.sleep(3)
    assert await ledger(settings, ref) == before

    # Then they ask for their money back instead: the fare is refunded, once, to the card.
    refund = RebookingDecided(disruption_id=second.disruption_id, booking_ref=ref, passenger_ids=second.passenger_ids,
                              outcome="refund_requested", reason="asked for a refund", refund_due=True)
    for attempt in ("a", "b"):
        await send(settings, topics.REBOOKINGS, refund, ref, event_id("cmp", "refund", attempt))
    result = await eventually(lambda: granted({"compensation", "credit", "meal", "refund"}))
    assert result, await ledger(settings, ref)
    grants, payouts = result
    assert grants[(f"{ref}-1", "refund")]["amount_minor"] == 64000
    assert grants[(f"{ref}-2", "refund")]["amount_minor"] == 48000
    assert grants[(f"{ref}-1", "meal")]["amount_minor"] == meal["amount_minor"]  # a grant given stands
    paid = await provider_payouts(stack, ref)
    assert sorted((p["passenger_id"], p["kind"], p["amount_minor"]) for p in paid) == sorted(
        (p["passenger_id"], p["kind"], p["amount_minor"]) for p in payouts)
    assert len({p["idempotency_key"] for p in paid}) == len(paid) == 6  # 2 × (300 + 300 + refund)

    # Each change was announced as a revision of its own: notify plans all three, not just the first.
    async def announced():
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await conn.fetchval("SELECT count(DISTINCT revision) FROM notify.deliveries"
                                       " WHERE passenger_id = $1 AND stage = 'entitlements'", f"{ref}-1")
        finally:
            await conn.close()
    assert await eventually(lambda: _at_least(announced, 3))


async def _at_least(count, n: int) -> bool:
    return (await count()) >= n


async def test_a_failing_provider_is_retried_without_paying_twice(stack, settings):
    ref = "CMP002"
    await send(settings, topics.SCHEDULE, FLIGHT, FLIGHT.flight_id, event_id("cmp", "schedule", FLIGHT.flight_id))
    await send(settings, topics.BOOKINGS, booking(ref), ref, event_id("cmp", "booking", ref))
    await control(stack, fail_next=5, fail_status=503)
    try:
        d = delayed(ref, 1, 300)
        await send(settings, topics.PASSENGER_DISRUPTIONS, d, ref, event_id("cmp", d.disruption_id))

        async def paid():
            _, _, payouts = await ledger(settings, ref)
            return payouts if len(payouts) == 2 and all(p["status"] == "paid" for p in payouts) else None
        payouts = await eventually(paid, within_seconds=60)
        assert payouts, await ledger(settings, ref)
    finally:
        await control(stack)
    assert sum(p["attempts"] for p in payouts) >= 2 + 5
    assert len(await provider_payouts(stack, ref)) == 2


async def test_a_crash_after_the_provider_paid_does_not_pay_again(stack, settings):
    ref = "CMP003"
    await send(settings, topics.SCHEDULE, FLIGHT, FLIGHT.flight_id, event_id("cmp", "schedule", FLIGHT.flight_id))
    await send(settings, topics.BOOKINGS, booking(ref), ref, event_id("cmp", "booking", ref))
    await control(stack, delay_ms=4000)  # the provider takes its time; the worker dies waiting
    try:
        d = delayed(ref, 1, 300)
        await send(settings, topics.PASSENGER_DISRUPTIONS, d, ref, event_id("cmp", d.disruption_id))

        async def in_flight():
            _, _, payouts = await ledger(settings, ref)
            return len(payouts) == 2 and all(p["attempts"] == 1 for p in payouts)
        assert await eventually(in_flight)
        stack.kill("compensation")
        await asyncio.sleep(5)  # the provider pays while nobody is there to hear it
        assert len(await provider_payouts(stack, ref)) == 2
        await control(stack)
        stack.restart("compensation")

        async def paid():
            _, _, payouts = await ledger(settings, ref)
            return payouts if all(p["status"] == "paid" for p in payouts) else None
        payouts = await eventually(paid, within_seconds=30)
        assert payouts, await ledger(settings, ref)
    finally:
        await control(stack)
    assert all(p["attempts"] == 2 for p in payouts)  # taken up again after the lease, same key
    paid_by_provider = await provider_payouts(stack, ref)
    assert len(paid_by_provider) == 2
    assert {p["id"] for p in paid_by_provider} == {p["provider_id"] for p in payouts}


CASE = {"booking": "ABC123", "passenger": {"id": "P1"},
        "fare": {"amount": 329.4, "currency": "EUR", "payment": "credit_card"}, "operating_carrier": "LH",
        "itinerary": [{"flight": "LH 400", "origin": "FRA", "destination": "JFK",
                       "scheduled_departure": "2025-03-10T10:00:00+01:00",
                       "scheduled_arrival": "2025-03-10T12:45:00-04:00"}],
        "disruption": {"kind": "delay", "cause": "technical", "announced_at": "2025-03-10T08:00:00+01:00",
                       "actual_arrival": "2025-03-10T17:50:00-04:00"}}


async def test_the_evaluate_api(stack):
    async with httpx.AsyncClient(base_url=stack.url("compensation")) as client:
        refused = await client.post("/v1/entitlements/evaluate", json=CASE)
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        auth = {"Authorization": f"Bearer {API_KEY}"}
        one = await client.post("/v1/entitlements/evaluate", json=CASE, headers=auth)
        assert one.status_code == 200, one.text
        owed = {(e["regime"], e["kind"]): e for e in one.json()["entitlements"]}
        assert owed[("EU261", "compensation")]["amount"] == 600
        assert owed[("EU261", "compensation")]["currency"] == "EUR"
        assert all(e["source"] and e["reason"] and e["rule"] for e in one.json()["entitlements"])
        many = await client.post("/v1/entitlements/evaluate", json=[CASE, CASE], headers=auth)
        assert [len(r["entitlements"]) for r in many.json()] == [len(owed)] * 2
        bad = await client.post("/v1/entitlements/evaluate", headers=auth, json=[CASE, CASE | {
            "fare": {"amount": -1, "currency": "EUR", "payment": "cheque"}}])
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        fields = {e["field"] for e in bad.json()["errors"]}
        # Named as the caller wrote them, never by pydantic's internals.
        assert {"cases[1].fare.amount", "cases[1].fare.payment"} <= fields, fields
        # A number that would cost seconds of arithmetic is refused as it is read.
        huge = await client.post("/v1/entitlements/evaluate", headers=auth | {"Content-Type": "application/json"},
                                 content=json.dumps(CASE).replace("329.4", '"1E+200000"'))
        assert huge.status_code == 422 and "fare.amount" in huge.text, huge.text
        # The case's newer fields travel through the API: who operates each flight, the payout currency.
        leg = CASE["itinerary"][0]
        priced = await client.post("/v1/entitlements/evaluate", headers=auth, json=[
            CASE | {"payout": {"currency": "PLN", "rate": 4.2466}},
            CASE | {"itinerary": [leg | {"flight": "UA 8840", "operating_carrier": "UA", "marketing_carrier": "LH",
                                         "origin": "JFK", "destination": "FRA",
                                         "scheduled_departure": "2025-03-10T18:00:00-04:00",
                                         "scheduled_arrival": "2025-03-11T07:30:00+01:00"}],
                    "disruption": CASE["disruption"] | {"actual_arrival": "2025-03-11T12:30:00+01:00"}}])
        assert priced.status_code == 200, priced.text
        paid_in_zloty, flown_by_ua = priced.json()
        compensation = next(e for e in paid_in_zloty["entitlements"] if e["kind"] == "compensation")
        assert (compensation["payout_amount"], compensation["payout_currency"]) == (2547.96, "PLN")
        assert not [e for e in flown_by_ua["entitlements"] if e["regime"] == "EU261"]


def test_the_evaluate_command():
    run = subprocess.run([sys.executable, "-m", "services.compensation.evaluate"], input=json.dumps([CASE, CASE]),
                         capture_output=True, text=True, check=True)
    results = json.loads(run.stdout)
    assert len(results) == 2 and results[0]["entitlements"][0]["rule"]
    single = subprocess.run([sys.executable, "-m", "services.compensation.evaluate"], input=json.dumps(CASE),
                            capture_output=True, text=True, check=True)
    assert "entitlements" in json.loads(single.stdout)
    # A return on the same booking is its own journey: Frankfurt back from New York is judged on its own.
    back = CASE["itinerary"][0] | {"flight": "LH 401", "origin": "JFK", "destination": "FRA",
                                   "scheduled_departure": "2025-03-14T18:00:00-04:00",
                                   "scheduled_arrival": "2025-03-15T07:30:00+01:00"}
    round_trip = CASE | {"itinerary": CASE["itinerary"] + [back],
                         "disruption": CASE["disruption"] | {"flight": "LH 401",
                                                             "actual_arrival": "2025-03-15T12:30:00+01:00"}}
    judged = subprocess.run([sys.executable, "-m", "services.compensation.evaluate"], input=json.dumps(round_trip),
                            capture_output=True, text=True, check=True)
    compensation = next(e for e in json.loads(judged.stdout)["entitlements"] if e["kind"] == "compensation")
    assert compensation["amount"] == 600 and "6,188 km" in compensation["reason"]
    wrong = subprocess.run([sys.executable, "-m", "services.compensation.evaluate"], input='{"booking": "X"}',
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and "passenger: Field required" in wrong.stderr


def test_the_evaluate_command_is_pure_in_any_environment():
    """It judges a case from the rule book alone: no service setting read, no secret asked for,
    even where the service itself would refuse to start without them."""
    bare = {k: v for k, v in os.environ.items() if not k.startswith("REBOUND_")} | {
        "REBOUND_ENVIRONMENT": "production", "REBOUND_DATABASE_URL": "not a url", "REBOUND_API_KEYS": "?"}
    run = subprocess.run([sys.executable, "-m", "services.compensation.evaluate"], input=json.dumps(CASE),
                         capture_output=True, text=True, env=bare)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["entitlements"]
