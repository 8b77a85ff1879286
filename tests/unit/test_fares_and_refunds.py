"""Fares per coupon and refunds that never pay a ticket twice: proration, where journeys end, which
coupons a refund covers, and the ledger's plan over any sequence of evaluations. Pure: no I/O."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.compensation import ledger
from services.compensation.case import Case, Entitlement
from services.rebooking import domain
from shared import journeys

T0 = datetime(2013, 2, 8, 14, 0, tzinfo=UTC)
H = timedelta(hours=1)


# --- proration ------------------------------------------------------------------------------------


def test_mileage_proration_matches_a_published_worked_example():
    """Cirium's FM Traffic methodology note: an 850-mile trip of 729 and 121 miles, "the mileage
    prorate gives 85.8% of the fare amount to the longer leg and 14.2% to the shorter stage"
    (helpdesk.cirium.com, "FM Traffic Fare Proration Methodology")."""
    long, short = journeys.prorate(Decimal("1000.00"), [729, 121])
    assert round(long / 10, 1) == Decimal("85.8") and round(short / 10, 1) == Decimal("14.2")
    assert long + short == Decimal("1000.00")


def test_mennens_the_price_of_one_flight_is_the_fare_times_its_share_of_the_distance():
    """CJEU C-255/15 Mennens, ruling 2: where the ticket shows no price per flight, the price of
    the flight concerned is the ticket's price times the flight's distance over the total
    distance the ticket covers. Three flights of 1,000, 2,000 and 1,000 km on a 400.00 ticket."""
    assert journeys.prorate(Decimal("400.00"), [1000, 2000, 1000]) == [Decimal("100.00"), Decimal("200.00"),
                                                                      Decimal("100.00")]


@given(fare=st.decimals(min_value=0, max_value=100_000, places=2),
       distances=st.lists(st.floats(min_value=0, max_value=20_000), min_size=1, max_size=8),
       exponent=st.sampled_from([0, 2, 3]))
def test_shares_add_up_to_the_fare_exactly_and_follow_the_distance(fare, distances, exponent):
    unit = Decimal(1).scaleb(-exponent)
    fare = fare.quantize(unit, rounding="ROUND_DOWN")
    shares = journeys.prorate(fare, distances, exponent)
    assert sum(shares) == fare and all(s >= 0 for s in shares)
    km = [max(d, 1.0) for d in distances]
    for share, d in zip(shares, km, strict=True):
        assert abs(share - fare * Decimal(d / sum(km))) <= unit * 2  # within rounding


# --- journeys ------------------------------------------------------------------------------------


def leg(fid: str, origin: str, destination: str, departs: timedelta, hours: float = 2) -> domain.BookedLeg:
    return domain.BookedLeg(fid, "UA", origin, destination, T0 + departs, T0 + departs + hours * H)


OUT = leg("UA1/2013-02-08/EWR", "EWR", "ORD", 0 * H, 2.5)
ONWARD = leg("UA7000/2013-02-08/ORD", "ORD", "LAX", 4 * H, 4.5)
HOME1 = leg("UA7101/2013-02-10/LAX", "LAX", "ORD", 48 * H, 4)
HOME2 = leg("UA7102/2013-02-10/ORD", "ORD", "EWR", 54 * H, 2.5)
SAME_DAY_BACK = leg("UA8/2013-02-08/ORD", "ORD", "LGA", 8 * H, 2.5)


def spans(legs):
    return [[legs[i].flight_id for i in span] for span in journeys.journey_spans(
        [(x.origin, x.destination, x.departure, x.arrival) for x in legs])]


def test_a_same_day_return_is_a_journey_of_its_own_and_co_terminals_count_as_home():
    """Emirates v Schenkel (C-173/07): the outward and the return flight are two flights, not
    one journey; the return lands at LGA, in the same city as EWR."""
    assert spans([OUT, SAME_DAY_BACK]) == [[OUT.flight_id], [SAME_DAY_BACK.flight_id]]


def test_a_round_trip_with_connections_turns_at_its_farthest_point():
    same_day = [OUT, ONWARD, leg("UA9/2013-02-08/LAX", "LAX", "ORD", 10 * H, 4),
                leg("UA10/2013-02-08/ORD", "ORD", "EWR", 16 * H, 2.5)]
    assert [len(j) for j in spans(same_day)] == [2, 2]
    assert spans([OUT, ONWARD, HOME1, HOME2]) == [[OUT.flight_id, ONWARD.flight_id],
                                                 [HOME1.flight_id, HOME2.flight_id]]


def test_only_the_rest_of_the_disrupted_journey_is_replaced():
    assert domain.legs_to_replace([OUT, ONWARD, HOME1, HOME2], {OUT.flight_id}) == [OUT, ONWARD]
    assert domain.legs_to_replace([OUT, SAME_DAY_BACK], {OUT.flight_id}) == [OUT]


# --- which coupons a refund covers ---------------------------------------------------------------


def test_an_outbound_refunded_before_setting_out_gives_up_the_return_too():
    refund = domain.refund_for([OUT, ONWARD, HOME1, HOME2], [OUT.flight_id, ONWARD.flight_id])
    assert set(refund.coupons) == set(refund.released) == {OUT.flight_id, ONWARD.flight_id, HOME1.flight_id,
                                                           HOME2.flight_id}
    assert refund.whole_trip and not refund.stranded and not refund.connection_lost


def test_a_lost_connection_before_setting_out_refunds_the_flight_that_still_goes():
    refund = domain.refund_for([OUT, ONWARD, HOME1, HOME2], [ONWARD.flight_id])
    assert OUT.flight_id in refund.released and HOME2.flight_id in refund.released
    assert refund.connection_lost and refund.whole_trip and not refund.stranded


def test_passengers_who_flew_the_first_leg_are_stranded_and_will_not_fly_home_from_los_angeles():
    refund = domain.refund_for([OUT, ONWARD, HOME1, HOME2], [ONWARD.flight_id], flown={OUT.flight_id})
    assert refund.stranded and refund.whole_trip
    # the journey flown in part, all of it, and the return from a city they will not reach
    assert set(refund.coupons) == {OUT.flight_id, ONWARD.flight_id, HOME1.flight_id, HOME2.flight_id}
    assert OUT.flight_id not in refund.released  # a flight gone is not put back on sale


def test_a_return_refunded_after_the_outbound_was_flown_is_the_return_only():
    refund = domain.refund_for([OUT, ONWARD, HOME1, HOME2], [HOME1.flight_id, HOME2.flight_id],
                               flown={OUT.flight_id, ONWARD.flight_id})
    assert set(refund.coupons) == {HOME1.flight_id, HOME2.flight_id} and not refund.whole_trip


# --- the ledger: never more than the ticket --------------------------------------------------------

CASE = Case.model_validate({
    "booking": "ABC123", "passenger": {"id": "P1"}, "fare": {"amount": "300", "currency": "USD",
                                                             "payment": "credit_card"},
    "operating_carrier": "UA", "itinerary": [{"flight": "UA 1", "origin": "EWR", "destination": "ORD",
                                              "scheduled_departure": T0.isoformat(),
                                              "scheduled_arrival": (T0 + 2 * H).isoformat()}],
    "disruption": {"kind": "cancellation", "cause": "technical", "announced_at": (T0 - H).isoformat()}})


def entitlement(kind: str, minor: int) -> Entitlement:
    return Entitlement(regime="US_DOT", kind=kind, amount=Decimal(minor) / 100, currency="USD",
                       rule=f"us_dot.{kind}", rule_version="2024-10-28", source="14 CFR 260.6", reason="test")


class Books:
    """The ledger's tables, kept in memory, written only as `ledger.plan` says."""

    def __init__(self, paid: dict[str, int]) -> None:
        self.grants: dict[tuple[str, str, str], ledger.Standing] = {}
        self.tickets = {p: ledger.Ticket("USD", n) for p, n in paid.items()}
        self.payouts: dict[uuid.UUID, ledger.Payout] = {}

    def evaluate(self, journey: str, owed: list[tuple[str, str, int]]) -> None:
        existing = {(p, k): g for (j, p, k), g in self.grants.items() if j == journey}
        done = ledger.plan("ABC123", journey, ["d"], existing, self.tickets,
                           [ledger.Evaluated(p, CASE, entitlement(k, n)) for p, k, n in owed], T0,
                           code=lambda: "RB-TEST")
        for new in done.new_grants:
            self.grants[(journey, new.passenger_id, new.kind)] = ledger.Standing(
                new.grant_id, new.passenger_id, new.kind, new.amount_minor, new.currency, new.rule)
        for raised in done.raised:
            key = next(k for k, g in self.grants.items() if g.grant_id == raised.grant_id)
            old = self.grants[key]
            self.grants[key] = ledger.Standing(old.grant_id, old.passenger_id, old.kind, raised.amount_minor,
                                               old.currency, raised.rule)
        for p, n in done.refunded.items():
            t = self.tickets[p]
            self.tickets[p] = ledger.Ticket(t.currency, t.paid_minor, t.refunded_minor + n)
            assert t.refunded_minor + n <= t.paid_minor  # what the database's constraint guarantees
        for payout in done.payouts:
            self.payouts.setdefault(payout.payout_id, payout)  # the payout id is the provider's idempotency key


def test_two_journeys_each_owing_the_whole_ticket_are_refunded_it_once():
    books = Books({"P1": 30000})
    books.evaluate("outward", [("P1", "refund", 30000)])
    books.evaluate("return", [("P1", "refund", 30000), ("P1", "compensation", 40000)])
    refunds = sum(p.amount_minor for p in books.payouts.values() if p.kind == "refund")
    assert refunds == 30000
    # Not capped: not a refund.
    assert sum(p.amount_minor for p in books.payouts.values() if p.kind == "compensation") == 40000


operations = st.lists(st.tuples(st.sampled_from(["outward", "return", "outward", "later"]),
                                st.sampled_from(["P1", "P2"]),
                                st.sampled_from(["refund", "refund", "compensation", "meal"]),
                                st.integers(min_value=0, max_value=60000),
                                st.integers(min_value=1, max_value=3)),  # how often it is delivered
                      max_size=25)


@settings(max_examples=300)
@given(paid=st.tuples(st.integers(min_value=0, max_value=50000), st.integers(min_value=0, max_value=50000)),
       steps=operations)
def test_no_sequence_of_refunds_changes_and_redeliveries_pays_a_ticket_more_than_its_fare(paid, steps):
    books = Books({"P1": paid[0], "P2": paid[1]})
    for journey, passenger, kind, minor, deliveries in steps:
        for _ in range(deliveries):
            books.evaluate(journey, [(passenger, kind, minor)])
    for passenger, fare in (("P1", paid[0]), ("P2", paid[1])):
        refunded = sum(p.amount_minor for p in books.payouts.values()
                       if p.passenger_id == passenger and p.kind == "refund")
        granted = sum(g.amount_minor for (_, p, k), g in books.grants.items() if p == passenger and k == "refund")
        assert refunded == granted == books.tickets[passenger].refunded_minor <= fare


def test_the_way_home_runs_from_the_connecting_airport_to_where_the_journey_began():
    refund = domain.refund_for([OUT, ONWARD, HOME1, HOME2], [ONWARD.flight_id], flown={OUT.flight_id})
    assert refund.home == "EWR"
    stranded = domain.Trip("ABC123", ("P1",), "economy", "UA", "ORD", "LAX", T0 + 5 * H, T0 + 9 * H,
                           (ONWARD.flight_id,))
    home = domain.homeward(stranded, refund.home)
    assert (home.origin, home.destination, home.replaced_flight_ids) == ("ORD", "EWR", ())
    # co-terminal airports count as home: a flight to LGA is a flight home to New York
    back = domain.Flight("UA8/2013-02-08/ORD", "UA", "8", "ORD", "LGA", T0 + 8 * H, T0 + 10.5 * H, {"economy": 3})
    assert [i.flight_ids for i in domain.candidate_itineraries(home, [back], domain.Rules())] == [(back.flight_id,)]


def test_an_outbound_is_replaced_only_by_flights_that_land_before_the_return_leaves():
    """Found by the 9 February 2013 replay: a round trip to Miami, its outbound cancelled, was
    moved to a flight three days later, after its own return had left. A new outbound must land
    in time for the return (less the airport's minimum connecting time), or the trip is refunded."""
    out = leg("UA714/2013-02-09/EWR", "EWR", "MIA", 0 * H, 3)
    back = leg("UA8016/2013-02-10/MIA", "MIA", "EWR", 26 * H, 3)
    rules = domain.Rules()
    by = domain.arrive_by([out, back], [out], rules)
    assert by == back.departure - timedelta(minutes=60)  # MIA: the default minimum connecting time
    trip = domain.Trip("RT0002", ("P1",), "economy", "UA", "EWR", "MIA", T0, T0 + 3 * H, (out.flight_id,),
                       arrive_by=by)

    def flight(fid: str, departs: timedelta) -> domain.Flight:
        return domain.Flight(fid, "UA", fid[2:5], "EWR", "MIA", T0 + departs, T0 + departs + 3 * H, {"economy": 9})
    soon, too_late = flight("UA734/2013-02-09/EWR", 6 * H), flight("UA1579/2013-02-12/EWR", 72 * H)
    assert [i.flight_ids for i in domain.candidate_itineraries(trip, [soon, too_late], rules)] == [(soon.flight_id,)]
    assert domain.candidate_itineraries(trip, [too_late], rules) == []
    assert domain.arrive_by([out], [out], rules) is None  # one way: no deadline
    assert domain.trip_from_json(domain.trip_to_json(trip)) == trip
