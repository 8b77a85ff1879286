"""The rebooking service's decisions for disrupted bookings, and what they tell the passengers."""

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.rebooking import domain, metrics
from shared import notices, topics, tracing
from shared.events import Leg, PassengerDisruption, RebookingDecided, RebookingOutcome, event_id
from shared.outbox import Outbox

SOURCE = "rebound/rebooking"
# A revised decision replaces the first, answer and all: the passenger answers the new one.
_REVISE = """UPDATE SET outcome = excluded.outcome, to_flights = excluded.to_flights, reason = excluded.reason,
                        cabin = excluded.cabin, downgraded = excluded.downgraded,
                        arrival_delay_minutes = excluded.arrival_delay_minutes, respond_by = excluded.respond_by,
                        trip = excluded.trip, decided_at = now(), answer = NULL, answered_at = NULL"""


def leg_of(f: domain.Flight) -> Leg:
    return Leg(flight_id=f.flight_id, carrier=f.carrier, number=f.number, origin=f.origin,
               destination=f.destination, scheduled_departure=f.departure, scheduled_arrival=f.arrival)


def legs_of(placements: Sequence[domain.Placement]) -> list[Leg]:
    """Every flight of the booking's placements (one, or several for a split party), in order."""
    legs = {f.flight_id: leg_of(f) for p in placements for f in p.itinerary.flights}
    return sorted(legs.values(), key=lambda leg: leg.scheduled_departure)


def itinerary_facts(p: domain.Placement) -> dict[str, object]:
    """What a notice says about a new itinerary."""
    it = p.itinerary
    return {"new_flight": " and ".join(f"{f.carrier} {f.number}" for f in it.flights),
            "new_origin": it.origin, "new_destination": it.destination,
            "new_departure": it.departure, "new_arrival": it.arrival,
            "new_via": it.flights[0].destination if len(it.flights) > 1 else None,
            "cabin": p.cabin.replace("_", " "), "downgraded": p.downgraded}


def decided(d: PassengerDisruption, why: str) -> dict[str, object]:
    """What every notice of a decision says: the disrupted flight, and why."""
    return notices.flight_facts(d.flight) | {"why": why}


@dataclass(frozen=True)
class Decided:
    """One row of `rebookings`, in its columns' order."""

    disruption_id: str
    booking_ref: str
    outcome: RebookingOutcome
    from_flight: str
    to_flights: list[str]
    seats: int
    reason: str
    passenger_ids: list[str]
    cabin: str | None
    downgraded: bool
    arrival_delay_minutes: int | None
    decided: dict[str, Any]  # the disruption decided, as received
    respond_by: datetime | None
    trip: dict[str, Any] | None  # domain.trip_to_json: what the choice page offers against
    traceparent: str | None


@dataclass(frozen=True)
class Told:
    """What some of the booking's passengers are told of the decision (a split party: one each)."""

    passenger_ids: list[str]
    notice: notices.Notice


class Decisions:
    """The service's decisions for disrupted bookings, recorded together (once each: a decision
    already recorded is kept) with the events that tell everyone, in the caller's transaction."""

    def __init__(self, traces: dict[tuple[str, str], str | None] | None = None, *,
                 revision: str | None = None, told_revision: int = 0) -> None:
        """`traces`: each disruption's trace, by (disruption id, booking), where it is not the one
        being handled. `revision`: these decisions replace ones made before (an agent's, named by
        its action), and are told as new events rather than dropped as repeats; `told_revision`
        numbers their notices after the ones sent before, so notify sends them too."""
        self._rows: list[Decided] = []
        self._traces = traces or {}
        self._revision = () if revision is None else (revision,)
        self._told_revision = told_revision

    def add(self, outbox: Outbox, d: PassengerDisruption, outcome: RebookingOutcome, reason: str, *,
            segments: Sequence[Leg] = (), cabin: str | None = None, downgraded: bool = False,
            arrival_delay: int | None = None, refund_due: bool = False, whole_trip: bool = False,
            released: Sequence[str] = (), respond_by: datetime | None = None, trip: domain.Trip | None = None,
            told: Sequence[Told] = ()) -> None:
        """`told`: the notices of the decision; none for a booking that keeps its flight (the first
        notice told them everything that changed), and for one that needs an agent, that."""
        trace = self._traces.get((d.disruption_id, d.booking_ref)) or tracing.current.get()
        self._rows.append(Decided(
            d.disruption_id, d.booking_ref, outcome, d.flight.flight_id, [s.flight_id for s in segments],
            len(d.passenger_ids), reason, d.passenger_ids, cabin, downgraded, arrival_delay,
            d.model_dump(mode="json"), respond_by, domain.trip_to_json(trip) if trip else None, trace))
        metrics.OUTCOMES.labels(outcome).inc(len(d.passenger_ids))
        # Deterministic ids: if this decision was somehow made before, consumers' inboxes drop these.
        outbox.publish(topics.REBOOKINGS, RebookingDecided(
            disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=d.passenger_ids,
            outcome=outcome, reason=reason, segments=list(segments), cabin=cabin, downgraded=downgraded,
            arrival_delay_minutes=arrival_delay, refund_due=refund_due, whole_trip=whole_trip,
            released_flight_ids=list(released),
        ), key=d.booking_ref, id=event_id(d.disruption_id, d.booking_ref, "rebooking", *self._revision),
            traceparent=trace)
        if outcome == "needs_agent" and not told:
            told = [Told(d.passenger_ids, notices.NeedsAgent.model_validate(decided(d, reason)))]
        for i, t in enumerate(told):
            outbox.publish(topics.NOTICES, notices.request(
                t.notice, disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=t.passenger_ids,
                stage="rebooking", about=d.flight.flight_id, revision=self._told_revision,
                occurred_at=datetime.now(UTC) if self._revision else d.accepted_at or datetime.now(UTC),
            ), key=d.booking_ref, id=event_id(d.disruption_id, d.booking_ref, "rebooking_notice", i, *self._revision),
                traceparent=trace)

    async def flush(self, conn: asyncpg.Connection) -> None:
        if self._rows:
            await conn.executemany(
                """INSERT INTO rebookings (disruption_id, booking_ref, outcome, from_flight, to_flights,
                                           seats, reason, passenger_ids, cabin, downgraded,
                                           arrival_delay_minutes, decided, respond_by, trip, traceparent)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                   ON CONFLICT (disruption_id, booking_ref) DO """ + (_REVISE if self._revision else "NOTHING"),
                [astuple(row) for row in self._rows])
            self._rows.clear()
