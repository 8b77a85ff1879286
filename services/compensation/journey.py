"""From what the events told us (the booking's flights, each disruption of it and what rebooking
decided) to one case per passenger for the policy engine. Pure: no I/O.

Entitlements are owed per journey, not per flight event: a delay that grows, or a delay and then
the missed connection it causes, is one disruption of one journey. Where a journey ends is
`shared.journeys`' rule, the same one rebooking follows.

The fare a case carries is what the passenger paid for that journey: their ticket prorated over
the booking's flights by distance (`shared.journeys.prorate`), the journey's flights' shares
added up — and the later journeys' too, when a refund gives them up (they leave from where the
passengers will not be). So a round trip's two journeys can never each be refunded the whole
ticket."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.compensation.case import Case, minor_digits
from shared import journeys
from shared.airports import great_circle_km
from shared.events import Leg

# Special services that make a passenger a person with a disability or reduced mobility.
REDUCED_MOBILITY = {"WCHR", "WCHS", "WCHC", "BLND", "DEAF", "DPNA", "MEDA"}
# Partners' cause categories in the engine's words; an unknown cause is the carrier's to prove.
CAUSES = {"weather": "weather", "air_traffic_control": "air_traffic_control", "security": "security",
          "airport": "airport", "crew": "crew", "technical": "technical"}


@dataclass(frozen=True)
class Report:
    """One disruption of the booking, once both halves are in: what happened, what was decided."""

    disruption_id: str
    kind: str  # the disruption service's: cancelled, delayed, retimed, diverted, connection_at_risk
    cause: str
    flight_id: str
    announced_at: datetime  # when the airline made the disruption known: notice periods count from it
    delay_minutes: int
    outcome: str
    decided_at: datetime
    segments: tuple[Leg, ...] = ()
    arrival_delay_minutes: int | None = None
    downgraded: bool = False
    refund_due: bool = False
    whole_trip: bool = False  # the refund gives up the booking's later journeys too


@dataclass(frozen=True)
class Traveller:
    passenger_id: str
    fare: Decimal
    currency: str
    special_services: tuple[str, ...] = ()


@dataclass(frozen=True)
class JourneyCases:
    disruption: str  # the ledger's key for this journey
    disruption_ids: list[str]
    cases: dict[str, list[Case]]  # by passenger: the disruption's case, and a downgrade's


def _label(leg: Leg) -> str:
    return f"{leg.carrier} {leg.number}"


def journey_of(legs: list[Leg], flight_id: str) -> list[Leg]:
    """The booking's flights that make one journey with `flight_id` (`shared.journeys`)."""
    legs = sorted(legs, key=lambda leg: leg.scheduled_departure)
    spans = journeys.journey_spans([(leg.origin, leg.destination, leg.scheduled_departure, leg.scheduled_arrival)
                                    for leg in legs])
    at = next(i for i, leg in enumerate(legs) if leg.flight_id == flight_id)
    span = next(span for span in spans if at in span)
    return legs[span.start:span.stop]


def fare_for(fare: Decimal, currency: str, coupons: list[Leg], covered: Iterable[str]) -> Decimal:
    """The part of a passenger's fare that pays for the `covered` flights among the booking's
    `coupons` (its own flights, in any order), by distance."""
    coupons = sorted(coupons, key=lambda leg: leg.scheduled_departure)
    shares = journeys.prorate(fare, [great_circle_km(leg.origin, leg.destination) for leg in coupons],
                              minor_digits(currency))
    covered = set(covered)
    return sum((share for leg, share in zip(coupons, shares, strict=True) if leg.flight_id in covered), Decimal(0))


def _booked_flight_for(flight_id: str, reports: list[Report], booked: set[str]) -> str:
    """The booking's own flight that `flight_id` stands in for: a flight the passengers were moved
    to leads back, through the decisions that moved them, to the flight they booked."""
    seen = set()
    while flight_id not in booked and flight_id not in seen:
        seen.add(flight_id)
        moved_from = next((r.flight_id for r in reports if any(s.flight_id == flight_id for s in r.segments)), None)
        if moved_from is None:
            break
        flight_id = moved_from
    return flight_id


def connections(segments: Sequence[Leg]) -> int:
    """Changes of plane on the way: a party split over several flights holds every part's legs, so
    each leg that starts a part (from the trip's origin) is not a connection."""
    origin = segments[0].origin
    flights = {leg.flight_id for leg in segments}
    starts = {leg.flight_id for leg in segments if leg.origin == origin}
    return len(flights) - len(starts)


def cases_for(booking_ref: str, legs: list[Leg], reports: list[Report], travellers: list[Traveller],
              payment: str, flight_id: str, booked: Iterable[str] | None = None) -> JourneyCases:
    """The cases of the journey that holds `flight_id`, from every decided report about it.
    `booked`: the booking's own flights, as the reservation system sold them (by default, `legs`).

    Journeys are found among the booking's own flights; a flight the passengers were moved to
    belongs to the journey of the flight it replaced, so the ledger's key for a journey (its first
    booked flight) stays the same however often they are moved."""
    sold = set(booked) if booked is not None else {leg.flight_id for leg in legs}
    coupons = [leg for leg in legs if leg.flight_id in sold]
    booked_journey = _booked_journey(flight_id, legs, coupons, reports, sold)
    journey, reports = _as_flown(booked_journey, legs, reports)
    refunds = [r for r in reports if r.refund_due]
    base = _case(booking_ref, journey, reports)
    covered = _covered(booked_journey, coupons, sold, whole_trip=any(r.whole_trip for r in refunds))
    downgraded = [r for r in reports if r.downgraded and not r.refund_due]
    downgrade = downgraded[-1].decided_at if downgraded and not refunds else None
    cases = {t.passenger_id: _cases_of(t, base, payment, coupons, covered, downgrade) for t in travellers}
    return JourneyCases(disruption=f"{booking_ref}/{booked_journey[0].flight_id}",
                        disruption_ids=[r.disruption_id for r in reports], cases=cases)


def _booked_journey(flight_id: str, legs: list[Leg], coupons: list[Leg], reports: list[Report],
                    sold: set[str]) -> list[Leg]:
    """The journey as sold that holds the flight (or the booked flight it replaced)."""
    anchor = _booked_flight_for(flight_id, reports, sold)
    return journey_of(coupons, anchor) if anchor in sold else journey_of(legs, flight_id)


def _covered(booked_journey: list[Leg], coupons: list[Leg], sold: set[str], *, whole_trip: bool) -> set[str]:
    """The booked flights a refund covers: the journey's, and with the whole trip refunded every
    later one too."""
    covered = {leg.flight_id for leg in booked_journey} & sold
    if whole_trip:
        journey_ends = booked_journey[-1].scheduled_departure
        covered |= {leg.flight_id for leg in coupons if leg.scheduled_departure > journey_ends}
    return covered


def _as_flown(booked_journey: list[Leg], legs: list[Leg], reports: list[Report]) -> tuple[list[Leg], list[Report]]:
    """The journey's flights as the passengers were to fly them (the booked ones, the ones they
    were moved to, and the ones after those), and the reports about them in the order they came."""
    ids = {leg.flight_id for leg in booked_journey}
    while more := {s.flight_id for r in reports if r.flight_id in ids for s in r.segments} - ids:
        ids |= more
    journey = sorted((leg for leg in legs if leg.flight_id in ids), key=lambda leg: leg.scheduled_departure)
    return journey, sorted((r for r in reports if r.flight_id in ids), key=lambda r: (r.announced_at, r.decided_at))


def _case(booking_ref: str, journey: list[Leg], reports: list[Report]) -> dict[str, object]:
    """What every passenger's case on the journey says, before their own fare."""
    disrupted, disruption = _disruption(journey, reports)
    refunds = [r.decided_at for r in reports if r.refund_due]
    return {"booking": booking_ref, "operating_carrier": disrupted.carrier,
            "itinerary": [{"flight": _label(leg), "origin": leg.origin, "destination": leg.destination,
                           "scheduled_departure": leg.scheduled_departure.isoformat(),
                           "scheduled_arrival": leg.scheduled_arrival.isoformat()} for leg in journey],
            "disruption": disruption, "alternative": _alternative(reports), "passenger_choice": _choice(reports),
            "answered_at": min(refunds).isoformat() if refunds else None}


def _disruption(journey: list[Leg], reports: list[Report]) -> tuple[Leg, dict[str, str]]:
    """The flight that governs the journey's case, and the case's `disruption`: its first
    cancellation, else its latest report."""
    # A connection lost with no onward flight at all is, for the passenger, the onward journey
    # cancelled: they cannot complete it and are owed what a cancellation owes.
    cancellations = [r for r in reports if r.kind == "cancelled"
                     or (r.kind == "connection_at_risk" and r.outcome in ("no_alternative", "returned"))]
    governing = cancellations[0] if cancellations else reports[-1]
    disrupted = next((leg for leg in journey if leg.flight_id == governing.flight_id), journey[0])
    disruption = {"kind": "cancellation" if cancellations else "delay",
                  "cause": CAUSES.get(governing.cause, "operational"),
                  "announced_at": governing.announced_at.isoformat(), "flight": _label(disrupted)}
    # The latest word on a flight that still goes, even if the passenger then chose not to fly it.
    kept = [r.arrival_delay_minutes for r in reports if not r.segments and r.arrival_delay_minutes is not None]
    if not cancellations and kept:
        minute = timedelta(minutes=1)
        disruption["actual_arrival"] = (journey[-1].scheduled_arrival + kept[-1] * minute).isoformat()
        disruption["expected_departure"] = (disrupted.scheduled_departure + max(governing.delay_minutes, 0) * minute
                                            ).isoformat()
    return disrupted, disruption


def _alternative(reports: list[Report]) -> dict[str, object] | None:
    """The flights the passengers were last moved to, if any."""
    moved = [r for r in reports if r.segments]
    if not moved:
        return None
    last = max(moved, key=lambda r: r.decided_at)
    new = last.segments
    refunded = any(r.refund_due for r in reports)
    # A flight home with the refund (EU261 Art. 8(1)(a)) is taken: the passengers wait for it.
    return {"departure": new[0].scheduled_departure.isoformat(), "arrival": new[-1].scheduled_arrival.isoformat(),
            "accepted": not refunded or last.outcome == "returned", "origin": new[0].origin,
            "destination": new[-1].destination, "connections": connections(new)}


def _choice(reports: list[Report]) -> str | None:
    """What the passengers chose: a refund, or to be rebooked (None: they were not asked)."""
    if any(r.refund_due for r in reports):
        return "refund"
    if max(reports, key=lambda r: r.decided_at).outcome in ("accepted", "changed", "needs_agent"):
        return "rebook"  # an agent arranges the trip of a passenger who needs one: not a refund
    return None


def _cases_of(t: Traveller, base: dict[str, object], payment: str, coupons: list[Leg], covered: set[str],
              downgraded_at: datetime | None) -> list[Case]:
    """One traveller's case, and a downgrade's beside it (`downgraded_at`)."""
    fare = fare_for(t.fare, t.currency, coupons, covered) if covered else t.fare
    person = base | {"passenger": {"id": t.passenger_id,
                                   "disability": bool(REDUCED_MOBILITY & set(t.special_services))},
                     "fare": {"amount": str(fare), "currency": t.currency, "payment": payment}}
    cases = [Case.model_validate(person)]
    if downgraded_at is not None:
        disruption = base["disruption"]
        assert isinstance(disruption, dict)
        cases.append(Case.model_validate(person | {
            "disruption": disruption | {"kind": "downgrade", "announced_at": downgraded_at.isoformat()},
            "alternative": None, "passenger_choice": None}))
    return cases
