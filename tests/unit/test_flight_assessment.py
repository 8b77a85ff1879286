from datetime import UTC, date, datetime

from services.disruption.domain import FlightState, assess
from shared.events import FlightCancelled, FlightDelayed, FlightRef

REF = FlightRef(carrier="B6", number="1001", departure_date=date(2013, 2, 8), origin="JFK")
CANCEL = FlightCancelled(partner_event_id="c", flight=REF, reason="weather")
DELAY = FlightDelayed(partner_event_id="d", flight=REF, reason="weather",
                      estimated_departure=datetime(2013, 2, 8, 23, 0, tzinfo=UTC))
SCHEDULED = FlightState("scheduled", 0)


def test_a_cancellation_disrupts_everyone_once():
    first = assess(SCHEDULED, CANCEL)
    assert first.disruption == "cancelled" and first.status == "cancelled"
    again = assess(FlightState("cancelled", 0), CANCEL)
    assert not again.disrupts_passengers


def test_a_late_delay_report_does_not_undo_a_cancellation():
    decision = assess(FlightState("cancelled", 0), DELAY, delay_minutes=45)
    assert decision.status == "cancelled" and not decision.disrupts_passengers


def test_a_small_slip_tells_nobody():
    decision = assess(SCHEDULED, DELAY, delay_minutes=5)
    assert decision.status == "delayed" and not decision.disrupts_passengers


def test_a_delay_is_told_once_and_again_only_when_much_worse():
    told = assess(SCHEDULED, DELAY, delay_minutes=40)
    assert told.disruption == "delayed" and told.notified_delay_minutes == 40
    slightly_worse = assess(FlightState("delayed", 40), DELAY, delay_minutes=55)
    assert not slightly_worse.disrupts_passengers
    much_worse = assess(FlightState("delayed", 40), DELAY, delay_minutes=90)
    assert much_worse.disrupts_passengers and much_worse.notified_delay_minutes == 90
