"""The ops desk's actions through the services' own code, on real PostgreSQL: each done once per
idempotency key, audited, emitted, and followed by the other services' handlers like any decision.
The disruption is the demo's small cancellation (bench/small_scenario.py)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from bench import small_scenario
from services.compensation import desk as compensation_desk
from services.compensation.config import CompensationSettings
from services.compensation.config import Config as CompensationConfig
from services.disruption import console, ops
from services.notify import templates
from services.rebooking import desk as rebooking_desk
from shared import desk, sealed, topics
from shared.events import AgentActed, DeskAction, EntitlementsGranted, NoticeRequested, RebookingDecided, flight_id
from shared.outbox import Outbox
from tests.handlers.test_in_one_process import load
from tests.handlers.world import REBOOKING, SETTINGS, World

pytestmark = pytest.mark.handlers

COMPENSATION = CompensationConfig.of(CompensationSettings(environment="test", goodwill_limits="USD=100"))
OPENER = sealed.Opener.parse(sealed.DEVELOPMENT_PRIVATE_KEYS)


async def cancelled(world: World) -> tuple[small_scenario.Scenario, str, list[RebookingDecided]]:
    scenario = small_scenario.build()
    await load(world, scenario)
    sent = await world.publish(topics.FLIGHT_EVENTS, scenario.cancellation, source="partner/demo")
    return scenario, sent.id, [d for d in world.on(topics.REBOOKINGS) if isinstance(d, RebookingDecided)]


async def act(world: World, service: str, action: DeskAction, target: str, asked: dict, perform, key: str) -> dict:
    """One action as the service's route does it: in a transaction, audited, then its events on."""
    conn = world.connections[service]
    outbox = Outbox(SETTINGS, source=f"rebound/{service}")
    async with conn.transaction():
        answer = await desk.once(conn, outbox, action_id=key, agent="Ana Ruiz", action=action, target=target,
                                 why="passenger called the desk", asked=asked, perform=lambda: perform(conn, outbox))
        await outbox.flush(conn)
    await world.settle()
    return answer


async def test_an_agent_rebooks_onto_a_chosen_option_once_and_the_passengers_are_told_once(world: World):
    scenario, disruption_id, decided = await cancelled(world)
    rebooked = next(d for d in decided if d.outcome == "rebooked")
    rebooking = world.connections["rebooking"]
    # The alternatives are full now; the airline adds a recovery flight, and the agent picks it.
    later = next(f for f in scenario.flights if f.flight_id != scenario.cancellation_flight_id)
    recovery = later.model_copy(update={
        "number": "1999", "flight_id": flight_id("B6", "1999", scenario.cancellation.flight.departure_date, "JFK"),
        "origin": "JFK", "scheduled_departure": later.scheduled_departure + timedelta(hours=1),
        "scheduled_arrival": later.scheduled_arrival + timedelta(hours=1)})
    await world.publish(topics.SCHEDULE, recovery)
    case = await rebooking_desk.view(rebooking, REBOOKING, disruption_id, rebooked.booking_ref)
    assert case.outcome == "rebooked" and case.current
    option = next(o for o in case.options if [f.flight_id for f in o.flights] == [recovery.flight_id])
    key = str(uuid.uuid4())

    def perform(conn, outbox):
        return rebooking_desk.rebook(conn, outbox, REBOOKING, disruption_id, rebooked.booking_ref,
                                     option.option_id, key)
    before = len(world.published)
    answer = await act(world, "rebooking", "rebook", rebooked.booking_ref, {"option": option.option_id}, perform, key)
    assert answer["flights"] == [f.flight_id for f in option.flights]
    again = await act(world, "rebooking", "rebook", rebooked.booking_ref, {"option": option.option_id}, perform, key)
    assert again == answer
    after = [e.data for _, e in world.published[before:]]
    revised = [d for d in after if isinstance(d, RebookingDecided)]
    assert len(revised) == 1 and revised[0].outcome == "rebooked"
    assert [s.flight_id for s in revised[0].segments] == answer["flights"]
    told = [n for n in after if isinstance(n, NoticeRequested) and n.template == "rebooked"]
    assert len(told) == 1 and sorted(told[0].passenger_ids) == sorted(rebooked.passenger_ids)
    assert [a.agent for a in after if isinstance(a, AgentActed)] == ["Ana Ruiz"]
    # Notify plans it beside the first decision's notice, not as a repeat of it.
    revisions = await world.connections["notify"].fetch(
        "SELECT DISTINCT template, revision FROM deliveries WHERE booking_ref = $1 AND stage = 'rebooking'",
        rebooked.booking_ref)
    assert sorted((r["template"], r["revision"]) for r in revisions) == [("rebooked", 0), ("rebooked", 1)]
    # Never a seat that does not exist; the board follows the move; the audit names who and why.
    assert await rebooking.fetchval("SELECT count(*) FROM cabins WHERE sold > capacity") == 0
    log = await world.connections["disruption"].fetchrow("SELECT * FROM desk_log WHERE action_id = $1", key)
    assert log["agent"] == "Ana Ruiz" and log["why"] == "passenger called the desk" and log["action"] == "rebook"
    with pytest.raises(desk.Refused, match="different action"):
        await act(world, "rebooking", "rebook", rebooked.booking_ref, {"option": "economy:ELSEWHERE"}, perform, key)


async def test_a_journey_already_refunded_cannot_be_rebooked(world: World):
    _, disruption_id, decided = await cancelled(world)
    refunded = next(d for d in decided if d.outcome == "no_alternative")
    with pytest.raises(desk.Refused, match="no longer holds seats"):
        await rebooking_desk.view(world.connections["rebooking"], REBOOKING, disruption_id, refunded.booking_ref)


async def test_goodwill_vouchers_stay_within_the_limit_and_reach_the_passenger(world: World):
    scenario, disruption_id, _ = await cancelled(world)
    booking = next(b for b in scenario.bookings if b.booking_ref in scenario.disrupted_refs)
    passenger = booking.passengers[0].passenger_id

    def voucher(amount: str, currency: str = "USD"):
        given = compensation_desk.Voucher(why="stranded overnight", passenger_id=passenger,
                                          amount=Decimal(amount), currency=currency)
        key = str(uuid.uuid4())
        return act(world, "compensation", "voucher", booking.booking_ref, {"amount": amount}, lambda conn, outbox:
                   compensation_desk.grant(conn, outbox, COMPENSATION, disruption_id, booking.booking_ref, given,
                                           key, "Ana Ruiz"), key)
    granted = await voucher("60")
    assert granted["amount"] == "60.00" and granted["currency"] == "USD"
    with pytest.raises(desk.Refused, match="past the limit"):
        await voucher("50")  # 60 + 50 > 100
    with pytest.raises(desk.Refused, match="ticket's currency, USD, not EUR"):
        await voucher("10", "EUR")  # found here: a second limit in every currency the agent picked
    await voucher("40")  # exactly the limit
    credits = [g for e in world.on(topics.ENTITLEMENTS) if isinstance(e, EntitlementsGranted) for g in e.grants
               if g.rule == compensation_desk.RULE]
    assert [g.amount for g in credits] == [Decimal("60.00"), Decimal("40.00")]
    assert all(g.code and g.code.startswith(sealed.PREFIX) for g in credits)  # never readable on the topic
    planned = await world.connections["notify"].fetch(
        "SELECT DISTINCT disruption_id FROM deliveries WHERE passenger_id = $1 AND stage = 'entitlements'"
        " AND disruption_id LIKE 'desk/%'", passenger)
    assert len(planned) == 2


async def test_the_goodwill_limit_covers_every_disruption_of_the_flight(world: World):
    """Found here: each step of a growing delay was a disruption of its own, with a limit of its
    own. The same flight's earlier disruption counts against the same limit."""
    scenario, disruption_id, _ = await cancelled(world)
    booking = next(b for b in scenario.bookings if b.booking_ref in scenario.disrupted_refs)
    compensation = world.connections["compensation"]
    # The flight was delayed before it was cancelled: an earlier case of the same flight.
    await compensation.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, kind, cause, delay_minutes, flight_id)
           SELECT 'earlier-delay', booking_ref, passenger_ids, 'delayed', cause, 90, flight_id FROM cases
           WHERE disruption_id = $1 AND booking_ref = $2""", disruption_id, booking.booking_ref)

    def voucher(on: str, amount: str):
        given = compensation_desk.Voucher(why="a long wait", passenger_id=booking.passengers[0].passenger_id,
                                          amount=Decimal(amount), currency="USD")
        key = str(uuid.uuid4())
        return act(world, "compensation", "voucher", booking.booking_ref, {"amount": amount}, lambda conn, outbox:
                   compensation_desk.grant(conn, outbox, COMPENSATION, on, booking.booking_ref, given, key,
                                           "Ana Ruiz"), key)
    await voucher("earlier-delay", "70")
    with pytest.raises(desk.Refused, match="past the limit: 7000 of 10000"):
        await voucher(disruption_id, "50")
    await voucher(disruption_id, "30")


async def test_a_reviewed_message_reaches_every_disrupted_passenger_of_the_flight(world: World):
    scenario, _, _ = await cancelled(world)
    cancelled_id = scenario.cancellation_flight_id
    given = ops.FlightMessage(why="desk open", flight_id=cancelled_id, topic="care_at_airport",
                              place="Terminal 5, desk B")
    key = str(uuid.uuid4())
    answer = await act(world, "disruption", "message", cancelled_id, given.model_dump(exclude={"why"}),
                       lambda conn, outbox: ops.send_message(conn, outbox, given, key), key)
    assert answer["passengers"] == len(scenario.disrupted_passengers)
    messages = [n for n in world.on(topics.NOTICES) if isinstance(n, NoticeRequested) and n.stage == "desk"]
    assert sorted(p for n in messages for p in n.passenger_ids) == sorted(scenario.disrupted_passengers)
    notice = messages[0].facts
    assert "Terminal 5, desk B" in templates.render_notice(notice, "sms", "en", "Ana").body
    planned = await world.connections["notify"].fetchval(
        "SELECT count(DISTINCT passenger_id) FROM deliveries WHERE stage = 'desk'")
    assert planned == len(scenario.disrupted_passengers)


async def test_a_flights_passengers_hear_from_the_desk_a_few_times_an_hour_at_most(world: World):
    """A mistake, or a key in the wrong hands, cannot flood a flight's passengers: the fourth
    message within the hour is refused, whoever sends it."""
    scenario, _, _ = await cancelled(world)
    given = ops.FlightMessage(why="desk open", flight_id=scenario.cancellation_flight_id, topic="agents_at_desk",
                              place="Terminal 5, desk B")

    def message():
        key = str(uuid.uuid4())
        return act(world, "disruption", "message", given.flight_id, given.model_dump(exclude={"why"}),
                   lambda conn, outbox: ops.send_message(conn, outbox, given, key, per_hour=3), key)
    for _ in range(3):
        await message()
    with pytest.raises(desk.Refused, match="3 messages from the desk in the last hour") as refused:
        await message()
    assert refused.value.status_code == 429


async def test_one_key_used_at_two_services_is_two_audited_actions(world: World):
    """An idempotency key names one action at one service. Found here: the same key at a second
    service made an AgentActed of the same id, which the console's inbox took for a duplicate, and
    the second action vanished from the audit."""
    scenario, disruption_id, _ = await cancelled(world)
    booking = next(b for b in scenario.bookings if b.booking_ref in scenario.disrupted_refs)
    key = str(uuid.uuid4())
    given = compensation_desk.Voucher(why="long wait", passenger_id=booking.passengers[0].passenger_id,
                                      amount=Decimal("20"), currency="USD")
    await act(world, "compensation", "voucher", booking.booking_ref, {"amount": "20"}, lambda conn, outbox:
              compensation_desk.grant(conn, outbox, COMPENSATION, disruption_id, booking.booking_ref, given, key,
                                      "Ana Ruiz"), key)
    await act(world, "disruption", "handled", booking.booking_ref, {"disruption_id": disruption_id},
              lambda conn, outbox: ops.mark_handled(conn, disruption_id, booking.booking_ref, "Ana Ruiz"), key)
    logged = await world.connections["disruption"].fetch(
        "SELECT source, action FROM desk_log WHERE action_id = $1 ORDER BY source", key)
    assert [tuple(r) for r in logged] == [("rebound/compensation", "voucher"), ("rebound/disruption", "handled")]


async def test_a_case_marked_handled_leaves_the_worklist_and_the_kpis_read_the_tables(world: World):
    scenario, disruption_id, _ = await cancelled(world)
    disruption = world.connections["disruption"]
    kpis = await console.kpis(disruption)
    assert kpis["affected"] == len(scenario.disrupted_passengers) == kpis["with_outcome"]
    assert kpis["flights_disrupted"] >= 1
    assert any(m["currency"] == "USD" and Decimal(m["owed"]) > 0 for m in kpis["money"])
    # No provider in this tier: nobody is told, so nobody is unreachable either; make one so.
    ref = scenario.disrupted_refs[0]
    await disruption.execute("UPDATE recovery SET unreachable = true WHERE booking_ref = $1", ref)
    listed = await console.worklist(disruption, 1, 50)
    assert ref in {c["booking_ref"] for c in listed["cases"]}
    key = str(uuid.uuid4())
    await act(world, "disruption", "handled", ref, {"disruption_id": disruption_id},
              lambda conn, outbox: ops.mark_handled(conn, disruption_id, ref, "Ana Ruiz"), key)
    assert ref not in {c["booking_ref"] for c in (await console.worklist(disruption, 1, 50))["cases"]}
    timeline = await console.timeline(disruption)
    assert timeline["points"][-1]["affected"] == len(scenario.disrupted_passengers)
    page = await console.flights(disruption, console.FlightQuery(q=ref))
    assert page["total"] == 1
    # A search is for what it says: `%` and `_` are characters, not LIKE's wildcards (found here:
    # `%` listed every disrupted flight, a viewer's cheap way round the search's purpose).
    for wildcard in ("%", "_", "%_%"):
        assert (await console.flights(disruption, console.FlightQuery(q=wildcard)))["total"] == 0
    name = scenario.bookings[0].passengers[0].name or ""
    assert (await console.flights(disruption, console.FlightQuery(q=name.split("/")[0])))["total"] >= 1
