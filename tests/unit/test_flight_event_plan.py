"""A flight event decided whole, with no database: `domain.decide` takes what the handler loaded
(the flights the event names, who is on board, where they go next) and returns the plan the
handler stores and publishes. The handler tests (tests/handlers/test_disruption_handlers.py) run
the same decisions through PostgreSQL."""

from datetime import UTC, date, datetime, timedelta

from services.disruption import domain
from services.disruption.domain import Aboard, FlightNow, FlightState, Onward, Seen
from shared.airports import parse_minimum_connecting
from shared.events import FlightCancelled, FlightDelayed, FlightRef, FlightReinstated, Leg, event_id

DAY = date(2013, 2, 8)
DEP = datetime(2013, 2, 8, 22, 40, tzinfo=UTC)  # B6 1001 JFK 17:40 local
ARR = DEP + timedelta(minutes=75)
JFK_BOS = Leg(flight_id="B61001/2013-02-08/JFK", carrier="B6", number="1001", origin="JFK", destination="BOS",
              scheduled_departure=DEP, scheduled_arrival=ARR)
BOS_PWM = Leg(flight_id="B61201/2013-02-08/BOS", carrier="B6", number="1201", origin="BOS", destination="PWM",
              scheduled_departure=ARR + timedelta(minutes=90), scheduled_arrival=ARR + timedelta(minutes=150))
REF = FlightRef(carrier="B6", number="1001", departure_date=DAY, origin="JFK")
SCHEDULED = FlightState("scheduled", DEP, ARR, "BOS")
NOW = datetime(2013, 2, 8, 12, 0, tzinfo=UTC)
MINIMUM = parse_minimum_connecting("")
ABOARD = [Aboard("R00002", ["R00002-1", "R00002-2"]), Aboard("R00001", ["R00001-1"])]
CONNECTING = Onward("R00002", ["R00002-1", "R00002-2"], BOS_PWM, "scheduled")


def decide(event, state=SCHEDULED, aboard=ABOARD, onward=(), at=NOW):
    seen = Seen([FlightNow(state, JFK_BOS)], {JFK_BOS.flight_id: list(aboard)}, {JFK_BOS.flight_id: list(onward)})
    return domain.decide(event, seen, occurred_at=at, source="partner/a", event_id="e1", minimum_connecting=MINIMUM,
                         same_city=lambda a, b: a == b)


def delayed(minutes: int) -> FlightDelayed:
    return FlightDelayed(partner_event_id="d", flight=REF, reason="weather",
                         estimated_departure=DEP + timedelta(minutes=minutes))


def test_a_cancellation_tells_every_booking_on_board_once_in_booking_order():
    plan = decide(FlightCancelled(partner_event_id="c", flight=REF, reason="weather"))
    [update] = plan.updates
    assert update.status_changed and update.cancelled and update.state.status == "cancelled"
    assert [h.booking_ref for h in plan.hurt] == ["R00001", "R00002"]
    assert plan.hurt[1].passenger_ids == ["R00002-1", "R00002-2"]
    assert {h.kind for h in plan.hurt} == {"cancelled"} and plan.hurt[0].first_notice.kind == "first_notice_cancelled"
    assert plan.cause == "weather" and plan.connections == [] and plan.reinstated == []


def test_a_small_slip_changes_the_flight_and_tells_nobody():
    plan = decide(delayed(10), onward=[CONNECTING])
    assert plan.updates[0].state.estimated_departure == DEP + timedelta(minutes=10)
    assert plan.hurt == [] and plan.connections == []


def test_a_delay_that_breaks_a_connection_disrupts_the_onward_flight_by_its_own_id():
    plan = decide(delayed(60), onward=[CONNECTING])  # lands 60 min late: 30 min to connect, BOS needs more
    [connection] = plan.connections
    assert connection.kind == "connection_at_risk" and connection.segments == [BOS_PWM]
    assert connection.disruption_id == event_id("e1", "connection", BOS_PWM.flight_id)
    assert connection.cause_flight_id == JFK_BOS.flight_id
    assert [h.booking_ref for h in plan.hurt] == ["R00001", "R00002"]  # a 60-minute delay tells everyone too


def test_an_onward_flight_already_cancelled_is_not_disrupted_again():
    plan = decide(delayed(60), onward=[Onward(CONNECTING.booking_ref, CONNECTING.passenger_ids, BOS_PWM,
                                              "cancelled")])
    assert plan.connections == []


def test_an_event_older_than_the_flights_last_change_is_history_only():
    cancelled = domain.apply(SCHEDULED, FlightCancelled(partner_event_id="c", flight=REF, reason="weather"),
                             occurred_at=NOW, source="partner/a").flight
    plan = decide(delayed(120), state=cancelled, at=NOW - timedelta(minutes=5))
    assert plan.updates[0].state == cancelled and not plan.updates[0].status_changed
    assert "stale" in plan.updates[0].effect and plan.hurt == []


def test_a_reinstatement_tells_everyone_still_booked():
    cancelled = domain.apply(SCHEDULED, FlightCancelled(partner_event_id="c", flight=REF, reason="weather"),
                             occurred_at=NOW, source="partner/a").flight
    plan = decide(FlightReinstated(partner_event_id="r", flight=REF), state=cancelled, at=NOW + timedelta(hours=1))
    assert plan.updates[0].status_changed and plan.updates[0].state.status == "scheduled"
    assert plan.reinstated == [(JFK_BOS, ABOARD)] and plan.hurt == []
