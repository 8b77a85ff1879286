from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.rebooking.domain import Flight, choose_alternatives
from shared.airports import city_of

T0 = datetime(2013, 2, 8, 22, 40, tzinfo=UTC)


def flight(fid: str, origin="JFK", destination="BOS", hours=0.0, seats=10, block=75) -> Flight:
    dep = T0 + timedelta(hours=hours)
    return Flight(fid, origin, destination, dep, dep + timedelta(minutes=block), seats)


DISRUPTED = flight("cancelled", seats=0)


def test_earliest_arrival_first_and_co_terminals_count():
    later = flight("later", hours=3)
    lga = flight("lga", origin="LGA", hours=1)
    chosen = choose_alternatives(DISRUPTED, [later, lga], party_size=2)
    assert [a.flight.flight_id for a in chosen] == ["lga", "later"]
    assert "LGA→BOS" in chosen[0].reason


def test_same_airports_win_a_tie_on_arrival():
    same = flight("same", hours=2)
    other = flight("other", origin="EWR", hours=2)
    assert [a.flight.flight_id for a in choose_alternatives(DISRUPTED, [other, same], 1)] == [
        "same", "other"]


def test_party_stays_together_or_not_at_all():
    assert choose_alternatives(DISRUPTED, [flight("small", hours=1, seats=3)], party_size=4) == []


def test_never_earlier_than_planned_nor_beyond_the_horizon_nor_elsewhere():
    candidates = [flight("earlier", hours=-1), flight("too-late", hours=73),
                  flight("elsewhere", destination="PVD", hours=1), flight("cancelled", hours=0)]
    assert choose_alternatives(DISRUPTED, candidates, 1) == []


def test_city_groups():
    assert city_of("LGA") == {"JFK", "LGA", "EWR"}
    assert city_of("BOS") == {"BOS"}


airports = st.sampled_from(["JFK", "LGA", "EWR", "BOS", "PVD"])
candidate_flights = st.builds(
    lambda i, o, d, h, s: flight(f"F{i}", o, d, h, s),
    st.integers(0, 10**6), airports, airports, st.floats(-24, 100), st.integers(0, 200),
)


@given(st.lists(candidate_flights, max_size=30), st.integers(1, 9))
def test_every_alternative_fits_and_they_come_best_first(candidates, party):
    chosen = choose_alternatives(DISRUPTED, candidates, party)
    for a in chosen:
        f = a.flight
        assert f.seats_free >= party
        assert f.origin in {"JFK", "LGA", "EWR"} and f.destination == "BOS"
        assert DISRUPTED.scheduled_departure <= f.scheduled_departure
        assert f.scheduled_departure <= DISRUPTED.scheduled_departure + timedelta(hours=72)
    arrivals = [a.flight.scheduled_arrival for a in chosen]
    assert arrivals == sorted(arrivals)
