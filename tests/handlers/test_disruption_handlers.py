"""The disruption service's handlers on real PostgreSQL, each test rolled back; what they publish
is read from their outbox."""

from datetime import timedelta

import pytest

from services.disruption import store
from shared import topics
from shared.events import (
    EntitlementsGranted,
    FlightCancelled,
    FlightDelayed,
    FlightNoticeRequested,
    FlightStatusChanged,
    Grant,
    NoticeDelivered,
    PassengerDisruption,
    RebookingDecided,
)
from tests.handlers.airline import booking, flight, leg, ref
from tests.handlers.world import event, handle, outbox_rows

pytestmark = pytest.mark.handlers

JFK_BOS = flight("101", "JFK", "BOS", 17)
BOS_PWM = flight("205", "BOS", "PWM", 19, minutes=50)


async def given(conn, *events) -> None:
    """The service has handled these (topic, payload) and published whatever they caused."""
    for topic, payload in events:
        await handle(conn, "disruption", topic, event(payload))
    await outbox_rows(conn)


async def test_a_scheduled_flight_is_kept_as_it_is_scheduled(connections):
    conn = connections["disruption"]
    assert await handle(conn, "disruption", topics.SCHEDULE, event(JFK_BOS))
    row = await conn.fetchrow("SELECT origin, destination, status, departure_date FROM flights WHERE flight_id = $1",
                              JFK_BOS.flight_id)
    assert dict(row) == {"origin": "JFK", "destination": "BOS", "status": "scheduled",
                         "departure_date": JFK_BOS.scheduled_departure.date()}
    assert await outbox_rows(conn) == []


async def test_bookings_build_the_manifest_and_a_new_version_replaces_the_old(connections):
    conn = connections["disruption"]
    await handle(conn, "disruption", topics.BOOKINGS, event(booking("ABC123", JFK_BOS, BOS_PWM, party=2)))
    await handle(conn, "disruption", topics.BOOKINGS, event(booking("ABC123", JFK_BOS, party=3)))
    manifest = await conn.fetch("SELECT flight_id, passenger_ids FROM manifest WHERE booking_ref = 'ABC123'")
    assert [(r["flight_id"], len(r["passenger_ids"])) for r in manifest] == [(JFK_BOS.flight_id, 3)]


async def test_a_cancellation_tells_every_booking_first_and_publishes_its_disruption(connections):
    conn = connections["disruption"]
    await given(conn, (topics.SCHEDULE, JFK_BOS), (topics.BOOKINGS, booking("ABC123", JFK_BOS, party=2)),
                (topics.BOOKINGS, booking("DEF456", JFK_BOS)))
    cancelled = event(FlightCancelled(partner_event_id="c1", flight=ref(JFK_BOS), reason="weather"),
                      source="partner/jetblue")
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, cancelled)
    published = await outbox_rows(conn)
    # One notice for the flight, ahead of the disruptions: the first-notice path's work is per flight.
    assert [t for t, _ in published] == [topics.FLIGHT_STATUS, topics.FLIGHT_NOTICES] + \
        [topics.PASSENGER_DISRUPTIONS] * 2
    status = published[0][1].data
    assert isinstance(status, FlightStatusChanged) and status.status == "cancelled"
    notice, disruption = published[1][1].data, published[2][1].data
    assert isinstance(notice, FlightNoticeRequested) and isinstance(disruption, PassengerDisruption)
    assert published[1][1].subject == JFK_BOS.flight_id
    assert (notice.facts.kind, notice.stage, notice.about) == ("first_notice_cancelled", "first_notice",
                                                                JFK_BOS.flight_id)
    assert [(a.booking_ref, a.passenger_ids, a.disruption_id) for a in notice.addressees] == [
        ("ABC123", ["ABC123-1", "ABC123-2"], cancelled.id), ("DEF456", ["DEF456-1"], cancelled.id)]
    assert notice.facts.cause == "weather" and notice.facts.flight == "B6 101"
    assert (disruption.kind, disruption.cause, disruption.disruption_id) == ("cancelled", "weather", cancelled.id)
    # A partner's clock orders its news; the announcement is when Rebound accepted it.
    assert disruption.announced_at == cancelled.time
    recovery = await conn.fetch("SELECT passenger_id FROM recovery ORDER BY passenger_id")
    assert [r["passenger_id"] for r in recovery] == ["ABC123-1", "ABC123-2", "DEF456-1"]
    # The same event again is the inbox's to drop; a new cancellation of a cancelled flight tells nobody.
    assert not await handle(conn, "disruption", topics.FLIGHT_EVENTS, cancelled)
    await handle(conn, "disruption", topics.FLIGHT_EVENTS,
                 event(FlightCancelled(partner_event_id="c2", flight=ref(JFK_BOS), reason="crew")))
    assert await outbox_rows(conn) == []


async def test_a_delay_that_breaks_a_connection_tells_the_connecting_booking(connections):
    conn = connections["disruption"]
    await given(conn, (topics.SCHEDULE, JFK_BOS), (topics.SCHEDULE, BOS_PWM),
                (topics.BOOKINGS, booking("CNX001", JFK_BOS, BOS_PWM)))
    late = JFK_BOS.scheduled_departure + timedelta(minutes=100)
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, event(FlightDelayed(
        partner_event_id="d1", flight=ref(JFK_BOS), estimated_departure=late,
        estimated_arrival=late + timedelta(minutes=75), reason="technical")))
    notices = [e.data for t, e in await outbox_rows(conn) if t == topics.FLIGHT_NOTICES]
    assert sorted(n.facts.kind for n in notices) == ["first_notice_connection_at_risk", "first_notice_delayed"]
    at_risk = next(n for n in notices if n.facts.kind == "first_notice_connection_at_risk")
    assert at_risk.facts.inbound_flight == "B6 101" and at_risk.facts.flight == "B6 205"
    assert at_risk.about == BOS_PWM.flight_id and [a.booking_ref for a in at_risk.addressees] == ["CNX001"]


async def test_an_event_for_a_flight_not_in_the_schedule_is_kept_and_tells_nobody(connections):
    conn = connections["disruption"]
    await handle(conn, "disruption", topics.FLIGHT_EVENTS,
                 event(FlightCancelled(partner_event_id="u1", flight=ref(JFK_BOS), reason="weather")))
    assert await conn.fetchval("SELECT effect FROM flight_events") == "unmatched: flight not in the schedule"
    assert await outbox_rows(conn) == []


async def test_a_booking_moved_onto_a_flight_cancelled_meanwhile_is_disrupted_again(connections):
    conn = connections["disruption"]
    later = flight("103", "JFK", "BOS", 20)
    await given(conn, (topics.SCHEDULE, JFK_BOS), (topics.SCHEDULE, later),
                (topics.BOOKINGS, booking("MOV001", JFK_BOS)))
    first = event(FlightCancelled(partner_event_id="c1", flight=ref(JFK_BOS), reason="weather"))
    second = event(FlightCancelled(partner_event_id="c2", flight=ref(later), reason="crew"))
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, first)
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, second)
    await outbox_rows(conn)
    moved = RebookingDecided(disruption_id=first.id, booking_ref="MOV001", passenger_ids=["MOV001-1"],
                             outcome="rebooked", reason="the next flight with seats",
                             segments=[leg(later)],
                             released_flight_ids=[JFK_BOS.flight_id])
    await handle(conn, "disruption", topics.REBOOKINGS, event(moved))
    assert [r["flight_id"] for r in await conn.fetch("SELECT flight_id FROM manifest")] == [later.flight_id]
    again = [e.data for t, e in await outbox_rows(conn) if t == topics.PASSENGER_DISRUPTIONS]
    assert [(d.disruption_id, d.flight.flight_id, d.cause) for d in again] == [(second.id, later.flight_id, "crew")]
    assert await conn.fetchval("SELECT outcome FROM recovery WHERE disruption_id = $1", first.id) == "rebooked"


async def test_a_refund_granted_marks_the_passenger_refunded_on_the_board(connections):
    conn = connections["disruption"]
    await given(conn, (topics.SCHEDULE, JFK_BOS), (topics.BOOKINGS, booking("REF001", JFK_BOS)))
    cancelled = event(FlightCancelled(partner_event_id="c1", flight=ref(JFK_BOS), reason="weather"))
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, cancelled)
    grant = Grant(passenger_id="REF001-1", regime="US_DOT", kind="refund", rule="us_dot.cancelled",
                  rule_version="2024", amount="199", added="199", currency="USD", reason="cancelled",
                  source="test")
    await handle(conn, "disruption", topics.ENTITLEMENTS, event(EntitlementsGranted(
        disruption_id=cancelled.id, booking_ref="REF001", grants=[grant])))
    assert await conn.fetchval("SELECT refunded FROM recovery WHERE passenger_id = 'REF001-1'") is True


async def test_delivery_reports_mark_who_was_told_and_who_could_not_be_reached(connections):
    conn = connections["disruption"]
    await given(conn, (topics.SCHEDULE, JFK_BOS), (topics.BOOKINGS, booking("DLV001", JFK_BOS, party=2)))
    cancelled = event(FlightCancelled(partner_event_id="c1", flight=ref(JFK_BOS), reason="weather"))
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, cancelled)

    def report(passenger: str, status: str) -> NoticeDelivered:
        return NoticeDelivered(disruption_id=cancelled.id, booking_ref="DLV001", passenger_id=passenger,
                               stage="first_notice", channel="sms", status=status)
    for payload in (report("DLV001-1", "sent"), report("DLV001-2", "failed"), report("DLV001-1", "failed")):
        await handle(conn, "disruption", topics.NOTICE_DELIVERIES, event(payload))
    rows = await conn.fetch("SELECT passenger_id, notified, unreachable FROM recovery ORDER BY passenger_id")
    assert [tuple(r) for r in rows] == [("DLV001-1", True, False), ("DLV001-2", False, True)]


async def test_the_board_counts_who_still_waits_for_an_outcome(connections):
    conn = connections["disruption"]
    await given(conn, (topics.SCHEDULE, JFK_BOS), (topics.BOOKINGS, booking("WAIT01", JFK_BOS, party=2)),
                (topics.BOOKINGS, booking("WAIT02", JFK_BOS)))
    cancelled = event(FlightCancelled(partner_event_id="c1", flight=ref(JFK_BOS), reason="weather"))
    await handle(conn, "disruption", topics.FLIGHT_EVENTS, cancelled)
    waiting, longest = await store.awaiting_outcome(conn)
    assert waiting == 3 and longest >= 0
    await handle(conn, "disruption", topics.REBOOKINGS, event(RebookingDecided(
        disruption_id=cancelled.id, booking_ref="WAIT01", passenger_ids=["WAIT01-1", "WAIT01-2"],
        outcome="no_alternative", reason="no flight with seats", refund_due=True)))
    assert (await store.awaiting_outcome(conn))[0] == 1
