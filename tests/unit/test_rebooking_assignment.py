import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.rebooking.domain import (
    Flight,
    Itinerary,
    Placement,
    Rules,
    Trip,
    assign,
    candidate_itineraries,
    objective,
)

T0 = datetime(2013, 2, 8, 22, 40, tzinfo=UTC)
RULES = Rules()


def flight(fid: str, hours: float, seats: int | dict = 10, origin="JFK") -> Flight:
    dep = T0 + timedelta(hours=hours)
    cabins: dict[Any, int] = seats if isinstance(seats, dict) else {"economy": seats}
    return Flight(fid, "B6", "1", origin, "BOS", dep, dep + timedelta(minutes=75), cabins)


def trip(ref: str, party: int = 1, **kw) -> Trip:
    values: dict[str, Any] = dict(booking_ref=ref, passenger_ids=tuple(f"{ref}-{i}" for i in range(party)),
                  cabin="economy", carrier="B6", origin="JFK", destination="BOS",
                  earliest_departure=T0, planned_arrival=T0 + timedelta(minutes=75),
                  replaced_flight_ids=("cancelled",), booked_at=T0 - timedelta(days=30))
    return Trip(**values | kw)


def solve(trips, flights, **kw):
    options = {t.booking_ref: candidate_itineraries(t, flights, RULES) for t in trips}
    return assign(trips, options, RULES, **kw)


def where(result, ref) -> list[str]:
    return [p.itinerary.flight_ids[0] for p in result.placements.get(ref, [])]


def test_connections_at_risk_then_tier_then_special_needs_then_booking_order_get_the_early_seat():
    soon, later = flight("soon", 1, seats=1), flight("later", 6, seats=10)
    contenders = [
        trip("PLAIN1"),
        trip("EARLY1", booked_at=T0 - timedelta(days=90)),
        trip("WCHR01", special_services=frozenset({"WCHR"})),
        trip("GOLD01", tier="gold"),
        trip("CONN01", onward_connection=True),
    ]
    for expected in ["CONN01", "GOLD01", "WCHR01", "EARLY1"]:
        result = solve(contenders, [soon, later])
        assert where(result, expected) == ["soon"], expected
        assert all(where(result, t.booking_ref) == ["later"] for t in contenders
                   if t.booking_ref != expected)
        contenders = [t for t in contenders if t.booking_ref != expected]


def test_a_party_stays_together_even_if_that_means_a_later_flight():
    result = solve([trip("FAMILY", party=4)], [flight("three", 1, seats=3), flight("four", 3, seats=4)])
    assert where(result, "FAMILY") == ["four"]
    assert len(result.placements["FAMILY"][0].passenger_ids) == 4


def test_a_party_is_split_only_when_the_booking_allows_and_nothing_else_fits():
    flights = [flight("two", 1, seats=2), flight("one", 2, seats=1)]
    together = solve([trip("KEEPUS", party=3)], flights)
    assert together.placements == {} and "KEEPUS" in together.unplaced
    split = solve([trip("SPLITS", party=3, may_split=True)], flights)
    # Each passenger's flight: a split party's placement carries those who share a flight.
    assert sorted(p.itinerary.flight_ids[0] for p in split.placements["SPLITS"] for _ in p.passenger_ids) == [
        "one", "two", "two"]
    assert "different flights" in split.placements["SPLITS"][0].reason


def test_a_higher_cabin_before_a_later_flight_and_a_lower_one_only_as_the_last_resort():
    up = solve([trip("ECONOM")], [flight("biz", 1, seats={"business": 1}), flight("eco", 9)])
    assert where(up, "ECONOM") == ["biz"] and up.placements["ECONOM"][0].cabin == "business"

    down = solve([trip("BUSINS", cabin="business")],
                 [flight("eco", 1, seats={"economy": 5}), flight("eco-later", 30, seats={"economy": 5})])
    placed = down.placements["BUSINS"][0]
    assert placed.cabin == "economy" and placed.downgraded and "owed the difference" in placed.reason
    assert where(down, "BUSINS") == ["eco"]


def test_every_placement_says_why_and_every_unplaced_booking_too():
    result = solve([trip("FIRST1"), trip("SECOND", booked_at=T0)],
                   [flight("soon", 1, seats=1), flight("lga", 2, seats=1, origin="LGA")])
    assert "earliest arrival" in result.placements["FIRST1"][0].reason
    assert "Earlier flights had no seats" in result.placements["SECOND"][0].reason
    assert "LGA instead of JFK" in result.placements["SECOND"][0].reason
    nothing = solve([trip("NOSEAT")], [flight("full", 1, seats=0)])
    assert "NOSEAT" in nothing.unplaced


def _brute_force(trips, flights):
    """Every way to place each party whole (or not at all), within the seats: the cheapest."""
    options = {t.booking_ref: candidate_itineraries(t, flights, RULES) for t in trips}
    seats = {f.flight_id: f.seats_free["economy"] for f in flights}
    best = None
    for picks in itertools.product(*[[None, *options[t.booking_ref]] for t in trips]):
        used = Counter()
        for t, it in zip(trips, picks, strict=True):
            if it is not None:
                used[it.flight_ids[0]] += t.party
        if any(used[f] > seats[f] for f in used):
            continue
        placements = {t.booking_ref: [Placement(t, t.passenger_ids, it, "economy", "")]
                      for t, it in zip(trips, picks, strict=True) if it is not None}
        cost = objective(trips, placements, RULES)
        best = cost if best is None else min(best, cost)
    return best


small_trips = st.lists(
    st.builds(lambda i, party, tier, conn: trip(f"T{i:05d}", party, tier=tier, onward_connection=conn),
              st.integers(0, 99999), st.integers(1, 4), st.sampled_from(["none", "gold"]), st.booleans()),
    min_size=1, max_size=4, unique_by=lambda t: t.booking_ref)
small_flights = st.lists(st.builds(lambda i, h, s: flight(f"F{i}", h, s),
                                   st.integers(0, 999), st.floats(0.5, 30), st.integers(0, 6)),
                         min_size=1, max_size=3, unique_by=lambda f: f.flight_id)


@settings(max_examples=60, deadline=None)
@given(small_trips, small_flights)
def test_the_solver_finds_the_least_weighted_delay_that_brute_force_finds(trips, flights):
    result = solve(trips, flights)
    assert result.method == "optimal"
    assert result.objective == _brute_force(trips, flights)


many_trips = st.lists(
    st.builds(lambda i, party, cabin, split: trip(f"M{i:05d}", party, cabin=cabin, may_split=split),
              st.integers(0, 99999), st.integers(1, 6), st.sampled_from(["economy", "business"]),
              st.booleans()),
    min_size=1, max_size=25, unique_by=lambda t: t.booking_ref)
many_flights = st.lists(
    st.builds(lambda i, h, eco, biz, o: flight(f"F{i}", h, {"economy": eco, "business": biz}, origin=o),
              st.integers(0, 999), st.floats(0.5, 80), st.integers(0, 12), st.integers(0, 4),
              st.sampled_from(["JFK", "LGA", "EWR"])),
    min_size=0, max_size=8, unique_by=lambda f: f.flight_id)


@settings(max_examples=60, deadline=None)
@given(many_trips, many_flights, st.sampled_from([2.0, 0.0]))
def test_never_oversold_every_passenger_once_and_parties_whole_unless_they_may_split(trips, flights, budget):
    result = solve(trips, flights, time_budget=budget)
    assert result.method != "greedy" or budget == 0  # out of time, the greedy placement stands in
    free = {(f.flight_id, c): n for f in flights for c, n in f.seats_free.items()}
    taken = Counter()
    for t in trips:
        placements = result.placements.get(t.booking_ref, [])
        assert bool(placements) != (t.booking_ref in result.unplaced)
        seated = [p for pl in placements for p in pl.passenger_ids]
        assert sorted(seated) in ([], sorted(t.passenger_ids))  # everyone or no one
        if len(placements) > 1:
            assert t.may_split
        for pl in placements:
            assert isinstance(pl.itinerary, Itinerary)
            for f in pl.itinerary.flights:
                taken[(f.flight_id, pl.cabin)] += len(pl.passenger_ids)
    assert all(taken[k] <= free.get(k, 0) for k in taken)


def test_out_of_time_the_greedy_placement_stands_in_and_still_fits():
    contenders = [trip(f"G{i:05d}", 2) for i in range(6)]
    result = solve(contenders, [flight("soon", 1, seats=5), flight("later", 4, seats=4)], time_budget=0)
    assert result.method == "greedy"
    assert sorted(where(result, t.booking_ref)[0] for t in contenders if t.booking_ref in result.placements) == [
        "later", "later", "soon", "soon"]


def test_routes_that_share_no_flight_are_solved_apart():
    boston = [trip(f"B{i:05d}") for i in range(3)]
    chicago = [trip(f"C{i:05d}", destination="ORD") for i in range(3)]
    flights = [flight("bos", 1, seats=2), flight("ord", 1, seats=2)]
    flights[1] = Flight("ord", "B6", "1", "JFK", "ORD", flights[1].departure, flights[1].arrival, {"economy": 2})
    result = solve(boston + chicago, flights)
    assert result.method == "optimal"
    assert sum(1 for t in boston if t.booking_ref in result.placements) == 2
    assert sum(1 for t in chicago if t.booking_ref in result.placements) == 2
