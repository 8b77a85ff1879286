"""Every kind of passenger notice, as the handlers really emit it, renders in every channel and
language. One day's small schedule is run through the four services' handlers in one process
(tests/handlers/world.py); each event below is there to make the services say one kind of thing."""

from datetime import timedelta

import pytest

from services.notify import templates
from services.rebooking import answers
from shared import notices, sealed, topics
from shared.events import (
    BookingConfirmed,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightReinstated,
    FlightRetimed,
    FlightScheduled,
    NoticeRequested,
    Passenger,
    notice_requests,
)
from tests.handlers.airline import booking, contacts, flight, ref
from tests.handlers.world import REBOOKING, World

pytestmark = pytest.mark.handlers

OPENER = sealed.Opener.parse(sealed.DEVELOPMENT_PRIVATE_KEYS)

# JFK → BOS, cancelled: a pair rebooked onto the evening flight, then changing to the late one; a
# party of five with no flight that has room for all of them.
CANCELLED = flight("101", "JFK", "BOS", 17, seats=20)
EVENING = flight("103", "JFK", "BOS", 20, seats=4)
LATE = flight("105", "JFK", "BOS", 22, seats=4)
# JFK → PWM, cancelled: an unaccompanied minor, with no other direct flight (only via Boston).
TO_PORTLAND = flight("301", "JFK", "PWM", 17, seats=20)
BOS_PWM = flight("303", "BOS", "PWM", 23, minutes=50, seats=20)
# Delayed, diverted, retimed, cancelled then reinstated.
TO_CHICAGO = flight("401", "JFK", "ORD", 15, minutes=150)
TO_ORLANDO = flight("501", "JFK", "MCO", 15, minutes=170)
TO_LA = flight("601", "JFK", "LAX", 15, minutes=360)
TO_BUFFALO = flight("801", "JFK", "BUF", 15, minutes=80)
# Syracuse → JFK → San Francisco: the first leg flies, the second is cancelled with no seat on, so
# the passenger is flown home. Rochester → JFK → Seattle: the first leg is late, the connection
# lost with no flight on, so the passenger is told not to set out.
SYR_JFK = flight("701", "SYR", "JFK", 12, minutes=70)
JFK_SFO = flight("703", "JFK", "SFO", 15, minutes=390)
JFK_SYR = flight("705", "JFK", "SYR", 18, minutes=70)
ROC_JFK = flight("901", "ROC", "JFK", 12, minutes=75)
JFK_SEA = flight("903", "JFK", "SEA", 15, minutes=390)
SCHEDULE = [CANCELLED, EVENING, LATE, TO_PORTLAND, BOS_PWM, TO_CHICAGO, TO_ORLANDO, TO_LA, TO_BUFFALO,
            SYR_JFK, JFK_SFO, JFK_SYR, ROC_JFK, JFK_SEA]


def minor(ref_: str, *flights: FlightScheduled) -> BookingConfirmed:
    b = booking(ref_, *flights)
    alone = Passenger(passenger_id=f"{ref_}-1", name="CHILD/ALEX", fare=b.passengers[0].fare,
                      special_services=["UMNR"])
    return b.model_copy(update={"passengers": [alone]})


BOOKINGS = [booking("PAIR01", CANCELLED, party=2), booking("FIVE01", CANCELLED, party=5),
            minor("MINOR1", TO_PORTLAND), booking("DELAY1", TO_CHICAGO), booking("DIVRT1", TO_ORLANDO),
            booking("RETIM1", TO_LA), booking("REINS1", TO_BUFFALO), booking("HOME01", SYR_JFK, JFK_SFO),
            booking("NOGO01", ROC_JFK, JFK_SEA)]


def cancelled(f, id_: str) -> FlightCancelled:
    return FlightCancelled(partner_event_id=id_, flight=ref(f), reason="crew")


EVENTS = [
    cancelled(CANCELLED, "c1"), cancelled(TO_PORTLAND, "c2"),
    FlightDelayed(partner_event_id="d1", flight=ref(TO_CHICAGO), reason="weather",
                  estimated_departure=TO_CHICAGO.scheduled_departure + timedelta(minutes=100)),
    FlightDiverted(partner_event_id="v1", flight=ref(TO_ORLANDO), new_destination="TPA", reason="weather"),
    FlightRetimed(partner_event_id="r1", flight=ref(TO_LA),
                  scheduled_departure=TO_LA.scheduled_departure + timedelta(minutes=60),
                  scheduled_arrival=TO_LA.scheduled_arrival + timedelta(minutes=60)),
    # Reinstated before rebooking has moved anyone: its passengers are still on board.
    cancelled(TO_BUFFALO, "c3"), FlightReinstated(partner_event_id="i1", flight=ref(TO_BUFFALO)),
    FlightDeparted(partner_event_id="x1", flight=ref(SYR_JFK), actual_departure=SYR_JFK.scheduled_departure),
    cancelled(JFK_SFO, "c4"),
    FlightDelayed(partner_event_id="d2", flight=ref(ROC_JFK), reason="technical",
                  estimated_departure=ROC_JFK.scheduled_departure + timedelta(minutes=150)),
]


async def test_every_notice_kind_the_services_emit_renders_in_every_channel_and_language(world: World):
    for f in SCHEDULE:
        await world.publish(topics.SCHEDULE, f)
    for b in BOOKINGS:
        await world.publish(topics.BOOKINGS, b)
        await contacts(world.connections["notify"], b, ["sms", "email"])
    for e, then in zip(EVENTS, EVENTS[1:] + [None], strict=True):
        await world.publish(topics.FLIGHT_EVENTS, e, source="partner/demo",
                            settle=not isinstance(then, FlightReinstated))
    await _change_to_the_late_flight(world)
    requested = [n for t in (topics.FLIGHT_NOTICES, topics.FIRST_NOTICES, topics.NOTICES) for e in world.on(t)
                 for n in notice_requests(e)]
    # The desk's message is sent by an agent, not by a handler: tests/handlers/test_ops_desk.py.
    assert {n.template for n in requested} == set(notices.KINDS) - {"desk_message"}
    for n in requested:
        notice = notices.read(n.template, OPENER.open_all(notices.facts_of(n.facts)))
        for channel in ("sms", "email"):
            for locale in templates.LOCALES:
                rendered = templates.render_notice(notice, channel, locale, "Ana", n.passenger_ids[0])
                assert rendered.body and "None" not in rendered.body, (n.template, channel, locale)
                assert channel == "sms" or rendered.subject


async def _change_to_the_late_flight(world: World) -> None:
    """The pair answers its choice link: another option, the late flight."""
    [rebooked] = [n for n in world.on(topics.NOTICES)
                  if isinstance(n, NoticeRequested) and n.template == "rebooked" and n.booking_ref == "PAIR01"]
    assert isinstance(rebooked.facts, notices.Rebooked)
    link = OPENER.open_all(rebooked.facts.choice_urls)["PAIR01-1"]
    token = link.rsplit("/", 1)[1]
    conn = world.connections["rebooking"]
    offer = await answers.view_in(conn, REBOOKING, token)
    [option] = [o.option_id for o in offer.options if o.flights[0].flight_id == LATE.flight_id]
    await answers.answer_in(conn, REBOOKING, token, answers.Answer(answer="change", option=option), "test")
    await world.settle()
