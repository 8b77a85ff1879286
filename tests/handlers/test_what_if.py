"""A what-if plan's preview against what the services then really do with the same events: each
owner's part computed from its own tables (disruption's manifests and rules, rebooking's seats and
solver, compensation's fares and engine, notify's contacts), then the plan's events handled for
real through all four services' handlers, and the two set side by side: passengers hit,
re-accommodated, refunded, and every grant of money, equal. And the preview changes nothing."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from bench import small_scenario
from bench.play import load
from services.compensation import what_if as compensation_what_if
from services.disruption import planning, store
from services.disruption.what_if import PLAN_SOURCE, plan_events
from services.disruption.what_if import load as load_plan
from services.notify import store as notify_store
from services.notify import what_if as notify_what_if
from services.rebooking import what_if as rebooking_what_if
from shared import topics
from shared.events import EntitlementsGranted, FlightDelayed, RebookingDecided
from shared.what_if import MoneyAsked, Plan, RebookingAsked
from tests.handlers import airline
from tests.handlers.world import CONFIGS, World

pytestmark = pytest.mark.handlers


async def previewed(world: World, plan: Plan) -> dict:
    """The preview as the four services compute it, each on its own connection and tables."""
    c = world.connections
    config = CONFIGS["disruption"]
    at = datetime.now(UTC)
    loaded = await load_plan(c["disruption"], plan)
    played = planning.play(plan_events(plan, loaded, at, "test"), await store.seen_on(c["disruption"], loaded.rows),
                           at=at, source=PLAN_SOURCE, minimum_connecting=config.connecting.minimum_minutes,
                           same_city=config.connecting.same_city)
    rebooked = await rebooking_what_if.preview(c["rebooking"], CONFIGS["rebooking"], RebookingAsked(
        disruptions=played.hurt, planned=list(played.planned.values()), budget_seconds=3.0))
    money = await compensation_what_if.preview(c["compensation"], CONFIGS["compensation"].book,
                                               MoneyAsked(disruptions=played.hurt, decided=rebooked.decided))
    contacts = await notify_store.contacts(c["notify"], [(d.booking_ref, p) for d in played.hurt
                                                         for p in d.passenger_ids])
    notices = notify_what_if.forecast(contacts, [(d.booking_ref, d.passenger_ids) for d in played.hurt], {},
                                      notify_what_if.configured_rates(CONFIGS["notify"]))
    return {"played": played, "hit": planning.hit_figures(played), "decided": rebooked.decided,
            "rebooking": planning.rebooking_figures(played.hurt, rebooked), "money": money, "notices": notices}


async def snapshot(conn: asyncpg.Connection) -> list[tuple]:
    """Every row a preview could have written, in every service's schema."""
    tables = await conn.fetch("SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2")
    return [(t["schemaname"], t["relname"], await conn.fetchval(f'SELECT count(*) FROM "{t["schemaname"]}".'
                                                                 f'"{t["relname"]}"')) for t in tables]


def grants_of(world: World) -> dict[tuple[str, str, str], Decimal]:
    owed: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for e in world.on(topics.ENTITLEMENTS):
        if isinstance(e, EntitlementsGranted):
            for g in e.grants:
                owed[(g.currency, g.kind, g.regime)] += g.added
    return owed


async def test_a_cancellation_previewed_is_what_the_services_then_do(world: World):
    scenario = small_scenario.build()
    await load(world, scenario)
    plan = Plan(name="cancel the 07:00 to Boston", changes=[
        {"action": "cancel", "flights": [scenario.cancellation_flight_id], "cause": scenario.cancellation.reason}])
    before = await snapshot(world.connections["disruption"])
    shown = await previewed(world, plan)
    assert await snapshot(world.connections["disruption"]) == before, "a preview writes nothing, anywhere"
    assert world.on(topics.FLIGHT_EVENTS) == [] and world.on(topics.REBOOKINGS) == []

    # The same event, handled for real by the four services.
    real = await world.publish(topics.FLIGHT_EVENTS, scenario.cancellation, source="partner/demo")
    decided = [d for d in world.on(topics.REBOOKINGS) if isinstance(d, RebookingDecided)]
    hit = shown["hit"]
    assert hit["passengers"] == len(scenario.disrupted_passengers) == 17
    assert hit["bookings"] == len(scenario.disrupted_refs)
    assert sorted(d.booking_ref for d in shown["played"].hurt) == sorted(scenario.disrupted_refs)
    by_outcome = Counter[str]()
    for d in decided:
        by_outcome[d.outcome] += len(d.passenger_ids)
    assert shown["rebooking"]["rebooked"] == by_outcome["rebooked"] > 0
    assert shown["rebooking"]["refunded"] == by_outcome["no_alternative"] + by_outcome["returned"] > 0
    assert shown["rebooking"]["needs_agent"] == by_outcome["needs_agent"]
    # The same bookings rebooked, onto the same flights.
    assert {(d.booking_ref, tuple(s.flight_id for s in d.segments)) for d in decided if d.outcome == "rebooked"} == {
        (d.booking_ref, tuple(s.flight_id for s in d.segments)) for d in shown["decided"] if d.outcome == "rebooked"}
    # Every grant of money and care, to the cent, by currency, kind and regime.
    owed = grants_of(world)
    assert owed, "a cancellation owes something"
    assert {(o.currency, o.kind, o.regime): o.amount for o in shown["money"].owed if o.amount} == dict(owed)
    assert shown["money"].passengers_not_evaluated == 0
    # The first notices: a delivery for each passenger on each channel they gave.
    planned = Counter(r["channel"] for r in await world.connections["notify"].fetch(
        "SELECT channel FROM deliveries WHERE disruption_id = $1 AND stage = 'first_notice'", real.id))
    assert shown["notices"].by_channel == dict(planned)
    assert sum(shown["notices"].by_language.values()) + shown["notices"].unreachable == 17


async def test_a_delay_previewed_is_kept_and_owed_as_the_services_then_decide(world: World):
    """A three-hour delay: the flight still goes, so everyone keeps it, and is owed what a delay
    of that length owes (care; no compensation for a crew problem on a US domestic flight)."""
    scenario = small_scenario.build(run=1)
    await load(world, scenario)
    flight = scenario.flights[0]
    plan = Plan(changes=[{"action": "delay", "flights": [flight.flight_id], "minutes": 180, "cause": "crew"}])
    shown = await previewed(world, plan)
    assert shown["hit"]["passengers"] == 17 and shown["hit"]["by_kind"] == {"delayed": 17}
    late = flight.scheduled_departure + timedelta(minutes=180)
    await world.publish(topics.FLIGHT_EVENTS, FlightDelayed(
        partner_event_id="delay-180", flight=scenario.cancellation.flight, estimated_departure=late,
        estimated_arrival=flight.scheduled_arrival + timedelta(minutes=180), reason="crew"), source="partner/demo")
    decided = [d for d in world.on(topics.REBOOKINGS) if isinstance(d, RebookingDecided)]
    assert sum(len(d.passenger_ids) for d in decided) == 17
    real = Counter[str]()
    for d in decided:
        real[d.outcome] += len(d.passenger_ids)
    assert shown["rebooking"]["kept"] == real["kept"]
    assert shown["rebooking"]["rebooked"] == real["rebooked"]
    assert {(o.currency, o.kind, o.regime): o.amount for o in shown["money"].owed if o.amount} == dict(grants_of(world))
    assert Decimal(0) <= sum((o.exempt for o in shown["money"].owed), Decimal(0))


async def test_a_delay_that_breaks_connections_and_owes_eu261_is_previewed_as_the_services_then_do(world: World):
    """London to New York in February 2013, delayed five hours, and the Boston flight its passengers
    would miss: the delay they keep, the broken connection they are rebooked from (onto the next
    morning's Boston flight, while its seats last), and what EU261 owes a journey that departs an EU
    member state (as the UK was until 2020) and arrives hours late (Art. 5 and 7, Sturgeon C-402/07):
    compensation in euros, meals, and what bad weather would exempt (Art. 5(3))."""
    inbound = airline.flight("1", "LHR", "JFK", 10, minutes=480, seats=200)
    onward = airline.flight("2", "JFK", "BOS", 20, seats=20)
    later = airline.flight("4", "JFK", "BOS", 2, seats=3, day=airline.DAY + timedelta(days=1))
    parties = [airline.booking(f"UKT{i:03d}", inbound, onward, party=2, fare="900") for i in range(3)]
    alone = airline.booking("UKN001", inbound, party=1, fare="700")
    for f in (inbound, onward, later):
        await world.publish(topics.SCHEDULE, f)
    for b in (*parties, alone):
        await world.publish(topics.BOOKINGS, b)
        await airline.contacts(world.connections["notify"], b, ["sms", "email"])
    for cause in ("weather", "technical"):
        plan = Plan(changes=[{"action": "delay", "flights": [inbound.flight_id], "minutes": 300, "cause": cause}])
        shown = await previewed(world, plan)
        assert shown["hit"] == {"flights": 1, "bookings": 4, "passengers": 7, "by_kind": {"connection_at_risk": 6,
                                                                                            "delayed": 1},
                                "connections_broken": 6}
        # The later flight's 3 seats: one party of two is rebooked, the others refunded.
        assert shown["rebooking"]["rebooked"] == 2 and shown["rebooking"]["refunded"] == 4
        assert shown["rebooking"]["kept"] == 1
        exempt = sum((o.exempt for o in shown["money"].owed), Decimal(0))
        assert (exempt > 0) == (cause == "weather"), "weather is extraordinary; a technical fault is not"
    await world.publish(topics.FLIGHT_EVENTS, FlightDelayed(
        partner_event_id="delay-300", flight=airline.ref(inbound),
        estimated_departure=inbound.scheduled_departure + timedelta(minutes=300),
        estimated_arrival=inbound.scheduled_arrival + timedelta(minutes=300), reason="technical"),
        source="partner/airline")
    decided = [d for d in world.on(topics.REBOOKINGS) if isinstance(d, RebookingDecided)]
    assert sorted((d.booking_ref, d.outcome) for d in decided) == sorted(
        (d.booking_ref, d.outcome) for d in shown["decided"])
    owed = grants_of(world)
    assert ("EUR", "compensation", "EU261") in owed
    assert {(o.currency, o.kind, o.regime): o.amount for o in shown["money"].owed if o.amount} == dict(owed)
