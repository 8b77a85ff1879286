"""The rebooking service's handlers, and its assignment round, on real PostgreSQL, each test
rolled back; what they publish is read from their outbox."""

import dataclasses

import pytest

from services.rebooking import assignment
from shared import sealed, topics
from shared.events import FlightStatusChanged, NoticeRequested, PassengerDisruption, RebookingDecided, event_id
from tests.handlers.airline import booking, flight, leg
from tests.handlers.world import REBOOKING, event, handle, outbox_rows

pytestmark = pytest.mark.handlers

CANCELLED = flight("101", "JFK", "BOS", 17, seats=10)
LATER = flight("103", "JFK", "BOS", 20, seats=4)
DISRUPTION_ID = event_id("test", "disruption")  # a UUID, as every disruption id is


def disruption(b, kind: str = "cancelled", **kw) -> PassengerDisruption:
    return PassengerDisruption(disruption_id=DISRUPTION_ID, booking_ref=b.booking_ref,
                               passenger_ids=[p.passenger_id for p in b.passengers], flight=leg(CANCELLED),
                               segments=[leg(CANCELLED)], kind=kind, cause="weather", **kw)


async def seats_sold(conn, f) -> int:
    return await conn.fetchval("SELECT sum(sold) FROM cabins WHERE flight_id = $1", f.flight_id)


async def test_a_scheduled_flight_has_its_cabins_and_counts_seats_booked_before_it(connections):
    conn = connections["rebooking"]
    await handle(conn, "rebooking", topics.BOOKINGS, event(booking("EARLY1", LATER, party=2)))
    await handle(conn, "rebooking", topics.SCHEDULE, event(LATER))
    assert await seats_sold(conn, LATER) == 2
    assert await outbox_rows(conn) == []


async def test_bookings_hold_their_seats_and_a_booking_seen_before_is_left_as_it_is(connections):
    conn = connections["rebooking"]
    await handle(conn, "rebooking", topics.SCHEDULE, event(LATER))
    await handle(conn, "rebooking", topics.BOOKINGS, event(booking("SEATS1", LATER, party=3)))
    await handle(conn, "rebooking", topics.BOOKINGS, event(booking("SEATS1", LATER, party=1)))
    assert await seats_sold(conn, LATER) == 3


async def test_the_status_feed_says_which_flights_are_gone(connections):
    conn = connections["rebooking"]
    await handle(conn, "rebooking", topics.SCHEDULE, event(LATER))
    await handle(conn, "rebooking", topics.FLIGHT_STATUS,
                 event(FlightStatusChanged(flight_id=LATER.flight_id, status="cancelled")))
    assert await conn.fetchval("SELECT status FROM flights WHERE flight_id = $1", LATER.flight_id) == "cancelled"


async def test_a_delayed_booking_keeps_its_flight_at_once(connections):
    conn = connections["rebooking"]
    b = booking("KEEP01", CANCELLED)
    await handle(conn, "rebooking", topics.PASSENGER_DISRUPTIONS, event(disruption(b, "delayed", delay_minutes=95)))
    [(topic, decided)] = await outbox_rows(conn)
    assert topic == topics.REBOOKINGS and isinstance(decided.data, RebookingDecided)
    assert (decided.data.outcome, decided.data.arrival_delay_minutes) == ("kept", 95)


async def test_a_cancelled_booking_waits_for_the_round_which_moves_it_and_links_its_choice(connections):
    conn = connections["rebooking"]
    for f in (CANCELLED, LATER):
        await handle(conn, "rebooking", topics.SCHEDULE, event(f))
    b = booking("MOVE01", CANCELLED, party=2)
    await handle(conn, "rebooking", topics.BOOKINGS, event(b))
    await handle(conn, "rebooking", topics.PASSENGER_DISRUPTIONS, event(disruption(b)))
    assert await outbox_rows(conn) == []  # decided in the next round, with every booking pending
    assert await assignment.assign_round(conn, REBOOKING) == 1
    published = await outbox_rows(conn)
    decided = [e.data for t, e in published if t == topics.REBOOKINGS]
    notices = [e.data for t, e in published if t == topics.NOTICES]
    assert [(d.outcome, [s.flight_id for s in d.segments]) for d in decided] == [("rebooked", [LATER.flight_id])]
    assert decided[0].released_flight_ids == [CANCELLED.flight_id]
    [notice] = notices
    assert isinstance(notice, NoticeRequested) and notice.template == "rebooked"
    assert notice.facts.new_flight == "B6 103"
    # Each passenger's link travels sealed for notify alone.
    opened = sealed.Opener.parse(sealed.DEVELOPMENT_PRIVATE_KEYS).open_all(notice.facts.choice_urls)
    assert sorted(opened) == ["MOVE01-1", "MOVE01-2"]
    assert all(url.startswith("http://127.0.0.1:8002/choice/") for url in opened.values())
    assert await seats_sold(conn, LATER) == 2
    assert await assignment.assign_round(conn, REBOOKING) == 0  # settled once


async def test_where_the_airline_sells_journeys_of_more_stops_a_booking_is_moved_through_two(connections):
    """With up to four legs allowed (REBOUND_MAX_LEGS), the round loads the flights between any
    airports: JFK–BOS is full but for JFK–ORD–DEN–BOS, which is offered and booked."""
    conn = connections["rebooking"]
    via = [flight("201", "JFK", "ORD", 18), flight("202", "ORD", "DEN", 21, minutes=45), flight("203", "DEN", "BOS", 23,
                                                                                    minutes=240)]
    full = flight("104", "JFK", "BOS", 19, seats=1)
    for f in (CANCELLED, full, *via):
        await handle(conn, "rebooking", topics.SCHEDULE, event(f))
    await handle(conn, "rebooking", topics.BOOKINGS, event(booking("FILLED", full)))
    b = booking("STOPS2", CANCELLED)
    await handle(conn, "rebooking", topics.BOOKINGS, event(b))
    await handle(conn, "rebooking", topics.PASSENGER_DISRUPTIONS, event(disruption(b)))
    config = dataclasses.replace(REBOOKING, rules=dataclasses.replace(REBOOKING.rules, max_legs=4))
    assert await assignment.assign_round(conn, config) == 1
    [decided] = [e.data for t, e in await outbox_rows(conn) if t == topics.REBOOKINGS]
    assert (decided.outcome, [s.flight_id for s in decided.segments]) == ("rebooked", [f.flight_id for f in via])
