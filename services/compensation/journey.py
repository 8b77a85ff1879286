"""From what the events told us (the booking's flights, each disruption of it and what rebooking
decided) to one case per passenger for the policy engine. Pure: no I/O.

Entitlements are owed per journey, not per flight event: a delay that grows, or a delay and then
the missed connection it causes, is one disruption of one journey."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.compensation.case import Case
from shared.events import Leg

# A stop of more than 24 hours ends a journey (the industry's stopover rule).
STOPOVER = timedelta(hours=24)
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
    noticed_at: datetime
    delay_minutes: int
    outcome: str
    decided_at: datetime
    segments: tuple[Leg, ...] = ()
    arrival_delay_minutes: int | None = None
    downgraded: bool = False
    refund_due: bool = False


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
    """The booking's flights that make one journey with `flight_id`: connections of 24 h or less."""
    legs = sorted(legs, key=lambda leg: leg.scheduled_departure)
    at = next(i for i, leg in enumerate(legs) if leg.flight_id == flight_id)
    start = at
    while start > 0 and legs[start].scheduled_departure - legs[start - 1].scheduled_arrival <= STOPOVER:
        start -= 1
    end = at
    while end + 1 < len(legs) and legs[end + 1].scheduled_departure - legs[end].scheduled_arrival <= STOPOVER:
        end += 1
    return legs[start:end + 1]


def connections(segments: list[Leg]) -> int:
    """Changes of plane on the way: a party split over several flights holds every part's legs, so
    each leg that starts a part (from the trip's origin) is not a connection."""
    origin = segments[0].origin
    flights = {leg.flight_id for leg in segments}
    starts = {leg.flight_id for leg in segments if leg.origin == origin}
    return len(flights) - len(starts)


def cases_for(booking_ref: str, legs: list[Leg], reports: list[Report], travellers: list[Traveller],
              payment: str, flight_id: str) -> JourneyCases:
    """The cases of the journey that holds `flight_id`, from every decided report about it."""
    journey = journey_of(legs, flight_id)
    ids = {leg.flight_id for leg in journey}
    reports = sorted((r for r in reports if r.flight_id in ids), key=lambda r: (r.noticed_at, r.decided_at))
    cancellations = [r for r in reports if r.kind == "cancelled"]
    governing = cancellations[0] if cancellations else reports[-1]
    latest = max(reports, key=lambda r: r.decided_at)
    moved = [r for r in reports if r.segments]
    refunds = [r for r in reports if r.refund_due]
    disrupted = next(leg for leg in journey if leg.flight_id == governing.flight_id)
    disruption: dict = {"kind": "cancellation" if cancellations else "delay",
                        "cause": CAUSES.get(governing.cause, "operational"),
                        "announced_at": governing.noticed_at.isoformat(), "flight": _label(disrupted)}
    # The latest word on a flight that still goes, even if the passenger then chose not to fly it.
    kept = [r for r in reports if not r.segments and r.arrival_delay_minutes is not None]
    if not cancellations and kept:
        minute = timedelta(minutes=1)
        disruption["actual_arrival"] = (journey[-1].scheduled_arrival + kept[-1].arrival_delay_minutes * minute
                                        ).isoformat()
        disruption["expected_departure"] = (disrupted.scheduled_departure + max(governing.delay_minutes, 0) * minute
                                            ).isoformat()
    alternative = None
    if moved:
        new = max(moved, key=lambda r: r.decided_at).segments
        alternative = {"departure": new[0].scheduled_departure.isoformat(),
                       "arrival": new[-1].scheduled_arrival.isoformat(),
                       "accepted": not refunds, "origin": new[0].origin, "destination": new[-1].destination,
                       "connections": connections(new)}
    if refunds:
        choice = "refund"
    elif latest.outcome in ("accepted", "changed", "needs_agent"):
        choice = "rebook"  # an agent arranges the trip of a passenger who needs one: not a refund
    else:
        choice = None
    base = {"booking": booking_ref, "operating_carrier": disrupted.carrier,
            "itinerary": [{"flight": _label(leg), "origin": leg.origin, "destination": leg.destination,
                           "scheduled_departure": leg.scheduled_departure.isoformat(),
                           "scheduled_arrival": leg.scheduled_arrival.isoformat()} for leg in journey],
            "disruption": disruption, "alternative": alternative, "passenger_choice": choice,
            "answered_at": min(r.decided_at for r in refunds).isoformat() if refunds else None}
    downgraded = [r for r in reports if r.downgraded and not r.refund_due]
    cases: dict[str, list[Case]] = {}
    for t in travellers:
        person = base | {"passenger": {"id": t.passenger_id,
                                       "disability": bool(REDUCED_MOBILITY & set(t.special_services))},
                         "fare": {"amount": str(t.fare), "currency": t.currency, "payment": payment}}
        cases[t.passenger_id] = [Case.model_validate(person)]
        if downgraded and not refunds:
            cases[t.passenger_id].append(Case.model_validate(person | {
                "disruption": disruption | {"kind": "downgrade", "announced_at": downgraded[-1].decided_at.isoformat()},
                "alternative": None, "passenger_choice": None}))
    return JourneyCases(disruption=f"{booking_ref}/{journey[0].flight_id}",
                        disruption_ids=[r.disruption_id for r in reports], cases=cases)
