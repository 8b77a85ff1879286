"""The disruption service on real Kafka and PostgreSQL: late, duplicate, out-of-order and
malformed partner input; IATA text; connections at risk; the partner rate limit."""

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from bench import small_scenario
from shared import topics
from shared.events import (
    BookingConfirmed,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightRef,
    FlightScheduled,
    Passenger,
    flight_id,
)
from tests.integration.conftest import (
    AIRPORT_KEY,
    API_KEY,
    BURST,
    FLOOD_PARTNER_KEY,
    ROTATED_DEMO_KEY,
    eventually,
    headers_only,
    publish,
)

pytestmark = pytest.mark.integration

# Routes no other test flies (PWM, ORD): tests share one database, and rebooking looks 72 h ahead.
DAY = date(2013, 2, 9)
# Replayed traffic: the messages say when they were sent, so MVT day-of-month dates place right.
MESSAGES = "/v1/messages?sent_at=2013-02-09T12:00:00Z"


def scheduled(number: str, origin: str, destination: str, departs: str, minutes: int,
              seats: int = 50) -> FlightScheduled:
    departure = datetime.combine(DAY, datetime.strptime(departs, "%H:%M").time(), tzinfo=UTC)
    return FlightScheduled(flight_id=flight_id("B6", number, DAY, origin), carrier="B6", number=number,
                           origin=origin, destination=destination, scheduled_departure=departure,
                           scheduled_arrival=departure + timedelta(minutes=minutes), seats=seats)


@pytest.fixture
async def db(settings):
    conn = await asyncpg.connect(settings.database_url)
    yield conn
    await conn.close()


async def flight_row(db, fid: str, until=lambda row: row is not None):
    async def check():
        row = await db.fetchrow("SELECT * FROM disruption.flights WHERE flight_id = $1", fid)
        return row if row is not None and until(row) else None
    return await eventually(check)


async def history(db, fid: str) -> list[str]:
    return [r["effect"] for r in await db.fetch(
        "SELECT effect FROM disruption.flight_events WHERE flight_id = $1 ORDER BY recorded_at", fid)]


async def test_late_duplicate_and_out_of_order_events(stack, settings, db):
    flight = scheduled("2101", "JFK", "PWM", "18:00", 75)
    await publish(settings, topics.SCHEDULE, [flight])
    await flight_row(db, flight.flight_id)
    ref = FlightRef(carrier="B6", number="2101", departure_date=DAY, origin="JFK")
    t = datetime(2013, 2, 9, 12, 0, tzinfo=UTC)
    url = stack.url("disruption")

    cancel = FlightCancelled(partner_event_id="ooo-cancel", flight=ref, reason="weather",
                             occurred_at=t + timedelta(minutes=10))
    first = await small_scenario.cancel(url, cancel)
    assert await small_scenario.cancel(url, cancel) == first  # sent twice, accepted once
    await flight_row(db, flight.flight_id, lambda r: r["status"] == "cancelled")

    # A delay known before the cancellation arrives after it: history, not news.
    stale = FlightDelayed(partner_event_id="ooo-stale-delay", flight=ref, occurred_at=t,
                          estimated_departure=flight.scheduled_departure + timedelta(hours=2))
    response = await small_scenario.submit(url, stale.model_dump_json().encode())
    assert response.status_code == 202
    await eventually(lambda: _has(db, flight.flight_id, 2))
    assert (await flight_row(db, flight.flight_id))["status"] == "cancelled"

    # The schedule office reinstates the flight (IATA ASM, as text): newer, so it counts.
    rin = f"ASM\nUTC\nRIN\nB62101/{DAY:%d%b%y}".upper()
    response = await small_scenario.submit(url, rin.encode(), path=MESSAGES,
                                           content_type="text/plain")
    assert response.status_code == 202, response.text
    row = await flight_row(db, flight.flight_id, lambda r: r["status"] == "scheduled")
    assert row is not None, await history(db, flight.flight_id)
    effects = await history(db, flight.flight_id)
    assert effects[0] == "cancelled (weather)" and effects[1].startswith("stale:")
    assert effects[2] == "reinstated: the flight operates" and len(effects) == 3


async def _has(db, fid: str, n: int) -> bool:
    return await db.fetchval("SELECT count(*) FROM disruption.flight_events WHERE flight_id = $1",
                             fid) >= n


async def test_malformed_text_is_refused_whole_with_its_lines(stack, settings, db):
    flight = scheduled("2103", "JFK", "PWM", "19:00", 75)
    await publish(settings, topics.SCHEDULE, [flight])
    await flight_row(db, flight.flight_id)
    good = f"MVT\nB62103/{DAY:%d}.N1.JFK\nED{DAY:%d}2000\nDL72/0100"
    bad = "MVT\nB62103/09.N1.JFK\nED099960"
    response = await small_scenario.submit(stack.url("disruption"), f"{good}\n\n{bad}".encode(),
                                           path=MESSAGES, content_type="text/plain")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"message_line": 6, "line": 8,
                                          "message": "time '9960' is not a valid hhmm"}]
    # Nothing of the batch was published: the good message alone, sent next, is the first seen.
    response = await small_scenario.submit(stack.url("disruption"), good.encode(),
                                           path=MESSAGES, content_type="text/plain")
    assert response.status_code == 202
    row = await flight_row(db, flight.flight_id, lambda r: r["status"] == "delayed")
    assert row["estimated_departure"] == flight.scheduled_departure + timedelta(hours=1)
    assert row["cause"] == "weather"
    assert await history(db, flight.flight_id) == ["delayed 60 min: passengers told"]


async def test_raw_traffic_read_message_by_message_when_asked(stack, settings, db):
    """Raw SITA traffic (SOH/STX/ETX, CR LF, an ICAO airline) with a garbled telex between good ones:
    with atomic=false the good ones are published and the answer names the bad one."""
    delayed, cancelled = scheduled("2121", "JFK", "PWM", "19:00", 75), scheduled("2123", "JFK", "PWM", "20:00", 75)
    await publish(settings, topics.SCHEDULE, [delayed, cancelled])
    await flight_row(db, cancelled.flight_id)
    text = (f"\x01QU NYCOOB6\r\n.JFKOOB6 091200\r\n\x02MVT\r\nJBU2121/{DAY:%d}.N1.JFK\r\nED{DAY:%d}2030\r\n"
            f"DL72/0130\r\n\x03\x01QU NYCOOB6\r\n\x02MVT\r\nB62121/{DAY:%d}.N1.JFK\r\nED{DAY:%d}9999\r\n\x03"
            f"\x01QU HDQOOB6\r\n\x02ASM\r\nUTC\r\nCNL WEAT\r\nB62123/{DAY:%d}{DAY:%b}\r\n\x03")
    url = stack.url("disruption")
    refused = await small_scenario.submit(url, text.encode(), path=MESSAGES, content_type="text/plain")
    assert refused.status_code == 422  # all or nothing by default
    response = await small_scenario.submit(url, text.encode(), path=MESSAGES + "&atomic=false",
                                           content_type="text/plain")
    assert response.status_code == 202, response.text
    first, bad, third = response.json()["messages"]
    assert (first["kind"], len(first["event_ids"]), third["kind"], len(third["event_ids"])) == ("MVT", 1, "ASM", 1)
    assert bad["event_ids"] == [] and bad["error"] == {"line": 10, "message": "time '9999' is not a valid hhmm"}
    row = await flight_row(db, delayed.flight_id, lambda r: r["status"] == "delayed")
    assert row["estimated_departure"] == delayed.scheduled_departure + timedelta(minutes=90)
    row = await flight_row(db, cancelled.flight_id, lambda r: r["status"] == "cancelled")
    assert row["cause"] == "weather"


async def test_aidx_xml_at_the_same_endpoint(stack, settings, db):
    flight = scheduled("2125", "JFK", "PWM", "21:00", 75)
    await publish(settings, topics.SCHEDULE, [flight])
    await flight_row(db, flight.flight_id)
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<IATA_AIDX_FlightLegNotifRQ xmlns="http://www.iata.org/IATA/2007/00" TimeStamp="2013-02-09T11:00:00Z" Version="16.1">
  <Originator CompanyShortName="JFK"/>
  <FlightLeg><LegIdentifier><Airline>B6</Airline><FlightNumber>2125</FlightNumber>
    <DepartureAirport>KJFK</DepartureAirport><ArrivalAirport>KPWM</ArrivalAirport><OriginDate>{DAY}</OriginDate>
  </LegIdentifier><LegData><OperationalStatus>DX</OperationalStatus></LegData></FlightLeg>
</IATA_AIDX_FlightLegNotifRQ>"""
    url = stack.url("disruption")
    response = await small_scenario.submit(url, xml.encode(), path=MESSAGES, content_type="application/xml")
    assert response.status_code == 202, response.text
    assert response.json()["messages"][0]["kind"] == "AIDX"
    await flight_row(db, flight.flight_id, lambda r: r["status"] == "cancelled")
    dtd = xml.replace('<?xml version="1.0" encoding="UTF-8"?>',
                      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    refused = await small_scenario.submit(url, dtd.encode(), path=MESSAGES, content_type="application/xml")
    assert refused.status_code == 422 and "DTD" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/problem+json"


async def test_message_bodies_are_bounded_before_they_are_read(stack):
    url = stack.url("disruption")
    # 200 sub-messages, each cancelling a flight on the 33 days from yesterday to 31 days ahead.
    season = "SSM\nUTC\nCNL\nB62199\n01JAN13 31DEC13 1234567\n//\n" * 200
    many = await small_scenario.submit(url, season.encode(), path=MESSAGES, content_type="text/plain")
    assert many.status_code == 422 and "6600 events" in many.json()["detail"]
    status, answer = await headers_only(url, "POST", MESSAGES, {"Content-Type": "text/plain",
                                                                "Content-Length": str(1024 * 1024 + 1)})
    assert status == 413 and b"application/problem+json" in answer
    status, _ = await headers_only(url, "POST", MESSAGES, {"Content-Type": "text/plain",
                                                           "Transfer-Encoding": "chunked"})
    assert status == 411


async def test_an_event_from_the_future_is_refused(stack):
    """`occurred_at: 2099-…` would make every later event about the flight stale."""
    event = FlightCancelled(partner_event_id="future-1", reason="weather", occurred_at=datetime(2099, 1, 1, tzinfo=UTC),
                            flight=FlightRef(carrier="B6", number="2197", departure_date=DAY, origin="JFK"))
    response = await small_scenario.submit(stack.url("disruption"), f"[{event.model_dump_json()}]".encode())
    assert response.status_code == 422 and "in the future" in response.json()["detail"]
    assert response.json()["errors"] == [{"field": "events[0].occurred_at", "pointer": "/0/occurred_at",
                                          "message": "in the future"}]


async def test_an_event_whose_times_contradict_each_other_is_refused_never_published(stack):
    """An arrival estimate before the flight's own off-block would tell its passengers something false."""
    off = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    event = FlightDeparted(partner_event_id="contradiction-1", actual_departure=off,
                           estimated_arrival=off - timedelta(days=5),
                           flight=FlightRef(carrier="B6", number="2197", departure_date=DAY, origin="JFK"))
    response = await small_scenario.submit(stack.url("disruption"), f"[{event.model_dump_json()}]".encode())
    assert response.status_code == 422
    assert "estimated arrival" in response.json()["detail"] and "before the off-block" in response.json()["detail"]
    assert response.json()["errors"][0]["pointer"] == "/0"


async def test_a_partners_clock_orders_its_news_but_never_dates_the_announcement(stack, settings, db):
    """Old news from a partner is refused; a back-dated cancellation within bounds is taken, but the
    notice period the law counts runs from when Rebound accepted it, not from the partner's stamp
    (two days back would turn a cancellation announced now into one announced 14 days ahead)."""
    url = stack.url("disruption")
    now = datetime.now(UTC)
    flight = scheduled("2121", "JFK", "PWM", "19:00", 75)
    booking = BookingConfirmed(booking_ref="BD2121", flight_ids=[flight.flight_id],
                               passengers=[Passenger(passenger_id="BD2121-1", fare=Decimal("120"))])
    await publish(settings, topics.SCHEDULE, [flight])
    await publish(settings, topics.BOOKINGS, [booking])
    await flight_row(db, flight.flight_id)
    ref = FlightRef(carrier="B6", number="2121", departure_date=DAY, origin="JFK")

    def cancelled(at: datetime) -> bytes:
        return FlightCancelled(partner_event_id=f"backdated-{at:%s}", reason="technical", flight=ref,
                               occurred_at=at).model_dump_json().encode()
    old = await small_scenario.submit(url, cancelled(now - timedelta(days=4)), key=AIRPORT_KEY)
    assert old.status_code == 422 and old.json()["errors"] == [
        {"field": "events[0].occurred_at", "pointer": "/0/occurred_at", "message": "more than 3 days old"}], old.text
    stale = await small_scenario.submit(url, b"ASM\nUTC\nCNL\nB62121/09FEB\nJFK PWM",
                                        path=MESSAGES, content_type="text/plain", key=AIRPORT_KEY)
    assert stale.status_code == 422 and "sent_at is more than 3 days old" in stale.text
    accepted = await small_scenario.submit(url, cancelled(now - timedelta(days=2)), key=AIRPORT_KEY)
    assert accepted.status_code == 202, accepted.text

    async def announced():
        return await db.fetchval("SELECT announced_at FROM compensation.cases WHERE booking_ref = 'BD2121'")
    assert await eventually(announced) >= now - timedelta(seconds=5)


async def test_a_scoped_key_reports_only_on_its_airlines_at_its_airports(stack):
    """A key limited to JetBlue at JFK and Portland: another airline's flight, another airport, or a
    message naming no airport is refused whole with 403; its own flights are taken."""
    url = stack.url("disruption")

    def cancelled(carrier: str, origin: str | None) -> bytes:
        return FlightCancelled(partner_event_id=f"scoped-{carrier}-{origin}", reason="weather", flight=FlightRef(
            carrier=carrier, number="2195", departure_date=DAY, origin=origin)).model_dump_json().encode()
    for body, words in ((cancelled("DL", "JFK"), "reports for B6, not DL"),
                        (cancelled("B6", "BOS"), "reports at JFK, PWM"), (cancelled("B6", None), "reports at")):
        refused = await small_scenario.submit(url, b"[" + body + b"]", key=AIRPORT_KEY)
        assert refused.status_code == 403 and words in refused.json()["title"], refused.text
    text = f"ASM\nUTC\nCNL\nB62195/{DAY:%d%b%y}\nJFK PWM".upper().encode()
    assert (await small_scenario.submit(url, text, path="/v1/messages", content_type="text/plain",
                                        key=AIRPORT_KEY)).status_code == 202
    assert (await small_scenario.submit(url, cancelled("B6", "JFK"), key=AIRPORT_KEY)).status_code == 202


async def test_a_connection_at_risk_is_found_told_and_rebooked(stack, settings, db):
    inbound = scheduled("2111", "BOS", "JFK", "14:00", 75)       # lands 15:15
    onward = scheduled("2113", "JFK", "ORD", "16:50", 150)       # 95 min to connect at JFK
    later = scheduled("2115", "JFK", "ORD", "20:00", 150)
    booking = BookingConfirmed(booking_ref="CX2111", flight_ids=[inbound.flight_id, onward.flight_id],
                               passengers=[Passenger(passenger_id="CX2111-1", name="REYES/ANA",
                                                     fare=Decimal("240")),
                                           Passenger(passenger_id="CX2111-2", name="REYES/LUIS",
                                                     fare=Decimal("240"))])
    await publish(settings, topics.SCHEDULE, [inbound, onward, later])
    await publish(settings, topics.BOOKINGS, [booking])
    contacts = [{"passenger_id": p.passenger_id, "booking_ref": "CX2111", "given_name": "Ana",
                 "email": f"{p.passenger_id.lower()}@example.com", "channels": ["email"]}
                for p in booking.passengers]
    async with httpx.AsyncClient() as client:
        (await client.put(f"{stack.url('notify')}/v1/contacts", json=contacts,
                          headers={"Authorization": f"Bearer {API_KEY}"})).raise_for_status()
    await eventually(lambda: db.fetchval(
        "SELECT 1 FROM rebooking.bookings b JOIN disruption.itineraries i USING (booking_ref)"
        " WHERE booking_ref = 'CX2111'"))

    # Twenty minutes late: too little for the passengers on board, too much for the connection.
    mvt = f"MVT\nB62111/{DAY:%d}.N1.BOS\nED{DAY:%d}1420\nDL41/0020"
    response = await small_scenario.submit(stack.url("disruption"), mvt.encode(), path=MESSAGES,
                                           content_type="text/plain")
    assert response.status_code == 202, response.text

    async def decided():
        return await db.fetchrow(
            "SELECT d.kind, r.outcome, r.to_flights FROM disruption.disruptions d"
            " JOIN rebooking.rebookings r USING (disruption_id, booking_ref)"
            " WHERE d.booking_ref = 'CX2111'")
    decision = await eventually(decided)
    assert decision is not None, "the connection at risk was not found"
    assert dict(decision) == {"kind": "connection_at_risk", "outcome": "rebooked",
                              "to_flights": [later.flight_id]}

    async def told():
        rows = await db.fetch("SELECT passenger_id, template FROM notify.deliveries"
                              " WHERE booking_ref = 'CX2111' AND status = 'sent' ORDER BY passenger_id")
        return rows if len(rows) >= 4 else None
    notices = {(r["passenger_id"], r["template"]) for r in await eventually(told)}
    # Told first, then of the new connection (and, for a wait this long, of a meal voucher).
    assert notices >= {(p, t) for p in ("CX2111-1", "CX2111-2")
                       for t in ("first_notice_connection_at_risk", "rebooked")}
    # The 20-minute delay itself told nobody: it is below the notice threshold.
    assert await db.fetchval("SELECT count(*) FROM disruption.disruptions"
                             " WHERE booking_ref = 'CX2111' AND kind = 'delayed'") == 0


async def test_a_partner_over_its_rate_gets_429_with_retry_after(stack):
    body = json.dumps({"type": "flight.cancelled"}).encode()  # invalid: cheap to refuse

    async def one():
        return await small_scenario.submit(stack.url("disruption"), body, key=FLOOD_PARTNER_KEY)
    responses = await asyncio.gather(*(one() for _ in range(BURST + 30)))
    codes = [r.status_code for r in responses]
    assert codes.count(422) >= BURST and 429 in codes
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    # Another partner is not throttled by the first one's flood.
    other = await small_scenario.submit(stack.url("disruption"), body)
    assert other.status_code == 422


async def test_keys_rotate_with_two_valid_at_once(stack, db):
    event = FlightCancelled(partner_event_id="rotation-1", reason="crew",
                            flight=FlightRef(carrier="B6", number="2199", departure_date=DAY, origin="JFK"))
    body = event.model_dump_json().encode()
    old = await small_scenario.submit(stack.url("disruption"), body)
    new = await small_scenario.submit(stack.url("disruption"), body, key=ROTATED_DEMO_KEY)
    assert old.status_code == new.status_code == 202
    assert old.json() == new.json()  # one partner, one event, whichever key signed it
