import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.rebooking.domain import (
    BookedLeg,
    Flight,
    Rules,
    Trip,
    answer_deadline,
    candidate_itineraries,
    legs_to_replace,
    trip_from_json,
    trip_to_json,
)
from shared.airports import city_of, parse_co_terminals

T0 = datetime(2013, 2, 8, 22, 40, tzinfo=UTC)
RULES = Rules(minimum_connecting={"default": 60, "BOS": 45}, partners={"B6": frozenset({"AA"})})


def flight(fid: str, origin="JFK", destination="PWM", hours=0.0, seats=10, block=75,
           carrier="B6") -> Flight:
    dep = T0 + timedelta(hours=hours)
    return Flight(fid, carrier, "1", origin, destination, dep, dep + timedelta(minutes=block),
                  {"economy": seats})


def trip(**kw) -> Trip:
    values: dict[str, Any] = dict(booking_ref="ABC123", passenger_ids=("p1", "p2"), cabin="economy", carrier="B6",
                  origin="JFK", destination="PWM", earliest_departure=T0,
                  planned_arrival=T0 + timedelta(minutes=75), replaced_flight_ids=("cancelled",))
    return Trip(**values | kw)


def ids(itineraries) -> list[tuple[str, ...]]:
    return [i.flight_ids for i in itineraries]


def test_direct_flights_earliest_arrival_first_with_co_terminals():
    flights = [flight("later", hours=5), flight("lga", origin="LGA", hours=1), flight("cancelled", hours=0)]
    assert ids(candidate_itineraries(trip(), flights, RULES)) == [("lga",), ("later",)]


def test_one_stop_respects_the_connecting_airports_minimum_time_and_the_longest_wait():
    first = flight("jfk-bos", destination="BOS", hours=1, block=60)  # lands at +2 h
    too_tight = flight("bos-pwm-tight", origin="BOS", hours=2.5, block=50)  # 30 min: under 45
    fits = flight("bos-pwm", origin="BOS", hours=3, block=50)  # 60 min
    too_long = flight("bos-pwm-next-day", origin="BOS", hours=20, block=50)  # beyond 6 h
    found = candidate_itineraries(trip(), [first, too_tight, fits, too_long], RULES)
    assert ids(found) == [("jfk-bos", "bos-pwm")]


def test_partners_yes_strangers_no():
    flights = [flight("aa", hours=1, carrier="AA"), flight("dl", hours=1, carrier="DL")]
    assert ids(candidate_itineraries(trip(), flights, RULES)) == [("aa",)]


def test_never_before_the_passengers_can_leave_nor_beyond_the_horizon_nor_elsewhere_nor_full():
    flights = [flight("earlier", hours=-1), flight("too-late", hours=73),
               flight("elsewhere", destination="PVD", hours=1), flight("full", hours=2, seats=0)]
    assert candidate_itineraries(trip(), flights, RULES) == []


def test_a_connection_at_risk_leaves_from_the_connecting_airport_after_it_lands():
    at_risk = trip(origin="BOS", earliest_departure=T0 + timedelta(hours=3))
    flights = [flight("bos-early", origin="BOS", hours=2), flight("bos-ok", origin="BOS", hours=4)]
    assert ids(candidate_itineraries(at_risk, flights, RULES)) == [("bos-ok",)]


def test_an_unaccompanied_minor_is_offered_direct_flights_only():
    minor = trip(special_services=frozenset({"UMNR"}))
    flights = [flight("jfk-bos", destination="BOS", hours=1, block=60),
               flight("bos-pwm", origin="BOS", hours=3, block=50)]
    assert candidate_itineraries(minor, flights, RULES) == []
    assert candidate_itineraries(trip(), flights, RULES)


def test_only_the_best_few_are_kept():
    flights = [flight(f"f{h}", hours=h) for h in range(1, 40)]
    found = candidate_itineraries(trip(), flights, RULES)
    assert ids(found) == [(f"f{h}",) for h in range(1, 1 + RULES.options_per_trip)]


def test_city_groups():
    assert city_of("LGA") == {"JFK", "LGA", "EWR"}
    assert city_of("BOS") == {"BOS"}


def leg(fid: str, origin: str, destination: str, hours: float) -> BookedLeg:
    dep = T0 + timedelta(hours=hours)
    return BookedLeg(fid, "B6", origin, destination, dep, dep + timedelta(hours=1))


def test_the_disrupted_leg_and_the_rest_of_its_journey_are_replaced_not_the_return():
    out1, out2 = leg("out1", "JFK", "BOS", 0), leg("out2", "BOS", "PWM", 2)
    back = leg("back", "PWM", "JFK", 24 * 7)
    assert legs_to_replace([back, out2, out1], {"out1"}) == [out1, out2]
    assert legs_to_replace([out1, out2, back], {"out2"}) == [out2]
    assert legs_to_replace([out1, out2, back], {"back"}) == [back]
    assert legs_to_replace([out1], {"elsewhere"}) == []


def test_a_trip_survives_its_round_trip_through_json():
    t = trip(special_services=frozenset({"WCHR"}), booked_at=T0, onward_connection=True)
    assert trip_from_json(json.loads(json.dumps(trip_to_json(t)))) == t
    priced = trip(direction="return", haul="continental", fare=287.5, planned_minutes=130,
                  booked_cabins=(("F1", "business"),))
    assert trip_from_json(json.loads(json.dumps(trip_to_json(priced)))) == priced


def test_a_stored_trip_is_read_by_the_release_before_and_the_release_after():
    """Rolling upgrade: the last release's Trip had none of the cost profile's fields, and builds a
    Trip from every key it reads; so they are stored only when set. A key a later release adds is
    left out when read."""
    stored = trip_to_json(trip())
    assert not {"direction", "haul", "fare", "planned_minutes", "booked_cabins"} & set(stored)
    assert trip_from_json(stored | {"added_later": 1}) == trip()


def test_the_answer_deadline_is_before_the_new_flight_but_never_too_short():
    now = T0
    assert answer_deadline(now, now + timedelta(days=3), timedelta(hours=24), timedelta(minutes=15)) == \
        now + timedelta(hours=24)
    assert answer_deadline(now, now + timedelta(hours=5), timedelta(hours=24), timedelta(minutes=15)) == \
        now + timedelta(hours=4)
    assert answer_deadline(now, now + timedelta(minutes=30), timedelta(hours=24), timedelta(minutes=15)) == \
        now + timedelta(minutes=15)


def test_co_terminal_groups_are_configurable():
    groups = parse_co_terminals("BOS+PVD; jfk+lga")
    assert groups == (frozenset({"BOS", "PVD"}), frozenset({"JFK", "LGA"}))
    rules = Rules(co_terminals=groups)
    flights = [flight("pvd", destination="PVD", hours=1), flight("ewr", origin="EWR", hours=1)]
    assert ids(candidate_itineraries(trip(destination="BOS"), flights, rules)) == [("pvd",)]
    with pytest.raises(ValueError):
        parse_co_terminals("JFK")
