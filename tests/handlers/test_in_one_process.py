"""A whole disruption followed through the four services' handlers in one process: each service's
outbox piped into the next services' handlers, on real PostgreSQL, no Kafka. The scenario is the
demo's small one (bench/small_scenario.py): one cancelled flight, 17 passengers in 7 parties, and
two nearly full alternatives."""

import time

import pytest

from bench import play, small_scenario
from bench.play import load
from services.notify import templates
from shared import sealed, topics
from shared.events import EntitlementsGranted, FlightStatusChanged, RebookingDecided, notice_requests
from shared.notices import facts_of
from shared.notices import read as read_notice
from tests.handlers.world import World

pytestmark = pytest.mark.handlers

OPENER = sealed.Opener.parse(sealed.DEVELOPMENT_PRIVATE_KEYS)


async def test_a_cancellation_is_followed_to_every_passengers_outcome_and_notices(world: World):
    scenario = small_scenario.build()
    await load(world, scenario)
    started = time.perf_counter()
    cancellation = await world.publish(topics.FLIGHT_EVENTS, scenario.cancellation, source="partner/demo")
    took = time.perf_counter() - started
    print(f"\ncancellation to every outcome, in one process: {took * 1000:.0f} ms")  # the tier's speed, seen

    [status] = world.on(topics.FLIGHT_STATUS)
    assert isinstance(status, FlightStatusChanged) and status.status == "cancelled"
    # The flight's first notices in one message, to every booking.
    [first_notices] = world.on(topics.FLIGHT_NOTICES)
    assert sorted(n.booking_ref for n in notice_requests(first_notices)) == sorted(scenario.disrupted_refs)
    decided = [d for d in world.on(topics.REBOOKINGS) if isinstance(d, RebookingDecided)]
    # Everyone has an outcome, once: the 9 free seats on the alternatives go to whole parties.
    assert sorted(d.booking_ref for d in decided) == sorted(scenario.disrupted_refs)
    assert {d.outcome for d in decided} <= {"rebooked", "no_alternative"}
    seated = sum(len(d.passenger_ids) for d in decided if d.outcome == "rebooked")
    assert 0 < seated <= 9
    refunded = {d.booking_ref for d in decided if d.refund_due}
    granted = [g for e in world.on(topics.ENTITLEMENTS) if isinstance(e, EntitlementsGranted) for g in e.grants]
    assert {g.passenger_id for g in granted if g.kind == "refund"} == {
        p.passenger_id for b in scenario.bookings if b.booking_ref in refunded for p in b.passengers}
    # Notify planned a delivery for every passenger and stage, and the board knows who was told.
    notify, disruption = world.connections["notify"], world.connections["disruption"]
    planned = {(r["passenger_id"], r["stage"])
               for r in await notify.fetch("SELECT passenger_id, stage FROM deliveries")}
    assert {p for p, stage in planned if stage == "first_notice"} == set(scenario.disrupted_passengers)
    assert {p for p, stage in planned if stage == "rebooking"} == set(scenario.disrupted_passengers)
    outcomes = await disruption.fetch("SELECT passenger_id, outcome FROM recovery WHERE disruption_id = $1",
                                      cancellation.id)
    assert len(outcomes) == 17 and all(r["outcome"] for r in outcomes)
    assert world.dead_letters == []


async def test_every_notice_the_handlers_emit_renders_in_every_language_and_channel(world: World):
    """The templates render from what the handlers really publish, not from facts written for a test."""
    scenario = small_scenario.build()
    await load(world, scenario)
    await world.publish(topics.FLIGHT_EVENTS, scenario.cancellation, source="partner/demo")
    notices = [n for t in (topics.FLIGHT_NOTICES, topics.FIRST_NOTICES, topics.NOTICES) for e in world.on(t)
               for n in notice_requests(e)]
    assert {n.template for n in notices} >= {"first_notice_cancelled", "rebooked", "entitlements"}
    for n in notices:
        notice = read_notice(n.template, OPENER.open_all(facts_of(n.facts)))
        for channel in ("sms", "email"):
            for locale in templates.LOCALES:
                for passenger_id in n.passenger_ids:
                    rendered = templates.render_notice(notice, channel, locale, "Ana", passenger_id)
                    assert rendered.body and "None" not in rendered.body, (n.template, channel, locale)
                    assert channel == "sms" or rendered.subject


async def test_the_developer_command_plays_the_scenario_to_every_outcome(infrastructure):
    """`make play`: the same scenario on a scratch database of its own, reported booking by booking."""
    played = await play.play(infrastructure.admin_database_url)
    scenario = small_scenario.build()
    for ref in scenario.disrupted_refs:
        [line] = [line for line in played.splitlines() if line.startswith(ref)]
        assert "rebooked onto" in line or "refund due" in line, line
    assert "NO OUTCOME" not in played and played.count("first_notice text: ") == len(scenario.disrupted_refs)
    assert played.rstrip().endswith("dead-lettered 0")
