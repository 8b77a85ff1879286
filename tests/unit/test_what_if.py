"""What-if plans, the pure parts: a plan as ops write it (and what is refused), the events it
becomes, the flights and passengers it hits by the disruption service's own rules, and how each
owner's answer is counted. The preview set beside the services' real outcome is in
tests/handlers/test_what_if.py (and, on the real stack, tests/integration/test_what_if.py)."""

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.compensation.case import Entitlement
from services.compensation.what_if import best, tally
from services.disruption import domain, planning
from services.disruption.what_if import owners_parts
from services.notify import policy
from services.notify.what_if import forecast
from services.rebooking import domain as rebooking
from services.rebooking.what_if import as_planned, seats_left
from shared import in_process, low_priority
from shared.events import FlightCancelled, FlightDelayed, Leg, PassengerDisruption, RebookingDecided
from shared.what_if import MAX_FLIGHTS, NoticesPreview, Plan, PlannedFlight, RebookingPreview, percentile

T = datetime(2013, 2, 8, 12, tzinfo=UTC)


def leg(number: str, origin: str = "JFK", destination: str = "BOS", hour: int = 12) -> Leg:
    departs = T.replace(hour=hour)
    return Leg(flight_id=f"B6{number}/2013-02-08/{origin}", carrier="B6", number=number, origin=origin,
               destination=destination, scheduled_departure=departs, scheduled_arrival=departs + timedelta(minutes=75))


# --- the plan ------------------------------------------------------------------------------------

flight_ids = st.builds(lambda n, o: f"B6{n}/2013-02-08/{o}", st.integers(1, 9999), st.sampled_from(["JFK", "LGA"]))


@given(st.lists(st.lists(flight_ids, min_size=1, max_size=20), min_size=1, max_size=10))
def test_a_plan_names_each_flight_once_in_its_order(groups):
    plan = Plan(changes=[{"action": "cancel", "flights": g} for g in groups])
    named = plan.flights_named()
    assert named == list(dict.fromkeys(f for g in groups for f in g))


@pytest.mark.parametrize("change, why", [
    ({"action": "cancel", "flights": []}, "at least 1"),
    ({"action": "cancel", "flights": ["B6 1001"]}, "pattern"),
    ({"action": "cancel", "flight": ["B61001/2013-02-08/JFK"]}, "Extra inputs"),
    ({"action": "ground", "flights": ["B61001/2013-02-08/JFK"]}, "does not match any of the expected tags"),
    ({"action": "delay", "flights": ["B61001/2013-02-08/JFK"], "minutes": 0}, "greater than or equal to 1"),
    ({"action": "retime", "flight": "B61001/2013-02-08/JFK", "departure": "2013-02-08T15:00:00Z",
      "arrival": "2013-02-08T14:00:00Z"}, "arrival must be after departure"),
    ({"action": "retime", "flight": "B61001/2013-02-08/JFK", "departure": "2013-02-08T15:00:00",
      "arrival": "2013-02-08T16:00:00"}, "timezone"),
    ({"action": "close_airport", "airport": "JFK", "start": "2013-02-08T00:00:00Z", "end": "2013-02-12T00:00:00Z"},
     "within 72 hours"),
    ({"action": "divert", "flight": "B61001/2013-02-08/JFK", "to": "bos"}, "pattern"),
])
def test_a_plan_that_cannot_be_meant_is_refused_with_why(change, why):
    with pytest.raises(ValidationError, match=why):
        Plan(changes=[change])


def test_a_plan_too_large_is_refused_before_its_flights_are_read():
    with pytest.raises(ValidationError, match=f"at most {MAX_FLIGHTS}"):
        Plan(changes=[{"action": "cancel", "flights": ["B61/2013-02-08/JFK"] * (MAX_FLIGHTS + 1)}])
    with pytest.raises(ValidationError, match="at most 100 items"):
        Plan(changes=[{"action": "cancel", "flights": ["x"]}] * 101)


# --- the events it becomes, and whom they hit ------------------------------------------------------


def test_each_change_becomes_the_flight_events_a_partner_would_send():
    legs = {f.flight_id: f for f in (leg("1001"), leg("1003", hour=14))}
    [(f1, cancelled)] = planning.events_for(Plan.model_validate({"changes": [
        {"action": "cancel", "flights": [leg("1001").flight_id], "cause": "weather"}]}).changes[0], legs, [], T, "p")
    assert f1 == leg("1001").flight_id and isinstance(cancelled, FlightCancelled) and cancelled.reason == "weather"
    assert cancelled.flight.flight_id == f1, "the partner's way of naming the flight finds the same one"
    [(_, delayed)] = planning.events_for(Plan.model_validate({"changes": [
        {"action": "delay", "flights": [leg("1003").flight_id], "minutes": 180}]}).changes[0], legs, [], T, "p")
    assert isinstance(delayed, FlightDelayed)
    assert delayed.estimated_departure == leg("1003", hour=14).scheduled_departure + timedelta(hours=3)
    assert delayed.estimated_arrival == leg("1003", hour=14).scheduled_arrival + timedelta(hours=3)
    closed = planning.events_for(Plan.model_validate({"changes": [
        {"action": "close_airport", "airport": "JFK", "start": T.isoformat(),
         "end": (T + timedelta(hours=4)).isoformat()}]}).changes[0], legs, list(legs), T, "p")
    assert [f for f, _ in closed] == list(legs) and all(isinstance(e, FlightCancelled) for _, e in closed)


def _seen(*flights: Leg, aboard: dict[str, list[domain.Aboard]], onward: dict | None = None) -> domain.Seen:
    return domain.Seen([domain.FlightNow(domain.FlightState("scheduled", f.scheduled_departure, f.scheduled_arrival,
                                                            f.destination), f) for f in flights], aboard, onward or {})


def _play(changes: list[dict], seen: domain.Seen, legs: list[Leg]) -> planning.Played:
    plan = Plan.model_validate({"changes": changes})
    by_id = {f.flight_id: f for f in legs}
    events = [e for c in plan.changes for e in planning.events_for(c, by_id, [], T, "test")]
    return planning.play(events, seen, at=T, source="rebound/what-if", minimum_connecting={"default": 60},
                         same_city=lambda a, b: a == b)


def test_a_flight_cancelled_then_delayed_hits_its_passengers_once_as_the_service_would():
    f = leg("1001")
    seen = _seen(f, aboard={f.flight_id: [domain.Aboard("ABC123", ["ABC123-1", "ABC123-2"])]})
    played = _play([{"action": "cancel", "flights": [f.flight_id]},
                    {"action": "delay", "flights": [f.flight_id], "minutes": 120}], seen, [f])
    assert [d.kind for d in played.hurt] == ["cancelled"]
    assert played.effects[1] == (f.flight_id, "ignored: the flight is cancelled")
    assert played.planned[f.flight_id].status == "cancelled"
    assert planning.hit_figures(played) == {"flights": 1, "bookings": 1, "passengers": 2,
                                            "by_kind": {"cancelled": 2}, "connections_broken": 0}


def test_a_short_delay_tells_nobody_and_a_long_one_breaks_the_connection_after_it():
    inbound, onward = leg("1001", hour=12), leg("2002", origin="BOS", destination="ORD", hour=15)
    seen = _seen(inbound, aboard={inbound.flight_id: [domain.Aboard("ABC123", ["ABC123-1"])]},
                 onward={inbound.flight_id: [domain.Onward("ABC123", ["ABC123-1"], onward, "scheduled")]})
    # 20 minutes: under the 30 a notice needs, and the 60-minute connection still holds.
    assert _play([{"action": "delay", "flights": [inbound.flight_id], "minutes": 20}], seen, [inbound]).hurt == []
    played = _play([{"action": "delay", "flights": [inbound.flight_id], "minutes": 90}], seen, [inbound])
    assert sorted(d.kind for d in played.hurt) == ["connection_at_risk", "delayed"]
    assert planning.hit_figures(played)["passengers"] == 1, "one passenger, hit twice"
    assert planning.hit_figures(played)["connections_broken"] == 1


# --- the owners' answers, counted -------------------------------------------------------------------


def test_percentiles_are_by_nearest_rank():
    # The worked example of the nearest-rank method (Wikipedia, "Percentile"): 15, 20, 35, 40, 50.
    values = [15, 20, 35, 40, 50]
    assert [percentile(values, q) for q in (0.05, 0.3, 0.4, 0.5, 1.0)] == [15, 20, 20, 35, 50]
    assert percentile([], 0.5) is None


def _disruption(ref: str, n: int, kind: str = "cancelled", disruption_id: str = "d1") -> PassengerDisruption:
    return PassengerDisruption(disruption_id=disruption_id, booking_ref=ref,
                               passenger_ids=[f"{ref}-{i + 1}" for i in range(n)], flight=leg("1001"), kind=kind,
                               cause="weather")


def _decided(d: PassengerDisruption, outcome: str, late: int | None = None,
             onto: tuple[Leg, ...] = ()) -> RebookingDecided:
    return RebookingDecided(disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=d.passenger_ids,
                            outcome=outcome, reason="test", arrival_delay_minutes=late, segments=list(onto))


def test_a_passenger_counts_once_by_the_strongest_outcome():
    a, b, c = _disruption("AAA111", 2), _disruption("BBB222", 1), _disruption("CCC333", 3)
    a_kept = _disruption("AAA111", 2, kind="delayed", disruption_id="d0")
    answer = RebookingPreview(
        decided=[_decided(a_kept, "kept"), _decided(a, "rebooked", 90, (leg("1003", hour=15),)),
                 _decided(b, "no_alternative"), _decided(c, "rebooked", 240, (leg("1005", hour=18),))],
        cabins={}, tiers={}, special_services={}, unaccompanied_minors=0, method="optimal", solve_seconds=0.1,
        cost=1, cost_profile="default")
    figures = planning.rebooking_figures([a_kept, a, b, c], answer)
    assert (figures["rebooked"], figures["refunded"], figures["kept"], figures["without_outcome"]) == (5, 1, 0, 0)
    # Five rebooked: two 90 minutes late, three 240.
    assert figures["arrival_delay_minutes"] == {"p50": 240, "p90": 240}
    assert figures["onto_flights"][0] == {"flight": "B6 1005 JFK-BOS 08 Feb 18:00Z", "passengers": 3}


def _e(kind: str, amount: int, regime: str = "EU261", currency: str = "EUR") -> Entitlement:
    return Entitlement(regime=regime, kind=kind, amount=Decimal(amount), currency=currency, rule="r", rule_version="1",
                       source="s", reason="r")


def test_the_money_is_what_the_ledger_would_end_with_and_the_cause_exempts_the_difference():
    journey = ("AAA111", "d1", "AAA111-1")
    # Judged twice as the journey's halves came in: the ledger only ever raises a grant.
    given = best([((*journey, "meal"), _e("meal", 15)), ((*journey, "meal"), _e("meal", 30)),
                  ((*journey, "refund"), _e("refund", 400, "US_DOT", "USD")), ((*journey, "meal"), _e("meal", 20))])
    # Had the cause been the airline's own: EU261's compensation, and the airline's credit for a
    # delay it controls; the same meal.
    within = best([((*journey, "compensation"), _e("compensation", 600)), ((*journey, "meal"), _e("meal", 30)),
                   ((*journey, "credit"), _e("credit", 50, "AIRLINE", "USD"))])
    owed = {(o.currency, o.kind, o.regime): (o.amount, o.exempt, o.passengers) for o in tally(given, within)}
    assert owed == {("EUR", "meal", "EU261"): (Decimal(30), Decimal(0), 1),
                    ("USD", "refund", "US_DOT"): (Decimal(400), Decimal(0), 1),
                    ("EUR", "compensation", "EU261"): (Decimal(0), Decimal(600), 0),
                    ("USD", "credit", "AIRLINE"): (Decimal(0), Decimal(50), 0)}


def test_notices_are_counted_by_channel_and_language_and_timed_by_the_slowest_channel():
    def sms_email(locale: str) -> policy.Contact:
        return policy.Contact(["sms", "email"], [], "a@example.com", "+12125550100", locale)
    contacts = {("AAA111", "AAA111-1"): sms_email("es"), ("AAA111", "AAA111-2"): sms_email("it"),
                ("AAA111", "AAA111-3"): policy.Contact(["sms"], ["sms"], None, "+12125550101")}
    shown = forecast(contacts, [("AAA111", ["AAA111-1", "AAA111-2", "AAA111-3", "AAA111-4"])],
                     measured={"sms": 1.0}, configured={"sms": 100.0, "email": 100.0, "push": 500.0})
    assert shown.by_channel == {"sms": 2, "email": 2}
    assert shown.by_language == {"es": 1, "en": 1}, "a language not spoken yet is written to in English"
    assert shown.unreachable == 2, "opted out of the only channel, or no contact on file"
    assert (shown.seconds, shown.rate_measured) == (2.0, True)


def test_the_plan_takes_its_cancelled_flights_away_and_moves_its_delayed_ones():
    def flight(number: str, seats: int) -> rebooking.Flight:
        f = leg(number)
        return rebooking.Flight(f.flight_id, "B6", number, "JFK", "BOS", f.scheduled_departure, f.scheduled_arrival,
                                {"economy": seats})
    kept, gone, late = flight("1", 10), flight("2", 10), flight("3", 10)
    moved = T + timedelta(hours=5)
    shown = as_planned([kept, gone, late], [PlannedFlight(flight_id=gone.flight_id, status="cancelled"),
                                            PlannedFlight(flight_id=late.flight_id, status="delayed", departure=moved,
                                                          arrival=moved + timedelta(hours=1))])
    assert [f.flight_id for f in shown] == [kept.flight_id, late.flight_id] and shown[1].departure == moved
    trip = rebooking.Trip("AAA111", ("AAA111-1", "AAA111-2"), "economy", "B6", "JFK", "BOS", T, T, ())
    placed = {"AAA111": [rebooking.Placement(trip, trip.passenger_ids, rebooking.Itinerary((kept,)), "economy", "")]}
    assert seats_left([kept], placed)[0].seats_free == {"economy": 8}


async def test_a_preview_runs_where_the_kernel_puts_it_last():
    def niceness() -> tuple[int, str]:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), threading.current_thread().name
    nice, thread = await low_priority.run(niceness)
    assert nice == low_priority.LOWEST and thread.startswith("low-priority")
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < low_priority.LOWEST, "the caller's is kept"


async def test_a_part_not_given_in_time_is_named_and_the_rest_answered():
    config = in_process.configs("test")["disruption"]
    played = planning.Played(hurt=[_disruption("AAA111", 2)])

    async def rebooking_late(part: str, asked: object, answer: type, seconds: float) -> object:
        if part == "rebooking":
            raise httpx.ReadTimeout("no answer")
        return NoticesPreview(by_channel={"sms": 2}, by_language={"en": 2}, unreachable=0, rate_per_second=100,
                              rate_measured=False, seconds=0.02)
    took: dict[str, float] = {}
    figures, missing = await owners_parts(rebooking_late, played, time.monotonic() + 10, config, took)
    assert figures["rebooking"] is None and figures["money"] is None and figures["notices"]["by_channel"] == {"sms": 2}
    assert missing == ["rebooking: not computed within the preview's 10 s",
                       "money: it follows from the rebookings, which are missing"]
    assert set(took) == {"rebooking", "notices"}

    async def money_broken(part: str, asked: object, answer: type, seconds: float) -> object:
        if part == "money":
            raise httpx.HTTPStatusError("boom", request=httpx.Request("POST", "http://c"),
                                        response=httpx.Response(503))
        if part == "rebooking":
            return RebookingPreview(decided=[_decided(played.hurt[0], "no_alternative")], cabins={}, tiers={},
                                    special_services={}, unaccompanied_minors=0, method="optimal", solve_seconds=0,
                                    cost=0, cost_profile="default")
        raise httpx.ConnectError("refused")
    figures, missing = await owners_parts(money_broken, played, time.monotonic() + 10, config, {})
    assert figures["rebooking"]["refunded"] == 2 and figures["money"] is None and figures["notices"] is None
    assert sorted(missing) == ["money: its service answered 503", "notices: its service could not be reached "
                                                                  "(ConnectError)"]
