"""The airline's cost profile decides the rebooking: what a delay, a downgrade, a passenger left
behind and the money owed cost (services/rebooking/costs.py). The figures of the ROADEF profile are
Amadeus' (the ROADEF 2009 cost checker's specification, §4.1.1–4.1.6, and set A's config.csv)."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.rebooking import costs
from services.rebooking.domain import Flight, Rules, Trip, assign, candidate_itineraries, not_carried_cost

T0 = datetime(2006, 1, 7, 8, 0, tzinfo=UTC)


def _flight(fid: str, hours: float, origin: str, destination: str, seats: dict) -> Flight:
    leaves = T0 + timedelta(hours=hours)
    return Flight(fid, "XX", fid, origin, destination, leaves, leaves + timedelta(minutes=70), seats)


def _trip(**kw: Any) -> Trip:
    values: dict[str, Any] = dict(booking_ref="B1", passenger_ids=("p1",), cabin="business", carrier="XX", origin="ORY",
                  destination="NCE", earliest_departure=T0, planned_arrival=T0 + timedelta(minutes=70),
                  replaced_flight_ids=("cancelled",), fare=287.5, planned_minutes=70)
    return Trip(**values | kw)


ROADEF = costs.CostProfile(
    "roadef-set-a", delay_per_minute={("business", "domestic"): 0.8, ("economy", "domestic"): 0.05},
    delay_default=0.0, not_carried={("outbound", "business", "domestic"): 1500.0},
    downgrade_per_leg={("business", "economy", "domestic"): 150.0}, cabin_step=0.0, downgrade_last=False,
    stop=0.0, airport_change=0.0,
    money=costs.Money(not_carried=((120, 250.0), (270, 400.0), (None, 600.0)),
                      delayed=((120, 120, 15.0), (270, 180, 15.0), (None, 240, 15.0)),
                      care_after_minutes=300, care=60.0, refund_fare=True),
    priorities=False, split_parties=True, partial_parties=True, scale=100)


def test_the_airline_profile_downgrades_rather_than_delay_when_that_costs_less():
    """Business full on the 09:00; the next business seat is 6 h later. Under set A's costs a
    business passenger 6 h late costs 0.8 €/min × 360 = 288 € + 15 € + 60 € hotel, more than the
    150 € downgrade: the profile moves them to economy now. The default profile keeps the booked
    cabin, a lower one only when no flight has it (as the service always has)."""
    flights = [_flight("F1", 1, "ORY", "NCE", {"business": 0, "economy": 5}),
               _flight("F2", 7, "ORY", "NCE", {"business": 5, "economy": 5})]
    for profile, expected in ((ROADEF, ("F1", "economy")), (costs.DEFAULT, ("F2", "business"))):
        rules = Rules(profile=profile)
        trip = _trip()
        result = assign([trip], {"B1": candidate_itineraries(trip, flights, rules)}, rules)
        (placed,) = result.placements["B1"]
        assert (placed.itinerary.flight_ids[0], placed.cabin) == expected, profile.name


def test_a_passenger_not_carried_costs_the_trip_cancellation_the_fare_and_the_compensation_owed():
    """§4.1.2 and §4.1.5: the outbound cancellation coefficient (B, D: 1,500 €), the ticket
    (287.5 €) and 250 € for a trip planned under two hours; in cents."""
    assert not_carried_cost(_trip(), Rules(profile=ROADEF)) == (1500 + 287.5 + 250) * 100


def test_part_of_a_party_is_carried_when_the_profile_allows_it_and_not_all_fit():
    flights = [_flight("F1", 1, "ORY", "NCE", {"economy": 2})]
    trip = _trip(passenger_ids=("p1", "p2", "p3"), cabin="economy")
    for profile, carried in ((ROADEF, 2), (costs.DEFAULT, 0)):
        rules = Rules(profile=profile)
        result = assign([trip], {"B1": candidate_itineraries(trip, flights, rules)}, rules)
        assert sum(len(p.passenger_ids) for p in result.placements.get("B1", ())) == carried, profile.name


def test_journeys_of_up_to_four_legs_as_they_are_sold():
    """ORY–NCE with no direct seat: via LYS and MRS (three legs) is found when four are allowed, never
    when only one stop is (the service's default), and never through the same airport twice."""
    flights = [_flight("A", 0, "ORY", "LYS", {"economy": 9}), _flight("B", 2, "LYS", "MRS", {"economy": 9}),
               _flight("C", 4, "MRS", "NCE", {"economy": 9}), _flight("D", 4, "MRS", "ORY", {"economy": 9}),
               _flight("E", 5.5, "ORY", "NCE", {"economy": 0})]
    trip = _trip(cabin="economy")
    three = candidate_itineraries(trip, flights, Rules(max_legs=4, minimum_connecting={"default": 30}))
    assert [i.flight_ids for i in three] == [("A", "B", "C")]
    assert candidate_itineraries(trip, flights, Rules(minimum_connecting={"default": 30})) == []


@given(st.integers(0, 2000), st.integers(1, 600))
def test_money_owed_for_a_delay_rises_with_the_delay(delay, planned):
    """§4.1.6: never less for a longer delay."""
    assert ROADEF.money.when_late(planned, delay) <= ROADEF.money.when_late(planned, delay + 1)


def test_a_configured_profile_is_read_from_json_and_a_wrong_one_refused():
    text = json.dumps({"name": "night", "delay_per_minute": [["economy", "domestic", 0.05]],
                       "not_carried": [["return", "economy", "domestic", 750]], "max_legs_ignored": 1})
    with pytest.raises(ValueError, match="unknown field 'max_legs_ignored'"):
        costs.profile_from_json(text)
    data = json.loads(text)
    del data["max_legs_ignored"]
    profile = costs.profile_from_json(json.dumps(data | {"money": {"refund_fare": True,
                                                                   "not_carried": [[None, 600]]}}))
    assert profile.delay_cost("economy", "domestic", 100) == 5.0
    assert profile.not_carried_cost("return", "economy", "domestic", 0) == 750
    assert profile.money.when_not_carried(300, 100.0) == 700.0
    with pytest.raises(ValueError, match="unknown cabin or haul"):
        costs.profile_from_json(json.dumps({"delay_per_minute": [["steerage", "domestic", 1]]}))
    assert replace(costs.DEFAULT, name="x").priorities


def test_alternatives_through_one_flight_are_limited_so_that_other_flights_are_offered():
    """Three ways to the 10:00 ORY–NCE (direct, and via LYS at two times) and a later direct one:
    with at most two alternatives ending on one flight, the later one is offered too."""
    flights = [_flight("L1", 0, "ORY", "LYS", {"economy": 9}), _flight("L2", 0.25, "ORY", "LYS", {"economy": 9}),
               _flight("N1", 2, "LYS", "NCE", {"economy": 9}), _flight("D1", 3, "ORY", "NCE", {"economy": 9}),
               _flight("D2", 6, "ORY", "NCE", {"economy": 9})]
    trip = _trip(cabin="economy")
    rules = Rules(max_legs=4, minimum_connecting={"default": 30}, options_per_trip=3)
    every = candidate_itineraries(trip, flights, rules)
    assert [i.flight_ids for i in every] == [("L1", "N1"), ("L2", "N1"), ("D1",)]
    diverse = candidate_itineraries(trip, flights, replace(rules, options_per_end_flight=1))
    assert [i.flight_ids for i in diverse] == [("L1", "N1"), ("D1",), ("D2",)]
