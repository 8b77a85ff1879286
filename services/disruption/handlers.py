"""Disruption: schedule and bookings build the manifest; a flight event updates the flight and
finds whom it hurts; downstream outcomes feed the ops board's recovery view."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.disruption import domain, metrics, store
from shared import notices, topics
from shared.airports import Connecting
from shared.consumer import Event
from shared.events import (
    Addressee,
    AgentActed,
    BookingConfirmed,
    EntitlementsGranted,
    FlightEventData,
    FlightNoticeRequested,
    FlightRef,
    FlightScheduled,
    FlightStatusChanged,
    Leg,
    NoticeDelivered,
    PassengerDisruption,
    PayoutSettled,
    RebookingDecided,
)
from shared.events import event_id as derived_id
from shared.outbox import Outbox
from shared.wire import Stage

log = logging.getLogger(__name__)
MONEY = ("compensation", "refund")  # the grants paid in money, to the original form of payment


# --- reservation side ---------------------------------------------------------------------------


async def record_schedule(conn: asyncpg.Connection, event: Event[FlightScheduled], outbox: Outbox) -> None:
    await store.store_schedule(conn, event.payload)


async def record_bookings(conn: asyncpg.Connection, events: list[Event[BookingConfirmed]], outbox: Outbox) -> None:
    """A batch of bookings (the latest version of each wins): the manifests of every flight they
    hold, for the fan-out when one is disrupted."""
    latest = {e.payload.booking_ref: e.payload for e in events}
    await store.store_bookings(conn, list(latest.values()))


# --- flight events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class News:
    """The event a disruption follows from: its id (the disruption's, by default), when Rebound
    accepted it, and when the airline made it known."""

    event_id: str
    accepted_at: datetime
    announced_at: datetime


# Only partners' events come through the ingest, which names their source `partner/…`: a partner's
# clock says only in what order its news came, and a back-dated cancellation must not shorten the
# notice the law counts, and with it what is owed. Everything else on `flight-events` is the
# airline's own (its operations systems, the one principal besides the ingest allowed to write
# there, whatever `source` their CloudEvents name) or a replay of a past day: their clock says
# when passengers were told.
UNTRUSTED_CLOCKS = "partner/"


def announced_at(event: Event[FlightEventData]) -> datetime:
    told = event.payload.occurred_at
    return told if told and not event.source.startswith(UNTRUSTED_CLOCKS) else event.time


async def apply_flight_event(conn: asyncpg.Connection, event: Event[FlightEventData], outbox: Outbox, *,
                             connecting: Connecting) -> None:
    """Load the flights the event names (locked), who is on them and where they go next; decide,
    with no I/O, what the event does (`domain.decide`); store and publish that plan. If passengers'
    plans changed, one disruption per booking goes out with, in the same transaction, its first
    notice — before any rebooking is done."""
    seen = await store.load_flight_event(conn, event.payload.flight)
    if not seen.flights:
        await _record_event(conn, event, _unmatched_id(event.payload.flight), "unmatched: flight not in the schedule")
        metrics.EVENTS_UNMATCHED.inc()
        log.warning("flight event for an unknown flight",
                    extra={"flight": event.payload.flight.designator, "event_id": event.id})
        return
    plan = domain.decide(event.payload, seen, occurred_at=event.payload.occurred_at or event.time,
                         source=event.source, event_id=event.id, minimum_connecting=connecting.minimum_minutes,
                         same_city=connecting.same_city)
    await _carry_out(conn, outbox, event, plan)


async def _carry_out(conn: asyncpg.Connection, outbox: Outbox, event: Event[FlightEventData],
                     plan: domain.Plan) -> None:
    news = News(event.id, event.time, announced_at(event))
    for u in plan.updates:
        await store.store_state(conn, u.flight_id, u.state, plan.cause)
        await _record_event(conn, event, u.flight_id, u.effect)
        if u.status_changed:
            # Before the fan-out, in the same transaction: rebooking hears the flight is gone
            # before it hears of the passengers it must move.
            outbox.publish(topics.FLIGHT_STATUS, FlightStatusChanged(flight_id=u.flight_id, status=u.state.status),
                           key=u.flight_id, id=derived_id(event.id, u.flight_id, "status"))
        if u.cancelled:
            await store.store_cancelled_by(conn, u.flight_id, event.id)
    for leg, aboard in plan.reinstated:
        _tell_reinstated(outbox, event, leg, aboard)
    for h in plan.connections:
        assert h.disruption_id is not None  # a connection's disruption is its own, not the event's
        await store.store_connection_at_risk(conn, h.booking_ref, h.segments[0].flight_id, h.disruption_id)
    await _disrupt(conn, outbox, news, plan.connections)
    await _disrupt(conn, outbox, news, plan.hurt)
    if plan.hurt:
        log.info("passengers disrupted", extra={"event_id": event.id, "bookings": len(plan.hurt)})


async def _disrupt(conn: asyncpg.Connection, outbox: Outbox, news: News, hurt: Sequence[domain.Hurt]) -> None:
    """Record each booking's disruption and, in the same transaction, request the first notices
    and publish the disruptions: the notices go first and depend on nothing downstream. A booking
    that heard of this disruption already is left alone. Two statements and a message per flight
    for the whole fan-out, so a full aircraft costs no more round trips than one passenger."""
    if not hurt:
        return
    ids = [h.disruption_id or news.event_id for h in hurt]
    inserted = await store.store_disruptions(conn, ids, hurt)
    fresh = [(i, h) for i, h in zip(ids, hurt, strict=True) if (i, h.booking_ref) in inserted]
    await store.store_recovery(conn, [(i, p, h.booking_ref, h.cause_flight_id or h.segments[0].flight_id)
                                      for i, h in fresh for p in h.passenger_ids], news.accepted_at)
    # The passengers hear first: their notices leave in this same transaction, ahead of the rest.
    for about, notice, addressees in _by_notice(fresh):
        _tell(outbox, about, notice, addressees, news.accepted_at, "first_notice")
    for disruption_id, h in fresh:
        _announce(outbox, news, disruption_id, h)


# Addressees in one flight notice: a wide-body's bookings in one or two messages, each well under
# the topic's size limit (a booking's entry is about 100 bytes).
ADDRESSEES_PER_NOTICE = 500


def _by_notice(fresh: Sequence[tuple[str, domain.Hurt]]
               ) -> list[tuple[str, notices.Notice, list[Addressee]]]:
    """The bookings told the same thing about the same flight, together (in the order first met)."""
    groups: dict[tuple[str, notices.Notice], list[Addressee]] = {}
    for disruption_id, h in fresh:
        groups.setdefault((h.segments[0].flight_id, h.first_notice), []).append(
            Addressee(disruption_id=disruption_id, booking_ref=h.booking_ref, passenger_ids=h.passenger_ids))
    return [(about, notice, addressees) for (about, notice), addressees in groups.items()]


def _tell(outbox: Outbox, about: str, notice: notices.Notice, addressees: list[Addressee], occurred_at: datetime,
          stage: Stage) -> None:
    """One message per flight (per `ADDRESSEES_PER_NOTICE` bookings) for notify to tell everyone."""
    for start in range(0, len(addressees), ADDRESSEES_PER_NOTICE):
        part = addressees[start:start + ADDRESSEES_PER_NOTICE]
        first = part[0]
        outbox.publish(topics.FLIGHT_NOTICES, FlightNoticeRequested(
            stage=stage, facts=notice, occurred_at=occurred_at, about=about, addressees=part,
        ), key=about, id=derived_id(first.disruption_id, first.booking_ref, about, notice.kind, str(len(part))))


def _announce(outbox: Outbox, news: News, disruption_id: str, h: domain.Hurt) -> None:
    flight = h.segments[0]
    outbox.publish(topics.PASSENGER_DISRUPTIONS, PassengerDisruption(
        disruption_id=disruption_id, booking_ref=h.booking_ref, passenger_ids=h.passenger_ids,
        flight=flight, segments=h.segments, kind=h.kind, severity=h.severity, cause=h.cause,
        delay_minutes=h.delay_minutes, earliest_departure=h.earliest_departure, accepted_at=news.accepted_at,
        announced_at=news.announced_at,
    ), key=h.booking_ref, id=derived_id(disruption_id, h.booking_ref, "disruption"), time=news.accepted_at)
    metrics.PASSENGERS_AFFECTED.labels(h.kind).inc(len(h.passenger_ids))
    metrics.FIRST_NOTICE_REQUEST_SECONDS.observe(max(0.0, (datetime.now(UTC) - news.accepted_at).total_seconds()))


def _tell_reinstated(outbox: Outbox, event: Event[FlightEventData], leg: Leg, aboard: list[domain.Aboard]) -> None:
    """Everyone still booked on a reinstated flight hears that it operates after all."""
    if any(b.passenger_ids for b in aboard):
        reinstated = notices.Reinstated.model_validate(notices.flight_facts(leg))
        _tell(outbox, leg.flight_id, reinstated, [Addressee(disruption_id=event.id, booking_ref=b.booking_ref,
                                                            passenger_ids=b.passenger_ids) for b in aboard
                                                 if b.passenger_ids],
              event.time, "first_notice")


def _unmatched_id(ref: FlightRef) -> str:
    return f"{ref.designator}/{ref.departure_date.isoformat()}/{ref.origin or ref.destination or '*'}"


async def _record_event(conn: asyncpg.Connection, event: Event[FlightEventData], flight_id: str, effect: str) -> None:
    await store.store_flight_event(conn, event_id=event.id, flight_id=flight_id, event_type=event.type,
                                   source=event.source, occurred_at=event.payload.occurred_at or event.time,
                                   payload=event.payload.model_dump(mode="json"), effect=effect)
    metrics.FLIGHT_EVENTS_APPLIED.labels(event.type, effect.split(":")[0].split(" ")[0]).inc()


# --- downstream outcomes: the manifest follows rebookings; the ops board follows recovery -------


async def follow_rebooking(conn: asyncpg.Connection, event: Event[RebookingDecided], outbox: Outbox) -> None:
    """Record the outcome; move a rebooked booking on the manifest, so a later disruption of its
    new flight finds it. If that flight was already cancelled when we hear of the move, disrupt
    the booking again at once, as that cancellation's news."""
    r = event.payload
    await store.store_outcome(conn, r.disruption_id, r.booking_ref, r.outcome, r.reason, event.time)
    if not r.segments and not r.released_flight_ids:
        return
    # Flight events are read by a consumer of their own: an event about a flight the booking joins
    # or leaves either commits first (a cancellation is seen below) or waits for this move (and
    # finds the booking where the move put it), as if the two had come one after the other.
    await store.share_lock_flights(conn, [*r.released_flight_ids, *(leg.flight_id for leg in r.segments)])
    await store.move_booking(conn, r.booking_ref, r.passenger_ids, r.released_flight_ids, r.segments)
    for leg in r.segments:
        cancelled = await store.cancelled_flight(conn, leg.flight_id)
        if cancelled:
            news = News(cancelled["cancelled_by"], event.time, event.time)
            await _disrupt(conn, outbox, news, [domain.hurt_again(
                r.booking_ref, r.passenger_ids, store.leg_of(cancelled), cancelled["cause"] or "other")])
    log.info("manifest follows rebooking", extra={"booking_ref": r.booking_ref, "released": r.released_flight_ids})


async def record_entitlements(conn: asyncpg.Connection, event: Event[EntitlementsGranted], outbox: Outbox) -> None:
    g = event.payload
    refunded = [grant.passenger_id for grant in g.grants if grant.kind == "refund"
                and not grant.rule.endswith(".downgrade")]  # part of a fare back for a lower class
    await store.store_refunded(conn, g.disruption_id, refunded)
    await store.store_money(conn, [(g.booking_ref, grant.passenger_id, grant.kind, grant.currency, grant.added, "owed",
                                    event.time) for grant in g.grants if grant.kind in MONEY and grant.added > 0])


async def record_payout(conn: asyncpg.Connection, event: Event[PayoutSettled], outbox: Outbox) -> None:
    """A payout paid, or refused for good: the console's money paid (or failing)."""
    p = event.payload
    await store.store_money(conn, [(p.booking_ref, p.passenger_id, p.kind, p.currency, p.amount, p.status,
                                    event.time)])


async def record_desk_action(conn: asyncpg.Connection, event: Event[AgentActed], outbox: Outbox) -> None:
    """An agent's action, wherever it was done: the console shows who did what, when and why."""
    a = event.payload
    await store.store_desk_action(conn, a.action_id, a.agent, a.action, a.why, a.acted_at, a.booking_ref,
                                  a.disruption_id, a.flight_id, a.passenger_ids, a.detail, event.source)


async def record_deliveries(conn: asyncpg.Connection, events: list[Event[NoticeDelivered]], outbox: Outbox) -> None:
    """The ops board's view of first notices: told, or unreachable (a failure after a success
    changes nothing; superseded, or sent by another channel, is no failure). A batch at a time:
    these arrive one per passenger and channel."""
    firsts = [e.payload for e in events if e.payload.stage == "first_notice"]
    await store.store_told(conn, [(e.payload.disruption_id, e.payload.passenger_id, e.time) for e in events
                                  if e.payload.stage == "first_notice" and e.payload.status in ("sent", "delivered")])
    await store.store_unreachable(conn, [(d.disruption_id, d.passenger_id) for d in firsts
                                         if d.status in ("failed", "undeliverable")])
