"""The compensation service's handlers on real PostgreSQL, each test rolled back: a disruption is
evaluated once both its halves are in, whichever comes first."""

from decimal import Decimal

import pytest

from services.compensation import store
from shared import topics
from shared.events import EntitlementsGranted, NoticeRequested, PassengerDisruption, RebookingDecided
from tests.handlers.airline import booking, flight, leg
from tests.handlers.world import event, handle, handle_batch, outbox_rows

pytestmark = pytest.mark.handlers

CANCELLED = flight("101", "JFK", "BOS", 17)


async def test_the_schedule_and_the_fares_are_kept(connections):
    conn = connections["compensation"]
    await handle(conn, "compensation", topics.SCHEDULE, event(CANCELLED))
    await handle(conn, "compensation", topics.BOOKINGS, event(booking("FARE01", CANCELLED, party=2, fare="250.50")))
    assert [leg.flight_id for leg in await store.legs(conn, [CANCELLED.flight_id])] == [CANCELLED.flight_id]
    fares = await conn.fetch("SELECT passenger_id, fare, paid_minor FROM passengers ORDER BY passenger_id")
    assert [(r["passenger_id"], str(r["fare"]), r["paid_minor"]) for r in fares] == [
        ("FARE01-1", "250.50", 25050), ("FARE01-2", "250.50", 25050)]


@pytest.mark.parametrize("decision_first", [False, True])
async def test_a_refund_is_granted_once_both_halves_are_in(connections, decision_first):
    conn = connections["compensation"]
    b = booking("RFND01", CANCELLED, fare="199")
    await handle(conn, "compensation", topics.SCHEDULE, event(CANCELLED))
    await handle(conn, "compensation", topics.BOOKINGS, event(b))
    happened = (topics.PASSENGER_DISRUPTIONS, event(PassengerDisruption(
        disruption_id="d-1", booking_ref="RFND01", passenger_ids=["RFND01-1"], flight=leg(CANCELLED),
        segments=[leg(CANCELLED)], kind="cancelled", cause="weather")))
    decided = (topics.REBOOKINGS, event(RebookingDecided(
        disruption_id="d-1", booking_ref="RFND01", passenger_ids=["RFND01-1"], outcome="no_alternative",
        reason="no flight with seats", refund_due=True, released_flight_ids=[CANCELLED.flight_id])))
    first, second = (decided, happened) if decision_first else (happened, decided)
    await handle(conn, "compensation", *first)
    assert await outbox_rows(conn) == []  # half a case: nothing to evaluate yet
    await handle(conn, "compensation", *second)
    published = await outbox_rows(conn)
    granted = [e.data for t, e in published if t == topics.ENTITLEMENTS]
    [notice] = [e.data for t, e in published if t == topics.NOTICES]
    assert isinstance(granted[0], EntitlementsGranted)
    refunds = [g for g in granted[0].grants if g.kind == "refund"]
    assert [(g.passenger_id, g.amount, g.currency) for g in refunds] == [("RFND01-1", Decimal("199"), "USD")]
    assert isinstance(notice, NoticeRequested) and notice.template == "entitlements"
    # The same half again changes nothing: nothing more is owed, nothing more is said.
    await handle(conn, "compensation", second[0], event(second[1].data))
    assert await outbox_rows(conn) == []


async def test_a_batch_is_evaluated_as_its_events_would_be_one_by_one(connections):
    """The consumer hands compensation a batch at once: two bookings' halves, one booking's decision
    twice (a redelivery under another id). Each booking is granted its refund once, as if the
    events had come one by one; the repeat, evaluated after the first, adds nothing."""
    conn = connections["compensation"]
    await handle(conn, "compensation", topics.SCHEDULE, event(CANCELLED))
    for ref in ("BATCH1", "BATCH2"):
        await handle(conn, "compensation", topics.BOOKINGS, event(booking(ref, CANCELLED, fare="120")))

    def happened(ref: str) -> PassengerDisruption:
        return PassengerDisruption(disruption_id="d-b", booking_ref=ref, passenger_ids=[f"{ref}-1"],
                                   flight=leg(CANCELLED), segments=[leg(CANCELLED)], kind="cancelled", cause="crew")

    def decided(ref: str) -> RebookingDecided:
        return RebookingDecided(disruption_id="d-b", booking_ref=ref, passenger_ids=[f"{ref}-1"],
                                outcome="no_alternative", reason="no flight with seats", refund_due=True,
                                released_flight_ids=[CANCELLED.flight_id])

    await handle_batch(conn, topics.PASSENGER_DISRUPTIONS, [event(happened("BATCH1")), event(happened("BATCH2"))])
    assert await outbox_rows(conn) == []
    await handle_batch(conn, topics.REBOOKINGS, [event(decided("BATCH1")), event(decided("BATCH2")),
                                                 event(decided("BATCH1"))])
    granted = [e.data for t, e in await outbox_rows(conn) if t == topics.ENTITLEMENTS]
    refunds = sorted((g.passenger_id, g.amount) for e in granted for g in e.grants if g.kind == "refund")
    assert refunds == [("BATCH1-1", Decimal("120")), ("BATCH2-1", Decimal("120"))]
    assert await conn.fetchval("SELECT count(*) FROM payouts") == 2
