"""Compensation's consumer: it keeps the schedule, the bookings and each disruption's two halves
(what happened, from disruption; what was decided, from rebooking), and whenever a disruption is
complete it evaluates the whole journey and writes what changed to the ledger."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import asyncpg

from services.compensation import engine, journey, ledger, metrics, store
from services.compensation.rules import RuleBook
from shared import notices, topics
from shared.consumer import Event
from shared.events import (
    BookingConfirmed,
    EntitlementsGranted,
    FlightScheduled,
    Grant,
    Leg,
    PassengerDisruption,
    RebookingDecided,
    event_id,
)
from shared.outbox import Outbox
from shared.sealed import Sealer

log = logging.getLogger(__name__)
E = TypeVar("E")


async def record_schedule(conn: asyncpg.Connection, event: Event[FlightScheduled], outbox: Outbox) -> None:
    await store.store_schedule(conn, event.payload)


async def record_bookings(conn: asyncpg.Connection, events: list[Event[BookingConfirmed]], outbox: Outbox) -> None:
    """A batch of bookings in two statements (a reservation system's initial load is hundreds of
    thousands); the latest version of a booking in the batch is the one kept."""
    latest = {e.payload.booking_ref: e.payload for e in events}
    await store.store_bookings(conn, list(latest.values()))


async def record_disruptions(conn: asyncpg.Connection, events: list[Event[PassengerDisruption]], outbox: Outbox, *,
                             book: RuleBook, sealer: Sealer) -> None:
    """A batch of disruptions' halves, stored and evaluated in a few statements for the batch."""
    for round_ in _rounds(events, lambda e: e.payload.booking_ref):
        await store.store_what_happened(
            conn, [(e.payload, e.payload.announced_at or e.payload.accepted_at or e.time) for e in round_])
        await _evaluate_when_complete(conn, outbox, book, sealer, [_Half.of(e) for e in round_])


async def record_outcomes(conn: asyncpg.Connection, events: list[Event[RebookingDecided]], outbox: Outbox, *,
                          book: RuleBook, sealer: Sealer) -> None:
    """A batch of rebooking decisions' halves, stored and evaluated in a few statements for the batch."""
    for round_ in _rounds(events, lambda e: e.payload.booking_ref):
        await store.store_what_was_decided(conn, [(e.payload, e.time) for e in round_])
        await _evaluate_when_complete(conn, outbox, book, sealer, [_Half.of(e) for e in round_])


def _rounds(events: list[E], booking_of: Callable[[E], str]) -> list[list[E]]:
    """The batch in rounds, each booking at most once a round and in the batch's order: a booking's
    second event in a batch must see what its first wrote."""
    rounds: list[list[E]] = []
    seen: dict[str, int] = {}
    for e in events:
        n = seen[booking_of(e)] = seen.get(booking_of(e), -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(e)
    return rounds


@dataclass(frozen=True)
class _Half:
    """Half a case just stored: when it came, which disruption and booking, and in which trace."""

    at: datetime
    disruption_id: str
    booking_ref: str
    traceparent: str | None

    @staticmethod
    def of(event: Event[PassengerDisruption] | Event[RebookingDecided]) -> "_Half":
        return _Half(event.time, event.payload.disruption_id, event.payload.booking_ref, event.traceparent)


async def _evaluate_when_complete(conn: asyncpg.Connection, outbox: Outbox, book: RuleBook, sealer: Sealer,
                                  halves: list[_Half]) -> None:
    """The two halves arrive on different topics in either order; whichever is second evaluates
    the journey, and what changed in the ledger is announced, in that half's trace. Each booking
    once in `halves`."""
    await store.lock_bookings(conn, [h.booking_ref for h in halves])
    known = await store.known(conn, [h.booking_ref for h in halves])
    evaluated = []
    for half in halves:
        found = journey_cases(known, half.booking_ref, half.disruption_id)
        if found is not None:
            evaluated.append((half, ledger.Journey(half.booking_ref, found.disruption, found.disruption_ids,
                                                   _evaluate(found, book))))
    changes = await ledger.record(conn, [j for _, j in evaluated])
    announced = [(e, changed) for e, changed in zip(evaluated, changes, strict=True) if changed]
    revisions = await store.announcements_so_far(conn, [(j.booking_ref, j.disruption) for (_, j), _ in announced])
    for (half, j), changed in announced:
        announce(outbox, half.disruption_id, half.booking_ref, [sealed(g, sealer) for g in changed],
                 revision=revisions.get((j.booking_ref, j.disruption), 0), at=half.at, traceparent=half.traceparent)


def journey_cases(known: store.Known, booking_ref: str, disruption_id: str) -> journey.JourneyCases | None:
    """The cases of the journey this disruption is part of, once both its halves are in, from what
    the booking holds and every complete disruption of it."""
    rows = known.cases.get(booking_ref, [])
    this = next((r for r in rows if r["disruption_id"] == disruption_id), None)
    if this is None:
        return None
    booking = known.bookings.get(booking_ref)
    scheduled = [known.legs[f] for f in booking["flight_ids"] if f in known.legs] if booking else []
    legs = _known_legs(scheduled, rows)
    if this["flight_id"] not in {leg.flight_id for leg in legs}:
        log.warning("disrupted flight unknown to the schedule: nothing to evaluate",
                    extra={"booking_ref": booking_ref, "flight_id": this["flight_id"]})
        return None
    travellers = _travellers(known, booking_ref, set(this["passenger_ids"]))
    if not travellers:
        log.warning("no fares for a disrupted booking: nothing to evaluate", extra={"booking_ref": booking_ref})
        return None
    reports = [_report(r) for r in rows if r["flight_id"] is not None]
    return journey.cases_for(booking_ref, legs, reports, travellers, booking["payment"] if booking else "other",
                             this["flight_id"], booked=booking["flight_ids"] if booking else None)


def _travellers(known: store.Known, booking_ref: str, wanted: set[str]) -> list[journey.Traveller]:
    return [journey.Traveller(p["passenger_id"], p["fare"], p["currency"], tuple(p["special_services"]))
            for p in known.passengers.get(booking_ref, []) if p["passenger_id"] in wanted]


def _known_legs(scheduled: list[Leg], rows: list[asyncpg.Record]) -> list[Leg]:
    """The booking's flights from the schedule, and any the schedule never told us of, as the
    disruptions themselves describe them."""
    legs, known = list(scheduled), {leg.flight_id for leg in scheduled}
    for r in rows:
        for leg in map(store.leg_of, r["legs"] or []):
            if leg.flight_id not in known:
                known.add(leg.flight_id)
                legs.append(leg)
    return legs


def _report(r: asyncpg.Record) -> journey.Report:
    return journey.Report(
        disruption_id=r["disruption_id"], kind=r["kind"], cause=r["cause"], flight_id=r["flight_id"],
        announced_at=r["announced_at"] or r["decided_at"], delay_minutes=r["delay_minutes"] or 0, outcome=r["outcome"],
        decided_at=r["decided_at"] or r["announced_at"], segments=tuple(map(store.leg_of, r["segments"] or [])),
        arrival_delay_minutes=r["arrival_delay_minutes"], downgraded=r["downgraded"], refund_due=r["refund_due"],
        whole_trip=r["whole_trip"])


def _evaluate(found: journey.JourneyCases, book: RuleBook) -> list[ledger.Evaluated]:
    evaluated = []
    for passenger_id, cases in found.cases.items():
        for case in cases:
            started = time.perf_counter()
            result = engine.evaluate(case, book)
            metrics.EVALUATION_SECONDS.labels("consumer").observe(time.perf_counter() - started)
            evaluated += [ledger.Evaluated(passenger_id, case, e) for e in result.entitlements]
    return evaluated


def sealed(grant: Grant, sealer: Sealer) -> Grant:
    """A voucher's code travels sealed for notify: a reader of the topics cannot spend it."""
    return grant.model_copy(update={"code": sealer.seal(grant.code)}) if grant.code else grant


def announce(outbox: Outbox, disruption_id: str, booking_ref: str, changed: list[Grant], *, revision: int,
             at: datetime, traceparent: str | None = None, told_as: str | None = None) -> None:
    """Grants new or raised, told to the others and to the passengers. `told_as`: the id their
    notice goes under, where it is not the disruption's (an agent's voucher: its own action)."""
    # Deterministic ids: the same change announced twice (a redelivery) is dropped by the inboxes.
    change = [*sorted(f"{g.passenger_id}:{g.kind}:{g.amount}" for g in changed), *([told_as] if told_as else [])]
    outbox.publish(topics.ENTITLEMENTS, EntitlementsGranted(
        disruption_id=disruption_id, booking_ref=booking_ref, grants=changed,
    ), key=booking_ref, id=event_id(booking_ref, "entitlements", *change), traceparent=traceparent)
    said = set(notices.Owed.model_fields)
    owed = notices.Entitlements(grants=[notices.Owed.model_validate(g.model_dump(include=said)) for g in changed])
    outbox.publish(topics.NOTICES, notices.request(
        owed, disruption_id=told_as or disruption_id, booking_ref=booking_ref,
        passenger_ids=sorted({g.passenger_id for g in changed}), stage="entitlements", occurred_at=at,
        revision=revision,
    ), key=booking_ref, id=event_id(booking_ref, "entitlements_notice", *change),
        traceparent=traceparent)
