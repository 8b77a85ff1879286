from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.disruption import domain
from services.disruption.domain import Connection, FlightState, apply, connection_at_risk
from shared.airports import parse_minimum_connecting
from shared.events import (
    FlightArrived,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightRef,
    FlightReinstated,
    FlightRetimed,
)

REF = FlightRef(carrier="B6", number="1001", departure_date=date(2013, 2, 8), origin="JFK")
DEP = datetime(2013, 2, 8, 23, 30, tzinfo=UTC)
FLIGHT = FlightState("scheduled", DEP, DEP + timedelta(hours=1, minutes=15), "BOS")
T0 = datetime(2013, 2, 8, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def cancel(seq: int | None = None) -> FlightCancelled:
    return FlightCancelled(partner_event_id="c", flight=REF, reason="weather", sequence=seq)


def delay(minutes: int, seq: int | None = None) -> FlightDelayed:
    return FlightDelayed(partner_event_id="d", flight=REF, reason="weather", sequence=seq,
                         estimated_departure=DEP + timedelta(minutes=minutes))


def reinstate(seq: int | None = None) -> FlightReinstated:
    return FlightReinstated(partner_event_id="r", flight=REF, sequence=seq)


def run(*steps, flight=FLIGHT, source="partner/a"):
    changes = []
    for event, when in steps:
        change = apply(flight, event, occurred_at=when, source=source)
        flight = change.flight
        changes.append(change)
    return changes


def test_a_cancellation_disrupts_once():
    first, again = run((cancel(), at(0)), (cancel(), at(5)))
    assert (first.flight.status, first.disruption, first.severity) == ("cancelled", "cancelled", "major")
    assert again.disruption is None and again.flight.status == "cancelled"


def test_a_stale_delay_does_not_undo_a_newer_cancellation():
    _, late = run((cancel(), at(10)), (delay(45), at(5)))
    assert late.flight.status == "cancelled" and late.disruption is None
    assert late.effect.startswith("stale")


def test_a_newer_delay_does_not_undo_a_cancellation_either():
    _, newer = run((cancel(), at(0)), (delay(45), at(5)))
    assert newer.flight.status == "cancelled" and newer.disruption is None


def test_a_reinstatement_undoes_the_cancellation_but_a_stale_one_does_not():
    _, back = run((cancel(), at(0)), (reinstate(), at(5)))
    assert back.reinstated and back.flight.status == "scheduled"
    _, stale = run((cancel(), at(10)), (reinstate(), at(5)))
    assert not stale.reinstated and stale.flight.status == "cancelled"


def test_one_partners_sequence_outranks_its_clock():
    # The partner's clocks disagree, its sequence does not: event 2 came after event 1.
    _, second = run((cancel(seq=2), at(10)), (reinstate(seq=1), at(20)))
    assert second.flight.status == "cancelled" and second.effect.startswith("stale")


def test_a_small_slip_notifies_nobody_and_a_worse_one_does():
    slip, long, little_worse, much_worse = run((delay(5), at(0)), (delay(45), at(1)),
                                               (delay(60), at(2)), (delay(90), at(3)))
    assert slip.disruption is None and slip.flight.status == "delayed"
    assert long.disruption == "delayed" and long.delay_minutes == 45 and long.severity == "minor"
    assert little_worse.disruption is None
    assert much_worse.disruption == "delayed" and much_worse.flight.notified_delay_minutes == 90


def test_a_long_delay_is_major():
    (change,) = run((delay(200), at(0)))
    assert change.severity == "major"


def test_next_information_is_a_delay_until_at_least_then():
    ni = FlightDelayed(partner_event_id="n", flight=REF, next_information_at=DEP + timedelta(hours=2))
    (change,) = run((ni, at(0)))
    assert change.disruption == "delayed" and change.delay_minutes == 120


def test_in_the_air_only_the_arrival_moves():
    departed = FlightDeparted(partner_event_id="ad", flight=REF, actual_departure=DEP + timedelta(minutes=10))
    later = FlightDelayed(partner_event_id="ea", flight=REF,
                          estimated_arrival=FLIGHT.scheduled_arrival + timedelta(minutes=50))
    up, airborne = run((departed, at(0)), (later, at(1)))
    assert up.flight.status == "departed" and up.disruption is None
    assert airborne.flight.status == "departed" and airborne.disruption is None
    assert airborne.flight.expected_arrival == FLIGHT.scheduled_arrival + timedelta(minutes=50)


def test_arrival_diversion_and_retime():
    arrived = FlightArrived(partner_event_id="aa", flight=REF, actual_arrival=FLIGHT.scheduled_arrival)
    assert run((arrived, at(0)))[0].flight.status == "arrived"
    diverted = FlightDiverted(partner_event_id="dv", flight=REF, new_destination="PVD")
    (d,) = run((diverted, at(0)))
    assert d.disruption == "diverted" and d.flight.destination == "PVD"
    small = FlightRetimed(partner_event_id="t", flight=REF, scheduled_departure=DEP + timedelta(minutes=10),
                          scheduled_arrival=FLIGHT.scheduled_arrival + timedelta(minutes=10))
    big = FlightRetimed(partner_event_id="t2", flight=REF, scheduled_departure=DEP - timedelta(hours=2),
                        scheduled_arrival=FLIGHT.scheduled_arrival - timedelta(hours=2))
    s, b = run((small, at(0)), (big, at(1)))
    assert s.disruption is None and b.disruption == "retimed" and b.delay_minutes == -130


def test_connection_at_risk_by_minimum_connecting_time():
    onward = Connection("ABC123", "B6/x/BOS", "BOS", datetime(2013, 2, 9, 2, 0, tzinfo=UTC))
    table = {"default": 60, "BOS": 45}
    assert not connection_at_risk(onward.onward_departure - timedelta(minutes=45), "BOS", onward, table)
    assert connection_at_risk(onward.onward_departure - timedelta(minutes=44), "BOS", onward, table)
    assert connection_at_risk(onward.onward_departure - timedelta(minutes=59), "PVD", onward, table,
                              same_city=False)
    assert connection_at_risk(onward.onward_departure - timedelta(minutes=170), "LGA",
                              Connection("R", "f", "JFK", onward.onward_departure), table)


def test_minimum_connecting_times_are_configurable():
    table = parse_minimum_connecting("BOS=50, default=70")
    assert table["BOS"] == 50 and table["default"] == 70 and table["JFK"] == 90


events = st.one_of(
    st.builds(cancel, st.none() | st.integers(0, 20)),
    st.builds(reinstate, st.none() | st.integers(0, 20)),
    st.builds(delay, st.integers(-30, 600), st.none() | st.integers(0, 20)),
)


@given(st.lists(st.tuples(events, st.integers(0, 600).map(at),
                          st.sampled_from(["partner/a", "partner/b"])), max_size=12))
def test_an_event_older_than_the_flights_state_never_changes_it(steps):
    flight = FLIGHT
    for event, when, source in steps:
        change = apply(flight, event, occurred_at=when, source=source)
        if domain.is_stale(flight, when, source, event.sequence):
            assert change.flight == flight and change.disruption is None and not change.reinstated
        flight = change.flight
