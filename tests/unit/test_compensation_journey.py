"""From events to cases (pure), the payout backoff, and invariants of the engine over random cases."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.compensation import engine, journey, rules
from services.compensation.case import Case
from services.compensation.payouts import Backoff
from shared.events import Leg

BOOK = rules.load()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def flight(fid: str, origin: str, destination: str, departs: timedelta, hours: float = 2) -> Leg:
    return Leg(flight_id=fid, carrier="B6", number=fid[2:].split("/")[0], origin=origin, destination=destination,
               scheduled_departure=T0 + departs, scheduled_arrival=T0 + departs + hours * H)


OUT1 = flight("B6100/2026-12-01/JFK", "JFK", "BOS", 0 * H, 1.25)
OUT2 = flight("B6200/2026-12-01/BOS", "BOS", "ORD", 3 * H, 2.5)
BACK = flight("B6300/2026-12-08/ORD", "ORD", "JFK", 7 * 24 * H, 2.5)
TRAVELLERS = [journey.Traveller("P1", Decimal("300"), "USD"), journey.Traveller("P2", Decimal("200"), "USD", ("WCHR",))]


def report(flight_id: str, kind: str = "cancelled", outcome: str = "no_alternative", **kw) -> journey.Report:
    return journey.Report(disruption_id=kw.pop("disruption_id", "d1"), kind=kind, cause=kw.pop("cause", "technical"),
                          flight_id=flight_id, announced_at=kw.pop("announced_at", T0 - 2 * H),
                          delay_minutes=kw.pop("delay_minutes", 0), outcome=outcome,
                          decided_at=kw.pop("decided_at", T0 - H), **kw)


def test_a_stopover_of_more_than_a_day_ends_the_journey():
    legs = [BACK, OUT2, OUT1]
    assert journey.journey_of(legs, OUT2.flight_id) == [OUT1, OUT2]
    assert journey.journey_of(legs, BACK.flight_id) == [BACK]


def test_a_cancellation_with_no_alternative_refunds_the_journey_not_the_whole_ticket():
    found = journey.cases_for("ABC123", [OUT1, OUT2, BACK], [report(OUT1.flight_id, refund_due=True)],
                              TRAVELLERS, "credit_card", OUT1.flight_id)
    assert found.disruption == f"ABC123/{OUT1.flight_id}"
    case = found.cases["P1"][0]
    assert [leg.destination for leg in case.itinerary] == ["BOS", "ORD"]
    assert case.disruption.kind == "cancellation" and case.passenger_choice == "refund"
    assert found.cases["P2"][0].passenger.disability
    outward = {e.kind: e.amount for e in engine.evaluate(case, BOOK).entitlements}["refund"]
    # JFK–BOS–ORD is 300 + 1,391 km of the ticket's 2,879 km (with ORD–JFK, 1,188 km): 59 % of $300.
    assert Decimal("175") < outward < Decimal("178")
    back = journey.cases_for("ABC123", [OUT1, OUT2, BACK], [report(BACK.flight_id, refund_due=True)],
                             TRAVELLERS, "credit_card", BACK.flight_id).cases["P1"][0]
    home = {e.kind: e.amount for e in engine.evaluate(back, BOOK).entitlements}["refund"]
    assert outward + home == 300  # the two journeys' refunds add up to the ticket, to the cent


def test_passengers_who_never_set_out_are_refunded_the_whole_ticket():
    found = journey.cases_for("ABC123", [OUT1, OUT2, BACK], [report(OUT1.flight_id, refund_due=True,
                                                                    whole_trip=True)],
                              TRAVELLERS, "credit_card", OUT1.flight_id)
    owed = {e.kind: e.amount for e in engine.evaluate(found.cases["P2"][0], BOOK).entitlements}
    assert owed["refund"] == 200


def test_a_connection_lost_with_no_onward_flight_is_the_onward_journey_cancelled():
    """A first flight 90 minutes late: the passenger would miss the onward flight, and there is
    none in the horizon. A 90-minute delay is no "significant change" by itself (14 CFR 260.2:
    3 hours domestic), but arriving never is: the journey is refunded."""
    delayed = report(OUT1.flight_id, kind="delayed", outcome="kept", disruption_id="d1", delay_minutes=90,
                     arrival_delay_minutes=90)
    lost = report(OUT2.flight_id, kind="connection_at_risk", outcome="no_alternative", disruption_id="d2",
                  refund_due=True)
    found = journey.cases_for("ABC123", [OUT1, OUT2, BACK], [delayed, lost], TRAVELLERS, "credit_card",
                              OUT2.flight_id)
    case = found.cases["P1"][0]
    assert case.disruption.kind == "cancellation" and case.passenger_choice == "refund"
    owed = {e.kind: e for e in engine.evaluate(case, BOOK).entitlements}
    assert owed["refund"].regime == "US_DOT" and Decimal("175") < owed["refund"].amount < Decimal("178")


def test_a_rebooking_is_the_alternative_and_a_downgrade_its_own_case():
    new = (flight("B6104/2026-12-01/JFK", "JFK", "BOS", 5 * H, 1.25), flight("B6204/2026-12-01/BOS", "BOS", "ORD",
                                                                              8 * H, 2.5))
    found = journey.cases_for("ABC123", [OUT1, OUT2], [report(OUT1.flight_id, outcome="rebooked", segments=new,
                                                              downgraded=True, arrival_delay_minutes=300)],
                              TRAVELLERS, "cash", OUT1.flight_id)
    cancellation, downgrade = found.cases["P1"]
    assert cancellation.alternative.accepted and cancellation.alternative.connections == 1
    assert cancellation.alternative.arrival == new[-1].scheduled_arrival and cancellation.passenger_choice is None
    assert downgrade.disruption.kind == "downgrade"


def test_a_party_split_over_flights_counts_only_its_changes_of_plane():
    direct = [flight(f"B6{n}/2026-12-01/JFK", "JFK", "ORD", n * H, 2.5) for n in (1, 2, 3, 4, 5, 6)]
    via_boston = [flight("B6105/2026-12-01/JFK", "JFK", "BOS", 5 * H, 1.25),
                  flight("B6205/2026-12-01/BOS", "BOS", "ORD", 8 * H, 2.5)]
    assert journey.connections(direct) == 0  # six parts of the party, each on its own direct flight
    assert journey.connections(direct[:2] + via_boston) == 1
    found = journey.cases_for("ABC123", [OUT1, OUT2], [report(OUT1.flight_id, outcome="rebooked",
                                                              segments=direct + via_boston)],
                              TRAVELLERS, "cash", OUT1.flight_id)
    assert found.cases["P1"][0].alternative.connections == 1


def test_a_growing_delay_is_one_disruption_judged_on_its_latest_estimate():
    first = report(OUT1.flight_id, "delayed", "kept", disruption_id="d1", delay_minutes=60, arrival_delay_minutes=60)
    second = report(OUT1.flight_id, "delayed", "kept", disruption_id="d2", delay_minutes=200, arrival_delay_minutes=200,
                    announced_at=T0 - H, decided_at=T0 - H / 2)
    found = journey.cases_for("ABC123", [OUT1, OUT2], [first, second], TRAVELLERS, "credit_card", OUT1.flight_id)
    case = found.cases["P1"][0]
    assert found.disruption_ids == ["d1", "d2"]
    assert case.disruption.actual_arrival == OUT2.scheduled_arrival + 200 * timedelta(minutes=1)
    assert case.disruption.expected_departure == OUT1.scheduled_departure + 200 * timedelta(minutes=1)


def test_a_passenger_who_needs_an_agent_is_not_refunded_automatically():
    found = journey.cases_for("ABC123", [OUT1], [report(OUT1.flight_id, outcome="needs_agent")], TRAVELLERS,
                              "credit_card", OUT1.flight_id)
    case = found.cases["P1"][0]
    assert case.passenger_choice == "rebook"
    assert not [e for e in engine.evaluate(case, BOOK).entitlements if e.kind == "refund"]


def test_backoff_grows_and_is_capped():
    backoff, rand = Backoff(base=2, cap=60), random.Random(7)
    for attempt in range(1, 12):
        assert 0 <= backoff.delay(attempt, rand) <= min(60, 2 * 2 ** (attempt - 1))
    assert max(backoff.delay(10, rand) for _ in range(200)) > 30  # jitter spreads over the whole window


AIRPORTS = ["JFK", "LAX", "BOS", "FRA", "CDG", "LHR", "YYZ", "YVR", "HEL", "TFS", "MAD", "ORD"]


@st.composite
def cases(draw) -> Case:
    origin, destination = draw(st.lists(st.sampled_from(AIRPORTS), min_size=2, max_size=2, unique=True))
    departure = datetime(draw(st.integers(2012, 2026)), draw(st.integers(1, 12)), draw(st.integers(1, 28)),
                         draw(st.integers(0, 23)), tzinfo=UTC)
    arrival = departure + timedelta(minutes=draw(st.integers(45, 900)))
    kind = draw(st.sampled_from(["cancellation", "delay", "downgrade", "denied_boarding", "diversion"]))
    legs = [{"flight": "XX 1", "origin": origin, "destination": destination,
             "scheduled_departure": departure.isoformat(), "scheduled_arrival": arrival.isoformat()}]
    if draw(st.booleans()):  # and back, the same day or weeks later: two journeys on one booking
        back = arrival + timedelta(minutes=draw(st.integers(60, 30 * 24 * 60)))
        legs.append({"flight": "XX 2", "origin": destination, "destination": origin,
                     "scheduled_departure": back.isoformat(),
                     "scheduled_arrival": (back + (arrival - departure)).isoformat(),
                     "operating_carrier": draw(st.sampled_from(["LH", "BA", "AC", "B6", "XX"]))})
    data = {"booking": "ABC123", "passenger": {"id": "P1"},
            "fare": {"amount": str(draw(st.decimals(0, 5000, places=2))), "currency": "USD",
                     "payment": draw(st.sampled_from(["credit_card", "debit_card", "cash", "other"]))},
            "operating_carrier": draw(st.sampled_from(["LH", "BA", "AC", "B6", "PB", "XX"])),
            "itinerary": legs,
            "disruption": {"kind": kind, "cause": draw(st.sampled_from(["weather", "technical", "crew", "security",
                                                                        "commercial", "own_staff_strike",
                                                                        "bird_strike", "ground_collision"])),
                           "announced_at": (departure - timedelta(minutes=draw(st.integers(0, 40 * 24 * 60))))
                           .isoformat(), "flight": draw(st.sampled_from([leg["flight"] for leg in legs])),
                           "volunteered": kind == "denied_boarding" and draw(st.booleans())},
            "passenger_choice": draw(st.sampled_from([None, "rebook", "refund"])),
            "presented": draw(st.booleans())}
    if kind == "diversion":
        data["disruption"]["diverted_to"] = draw(st.sampled_from(AIRPORTS))
    if kind in ("delay", "diversion") and draw(st.booleans()):
        data["disruption"]["actual_arrival"] = (arrival + timedelta(minutes=draw(st.integers(0, 2000)))).isoformat()
    if kind != "downgrade" and draw(st.booleans()):
        shift = timedelta(minutes=draw(st.integers(-300, 3000)))
        data["alternative"] = {"departure": (departure + shift).isoformat(),
                               "arrival": (arrival + shift + timedelta(minutes=draw(st.integers(0, 120)))).isoformat(),
                               "accepted": draw(st.booleans())}
    return Case.model_validate(data)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_never_paid_twice_for_one_thing(case):
    evaluation = engine.evaluate(case, BOOK)
    kinds = [e.kind for e in evaluation.entitlements]
    assert len(kinds) == len(set(kinds))  # one compensation, one refund, one of each care
    for e in evaluation.entitlements:
        assert e.amount >= 0 and e.source and e.reason
        if e.kind == "refund":
            assert e.amount <= case.fare.amount
        if e.kind == "compensation":  # the largest fixed sums: EU261, UK261, APPR s. 20, 14 CFR 250.5
            assert e.amount <= {"EUR": 600, "GBP": 520, "CAD": 2400, "USD": 2150}[e.currency]
            assert not case.disruption.volunteered or e.regime not in ("EU261", "UK261", "APPR")
    if case.passenger_choice == "rebook":
        assert "refund" not in kinds or case.disruption.kind == "downgrade"


JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_a_damaged_case_is_refused_with_a_named_field_or_evaluated(case, data):
    """Take a valid case, damage one field anywhere in it: the engine either refuses it with a
    validation error that names the field, or evaluates it; it never fails any other way."""
    raw = case.model_dump(mode="json")
    node = raw
    while isinstance(node, dict | list) and node:
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
        if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
            node[key] = data.draw(JUNK)
            break
        node = node[key]
    try:
        damaged = Case.model_validate(raw)
    except ValidationError as exc:
        # each error names its field: by its location, or (a check across fields) in its message
        assert all(e["loc"] or e["msg"].removeprefix("Value error, ").split()[0].count(".") for e in exc.errors()), exc
        return
    engine.evaluate(damaged, BOOK)


def test_a_passenger_flown_home_from_a_lost_connection_is_refunded_compensated_and_cared_for():
    """Munich–Frankfurt flown, Frankfurt–New York cancelled for a technical fault with no seat on
    any later flight: EU261 Art. 8(1)(a) gives a refund of the journey, the flight flown included,
    with a return flight to the first point of departure; Art. 5(1) and 9 care while waiting for
    it (the return leaves the next day: meals, a hotel and the transfer); and Art. 7 compensation
    for the 6,500-km journey, not halved, since the return is no re-routing to New York."""
    muc = Leg(flight_id="LH100/2026-12-01/MUC", carrier="LH", number="100", origin="MUC", destination="FRA",
              scheduled_departure=T0, scheduled_arrival=T0 + H)
    fra = Leg(flight_id="LH400/2026-12-01/FRA", carrier="LH", number="400", origin="FRA", destination="JFK",
              scheduled_departure=T0 + 3 * H, scheduled_arrival=T0 + 12 * H)
    home = Leg(flight_id="LH101/2026-12-02/FRA", carrier="LH", number="101", origin="FRA", destination="MUC",
               scheduled_departure=T0 + 24 * H, scheduled_arrival=T0 + 25 * H)
    cancelled = report(fra.flight_id, kind="cancelled", outcome="returned", segments=(home,), refund_due=True,
                       announced_at=T0 + 2 * H, decided_at=T0 + 2 * H)
    traveller = [journey.Traveller("P1", Decimal("900"), "EUR")]
    case = journey.cases_for("LH0001", [muc, fra], [cancelled], traveller, "credit_card", fra.flight_id,
                             booked=[muc.flight_id, fra.flight_id]).cases["P1"][0]
    owed = {e.kind: e for e in engine.evaluate(case, BOOK).entitlements if e.regime == "EU261"}
    assert owed["refund"].amount == 900  # both flights of the journey: it no longer serves its purpose
    assert owed["compensation"].amount == 600 and "halved" not in owed["compensation"].reason
    assert {"meal", "hotel", "transport"} <= set(owed)


def test_a_round_trip_moved_to_a_new_flight_that_is_then_delayed_is_still_one_journey():
    """Found by the 9 February 2013 replay: a same-day round trip's outbound is cancelled and the
    passengers moved to a later flight, which is then delayed. Splitting the booking's flights and
    the new one together put the turnaround elsewhere, so the delay was taken for another journey
    and a second meal voucher granted. The new flight belongs to the journey of the one it replaced."""
    out = flight("B6100/2026-12-01/JFK", "JFK", "BOS", 0 * H, 1.25)
    back = flight("B6101/2026-12-01/BOS", "BOS", "JFK", 8 * H, 1.25)
    new = flight("B6104/2026-12-01/JFK", "JFK", "BOS", 3 * H, 1.25)
    moved = report(out.flight_id, disruption_id="d1", outcome="rebooked", segments=(new,), decided_at=T0 - H)
    late = report(new.flight_id, kind="delayed", outcome="kept", disruption_id="d2", delay_minutes=240,
                  arrival_delay_minutes=420, announced_at=T0, decided_at=T0 + 0.1 * H)
    first = journey.cases_for("RT1", [out, back], [moved], TRAVELLERS, "credit_card", out.flight_id,
                              booked=[out.flight_id, back.flight_id])
    second = journey.cases_for("RT1", [out, back, new], [moved, late], TRAVELLERS, "credit_card", new.flight_id,
                               booked=[out.flight_id, back.flight_id])
    assert first.disruption == second.disruption == f"RT1/{out.flight_id}"
    assert [leg.flight for leg in second.cases["P1"][0].itinerary] == ["B6 100", "B6 104"]
    assert set(second.disruption_ids) == {"d1", "d2"}
