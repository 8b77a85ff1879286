"""Disruption: schedule and bookings build the manifest; a flight event updates the flight and
finds whom it hurts; downstream outcomes feed the ops board's recovery view."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.disruption import domain, metrics
from shared import airports, topics
from shared.consumer import batched
from shared.events import (
    FLIGHT_EVENT_TYPES,
    BookingConfirmed,
    EntitlementsGranted,
    Envelope,
    FlightEventData,
    FlightRef,
    FlightScheduled,
    FlightStatusChanged,
    Leg,
    NoticeDelivered,
    NoticeRequested,
    PassengerDisruption,
    RebookingDecided,
)
from shared.events import event_id as derived_id
from shared.outbox import Outbox

log = logging.getLogger(__name__)

# Set at wiring time from the service's settings (airport → minutes, with a "default").
MINIMUM_CONNECTING: dict[str, int] = dict(airports.DEFAULT_MINIMUM_CONNECTING_MINUTES)
CO_TERMINALS: list[frozenset[str]] = list(airports.CO_TERMINALS)


# --- reservation side ---------------------------------------------------------------------------


async def record_schedule(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    f: FlightScheduled = event.data
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination, departure_date,
                                scheduled_departure, scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, split_part($1, '/', 2)::date, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET
               scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival, updated_at = now()""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination,
        f.scheduled_departure, f.scheduled_arrival,
    )


@batched
async def record_booking(conn: asyncpg.Connection, events: list[Envelope], outbox: Outbox) -> None:
    """A batch of bookings (the latest version of each wins), pipelined: the manifests of every
    flight they hold, for the fan-out when one is disrupted."""
    latest: dict[str, BookingConfirmed] = {e.data.booking_ref: e.data for e in events}
    bookings = list(latest.values())
    await conn.executemany(
        """INSERT INTO itineraries (booking_ref, flight_ids, passenger_ids, passenger_names)
           VALUES ($1, $2, $3, $4) ON CONFLICT (booking_ref) DO UPDATE SET
               flight_ids = EXCLUDED.flight_ids, passenger_ids = EXCLUDED.passenger_ids,
               passenger_names = EXCLUDED.passenger_names""",
        [(b.booking_ref, b.flight_ids, [p.passenger_id for p in b.passengers], [p.name or "" for p in b.passengers])
         for b in bookings])
    await conn.executemany("DELETE FROM manifest WHERE booking_ref = $1 AND NOT flight_id = ANY($2::text[])",
                           [(b.booking_ref, b.flight_ids) for b in bookings])
    await conn.executemany(
        """INSERT INTO manifest (flight_id, booking_ref, passenger_ids) VALUES ($1, $2, $3)
           ON CONFLICT (flight_id, booking_ref) DO UPDATE SET passenger_ids = EXCLUDED.passenger_ids""",
        [(fid, b.booking_ref, [p.passenger_id for p in b.passengers]) for b in bookings for fid in b.flight_ids])


# --- flight events ------------------------------------------------------------------------------


async def apply_flight_event(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    """Update each flight the event names; if its passengers' plans changed, emit one disruption
    per booking and, in the same transaction, the first notice — before any rebooking is done."""
    e: FlightEventData = event.data
    occurred_at = e.occurred_at or event.time
    flights = await _resolve(conn, e.flight)
    if not flights:
        await _record_event(conn, event, _unmatched_id(e.flight), "unmatched: flight not in the schedule")
        metrics.EVENTS_UNMATCHED.inc()
        log.warning("flight event for an unknown flight", extra={"flight": e.flight.designator,
                                                                  "event_id": event.id})
        return
    # Per booking: its passengers, and each of its legs this event disrupted.
    disrupted: dict[str, tuple[list[str], list[tuple[asyncpg.Record, domain.Change]]]] = {}
    for row in flights:
        before = _state(row)
        change = domain.apply(before, e, occurred_at=occurred_at, source=event.source)
        await _save(conn, row["flight_id"], change.flight, getattr(e, "reason", None))
        await _record_event(conn, event, row["flight_id"], change.effect)
        if change.flight.status != before.status:
            # Before the fan-out, in the same transaction: rebooking hears the flight is gone
            # before it hears of the passengers it must move.
            outbox.publish(topics.FLIGHT_STATUS, FlightStatusChanged(
                flight_id=row["flight_id"], status=change.flight.status), key=row["flight_id"],
                id=derived_id(event.id, row["flight_id"], "status"))
        if change.disruption == "cancelled":
            await conn.execute("UPDATE flights SET cancelled_by = $2 WHERE flight_id = $1",
                               row["flight_id"], event.id)
        if change.disruption:
            for booking in await _on_board(conn, row["flight_id"]):
                ids = list(booking["passenger_ids"])
                disrupted.setdefault(booking["booking_ref"], (ids, []))[1].append((row, change))
        if change.reinstated:
            await _tell_reinstated(conn, outbox, event, row)
        if change.flight.expected_arrival > before.expected_arrival or change.disruption == "diverted":
            await _find_connections_at_risk(conn, outbox, event, row, change.flight)
    await _fan_out(conn, outbox, event, e, disrupted)


async def _fan_out(conn: asyncpg.Connection, outbox: Outbox, event: Envelope, e: FlightEventData,
                   disrupted: dict[str, tuple[list[str], list[tuple[asyncpg.Record, domain.Change]]]]
                   ) -> None:
    hurt = []
    for ref, (passenger_ids, legs) in sorted(disrupted.items()):
        row, change = legs[0]
        segments = [_leg(r) for r, _ in legs]
        extra = {}
        if change.flight.estimated_departure and change.disruption == "delayed":
            extra["estimated_departure"] = change.flight.estimated_departure.isoformat()
        if change.disruption == "diverted":
            extra["diverted_to"] = change.flight.destination
        if change.disruption == "retimed":
            extra |= {"new_departure": change.flight.scheduled_departure.isoformat(),
                      "new_arrival": change.flight.scheduled_arrival.isoformat()}
        hurt.append(Hurt(booking_ref=ref, passenger_ids=passenger_ids, segments=segments, kind=change.disruption,
                         severity=change.severity, reason=getattr(e, "reason", "other"),
                         delay_minutes=change.delay_minutes, facts_extra=extra))
    await _disrupt(conn, outbox, event, hurt)
    if disrupted:
        log.info("passengers disrupted", extra={"event_id": event.id, "bookings": len(disrupted)})


async def _find_connections_at_risk(conn: asyncpg.Connection, outbox: Outbox, event: Envelope,
                                    row: asyncpg.Record, flight: domain.FlightState) -> None:
    """Bookings whose next segment leaves too soon after this flight now lands."""
    onward = await conn.fetch(
        """SELECT i.booking_ref, i.passenger_ids, o.flight_id, o.origin, o.scheduled_departure, o.status
           FROM itineraries i
           JOIN manifest m ON m.booking_ref = i.booking_ref AND m.flight_id = $1
           JOIN flights o ON o.flight_id = i.flight_ids[array_position(i.flight_ids, $1) + 1]
           WHERE NOT EXISTS (SELECT 1 FROM connections_at_risk c
                             WHERE c.booking_ref = i.booking_ref AND c.onward_flight_id = o.flight_id)""",
        row["flight_id"])
    for o in onward:
        if o["status"] == "cancelled":
            continue  # that flight's own cancellation already disrupted them
        connection = domain.Connection(o["booking_ref"], o["flight_id"], o["origin"],
                                       o["scheduled_departure"])
        same_city = airports.same_city(flight.destination, o["origin"], CO_TERMINALS)
        if not domain.connection_at_risk(flight.expected_arrival, flight.destination, connection,
                                         MINIMUM_CONNECTING, same_city):
            continue
        onward_row = await conn.fetchrow("SELECT * FROM flights WHERE flight_id = $1", o["flight_id"])
        disruption_id = derived_id(event.id, "connection", o["flight_id"])
        await conn.execute("INSERT INTO connections_at_risk VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                           o["booking_ref"], o["flight_id"], disruption_id)
        arrival = flight.expected_arrival.isoformat()
        earliest = domain.earliest_onward_departure(flight.expected_arrival, flight.destination,
                                                    o["origin"], MINIMUM_CONNECTING, same_city)
        await _disrupt(conn, outbox, event, [Hurt(
            booking_ref=o["booking_ref"], passenger_ids=list(o["passenger_ids"]), segments=[_leg(onward_row)],
            kind="connection_at_risk", severity="major", reason=getattr(event.data, "reason", "other"),
            delay_minutes=0, facts_extra=_leg(row).notice_facts("inbound_") | {"estimated_arrival": arrival},
            disruption_id=disruption_id, earliest_departure=earliest if same_city else None,
            cause_flight_id=row["flight_id"])])


@dataclass(frozen=True)
class Hurt:
    """One booking hurt by one event, and what its passengers are told."""

    booking_ref: str
    passenger_ids: list[str]
    segments: list[Leg]
    kind: str
    severity: str
    reason: str
    delay_minutes: int
    facts_extra: dict
    disruption_id: str | None = None  # default: the event's id
    earliest_departure: datetime | None = None
    cause_flight_id: str | None = None


async def _disrupt(conn: asyncpg.Connection, outbox: Outbox, event: Envelope, hurt: list[Hurt]) -> None:
    """Record each booking's disruption and, in the same transaction, request its first notice and
    publish the disruption: the notice goes first and depends on nothing downstream. A booking
    that heard of this disruption already is left alone. Two statements for the whole fan-out, so
    a full aircraft costs no more round trips than one passenger."""
    if not hurt:
        return
    ids = [h.disruption_id or event.id for h in hurt]
    inserted = {(r["disruption_id"], r["booking_ref"]) for r in await conn.fetch(
        """INSERT INTO disruptions (disruption_id, booking_ref, flight_id, kind, severity, cause)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
           ON CONFLICT DO NOTHING RETURNING disruption_id, booking_ref""",
        ids, [h.booking_ref for h in hurt], [h.segments[0].flight_id for h in hurt], [h.kind for h in hurt],
        [h.severity for h in hurt], [h.reason for h in hurt])}
    fresh = [(i, h) for i, h in zip(ids, hurt, strict=True) if (i, h.booking_ref) in inserted]
    recovery = [(i, p, h.booking_ref, h.cause_flight_id or h.segments[0].flight_id)
                for i, h in fresh for p in h.passenger_ids]
    if recovery:
        await conn.execute(
            """INSERT INTO recovery (disruption_id, passenger_id, booking_ref, flight_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING""",
            *(list(column) for column in zip(*recovery, strict=True)))
    for disruption_id, h in fresh:
        _announce(outbox, event, disruption_id, h)


# Only partners' events come through the ingest, which names their source `partner/…`: a partner's
# clock says only in what order its news came, and a back-dated cancellation must not shorten the
# notice the law counts, and with it what is owed. Everything else on `flight-events` is the
# airline's own (its operations systems, the one principal besides the ingest allowed to write
# there, whatever `source` their CloudEvents name) or a replay of a past day: their clock says
# when passengers were told.
UNTRUSTED_CLOCKS = "partner/"


def announced_at(event: Envelope) -> datetime:
    told = getattr(event.data, "occurred_at", None)
    return told if told and not event.source.startswith(UNTRUSTED_CLOCKS) else event.time


def _announce(outbox: Outbox, event: Envelope, disruption_id: str, h: Hurt) -> None:
    flight = h.segments[0]
    facts = flight.notice_facts() | {"reason": h.reason, "delay_minutes": h.delay_minutes} | h.facts_extra
    # The passenger hears first: the notice leaves in this same transaction.
    outbox.publish(topics.FIRST_NOTICES, NoticeRequested(
        disruption_id=disruption_id, booking_ref=h.booking_ref, passenger_ids=h.passenger_ids,
        stage="first_notice", template=f"first_notice_{h.kind}", facts=facts, occurred_at=event.time,
        about=flight.flight_id,
    ), key=h.booking_ref, id=derived_id(disruption_id, h.booking_ref, "first_notice"))
    outbox.publish(topics.PASSENGER_DISRUPTIONS, PassengerDisruption(
        disruption_id=disruption_id, booking_ref=h.booking_ref, passenger_ids=h.passenger_ids,
        flight=flight, segments=h.segments, kind=h.kind, severity=h.severity, reason=h.reason,
        delay_minutes=h.delay_minutes, earliest_departure=h.earliest_departure, noticed_at=event.time,
        announced_at=announced_at(event),
    ), key=h.booking_ref, id=derived_id(disruption_id, h.booking_ref, "disruption"), time=event.time)
    metrics.PASSENGERS_AFFECTED.labels(h.kind).inc(len(h.passenger_ids))
    metrics.FIRST_NOTICE_REQUEST_SECONDS.observe(max(0.0, (datetime.now(UTC) - event.time).total_seconds()))


async def _tell_reinstated(conn: asyncpg.Connection, outbox: Outbox, event: Envelope,
                           row: asyncpg.Record) -> None:
    """Everyone still booked on a reinstated flight hears that it operates after all."""
    for booking in await _on_board(conn, row["flight_id"]):
        ref = booking["booking_ref"]
        outbox.publish(topics.FIRST_NOTICES, NoticeRequested(
            disruption_id=event.id, booking_ref=ref, passenger_ids=list(booking["passenger_ids"]),
            stage="first_notice", template="flight_reinstated", facts=_leg(row).notice_facts(),
            occurred_at=event.time, about=row["flight_id"],
        ), key=ref, id=derived_id(event.id, ref, "reinstated"))


# --- downstream outcomes: the manifest follows rebookings; the ops board follows recovery -------


async def follow_rebooking(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    """Record the outcome; move a rebooked booking on the manifest, so a later disruption of its
    new flight finds it. If that flight was already cancelled when we hear of the move, disrupt
    the booking again at once."""
    r: RebookingDecided = event.data
    await conn.execute(
        "UPDATE recovery SET outcome = $3, outcome_reason = $4"
        " WHERE disruption_id = $1 AND booking_ref = $2",
        r.disruption_id, r.booking_ref, r.outcome, r.reason)
    if not r.segments and not r.released_flight_ids:
        return
    await conn.execute("DELETE FROM manifest WHERE booking_ref = $1 AND flight_id = ANY($2::text[])",
                       r.booking_ref, r.released_flight_ids)
    # The itinerary, in flying order: what it held, less what was released, plus the new flights.
    await conn.execute(
        """UPDATE itineraries i SET flight_ids = coalesce((
               SELECT array_agg(fid ORDER BY dep) FROM (
                   SELECT u.fid, f.scheduled_departure AS dep
                   FROM unnest(i.flight_ids) AS u(fid) LEFT JOIN flights f ON f.flight_id = u.fid
                   WHERE u.fid <> ALL($2::text[]) AND u.fid <> ALL($3::text[])
                   UNION ALL
                   SELECT * FROM unnest($3::text[], $4::timestamptz[])) AS kept(fid, dep)), '{}')
           WHERE booking_ref = $1""",
        r.booking_ref, r.released_flight_ids, [leg.flight_id for leg in r.segments],
        [leg.scheduled_departure for leg in r.segments])
    for leg in r.segments:
        await conn.execute(
            "INSERT INTO manifest (flight_id, booking_ref, passenger_ids) VALUES ($1, $2, $3)"
            " ON CONFLICT (flight_id, booking_ref) DO UPDATE SET passenger_ids = EXCLUDED.passenger_ids",
            leg.flight_id, r.booking_ref, r.passenger_ids)
        # The new flight may have been cancelled before we heard of the move: disrupt it now.
        cancelled = await conn.fetchrow(
            "SELECT * FROM flights WHERE flight_id = $1 AND status = 'cancelled'", leg.flight_id)
        if cancelled and cancelled["cancelled_by"]:
            cancellation = event.model_copy(update={"id": cancelled["cancelled_by"]})
            await _disrupt(conn, outbox, cancellation, [Hurt(
                booking_ref=r.booking_ref, passenger_ids=r.passenger_ids, segments=[_leg(cancelled)],
                kind="cancelled", severity="major", reason=cancelled["cause"] or "other", delay_minutes=0,
                facts_extra={})])
    log.info("manifest follows rebooking", extra={"booking_ref": r.booking_ref,
                                                  "released": r.released_flight_ids})


async def record_entitlements(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    g: EntitlementsGranted = event.data
    refunded = [grant.passenger_id for grant in g.grants if grant.kind == "refund"
                and not grant.rule.endswith(".downgrade")]  # part of a fare back for a lower class
    await conn.execute("UPDATE recovery SET refunded = true"
                       " WHERE disruption_id = $1 AND passenger_id = ANY($2::text[])",
                       g.disruption_id, refunded)


@batched
async def record_delivery(conn: asyncpg.Connection, events: list[Envelope], outbox: Outbox) -> None:
    """The ops board's view of first notices: told, or unreachable (a failure after a success
    changes nothing; superseded, or sent by another channel, is no failure). A batch at a time:
    these arrive one per passenger and channel."""
    told, failed = [], []
    for e in events:
        d: NoticeDelivered = e.data
        if d.stage == "first_notice" and d.status in ("sent", "delivered"):
            told.append((d.disruption_id, d.passenger_id))
        elif d.stage == "first_notice" and d.status in ("failed", "undeliverable"):
            failed.append((d.disruption_id, d.passenger_id))
    if told:
        await conn.execute(
            """UPDATE recovery r SET notified = true, unreachable = false
               FROM unnest($1::text[], $2::text[]) AS t(disruption_id, passenger_id)
               WHERE r.disruption_id = t.disruption_id AND r.passenger_id = t.passenger_id""",
            *(list(column) for column in zip(*told, strict=True)))
    if failed:
        await conn.execute(
            """UPDATE recovery r SET unreachable = true
               FROM unnest($1::text[], $2::text[]) AS t(disruption_id, passenger_id)
               WHERE r.disruption_id = t.disruption_id AND r.passenger_id = t.passenger_id AND NOT r.notified""",
            *(list(column) for column in zip(*failed, strict=True)))


# --- helpers ------------------------------------------------------------------------------------


async def _resolve(conn: asyncpg.Connection, ref: FlightRef) -> list[asyncpg.Record]:
    """The legs an event names, locked: by local or UTC date, origin or destination if given."""
    return await conn.fetch(
        """SELECT * FROM flights
           WHERE carrier = $1 AND number = $2
             AND CASE WHEN $4 = 'utc'
                      THEN (scheduled_departure AT TIME ZONE 'UTC')::date = $3
                      ELSE departure_date = $3 END
             AND ($5::text IS NULL OR origin = $5) AND ($6::text IS NULL OR destination = $6)
           ORDER BY scheduled_departure FOR UPDATE""",
        ref.carrier, ref.number, ref.departure_date, ref.date_basis, ref.origin, ref.destination)


def _state(row: asyncpg.Record) -> domain.FlightState:
    return domain.FlightState(
        status=row["status"], scheduled_departure=row["scheduled_departure"],
        scheduled_arrival=row["scheduled_arrival"], destination=row["diverted_to"] or row["destination"],
        estimated_departure=row["estimated_departure"], estimated_arrival=row["estimated_arrival"],
        notified_delay_minutes=row["notified_delay_minutes"], as_of=row["as_of"],
        as_of_source=row["as_of_source"], as_of_sequence=row["as_of_sequence"])


async def _save(conn: asyncpg.Connection, flight_id: str, f: domain.FlightState, cause: str | None) -> None:
    await conn.execute(
        """UPDATE flights SET status = $2, scheduled_departure = $3, scheduled_arrival = $4,
               estimated_departure = $5, estimated_arrival = $6, notified_delay_minutes = $7,
               diverted_to = CASE WHEN $2 = 'diverted' THEN $8 END,
               cause = CASE WHEN $2 IN ('scheduled', 'departed', 'arrived') THEN cause
                            ELSE coalesce($9, cause) END,
               as_of = $10, as_of_source = $11, as_of_sequence = $12, updated_at = now()
           WHERE flight_id = $1""",
        flight_id, f.status, f.scheduled_departure, f.scheduled_arrival, f.estimated_departure,
        f.estimated_arrival, f.notified_delay_minutes, f.destination, cause, f.as_of, f.as_of_source,
        f.as_of_sequence)


async def _on_board(conn: asyncpg.Connection, flight_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT booking_ref, passenger_ids FROM manifest WHERE flight_id = $1 ORDER BY booking_ref",
        flight_id)


def _leg(row: asyncpg.Record) -> Leg:
    return Leg(**{field: row[field] for field in Leg.model_fields})


def _unmatched_id(ref: FlightRef) -> str:
    return f"{ref.designator}/{ref.departure_date.isoformat()}/{ref.origin or ref.destination or '*'}"


async def _record_event(conn: asyncpg.Connection, event: Envelope, flight_id: str, effect: str) -> None:
    await conn.execute(
        """INSERT INTO flight_events (event_id, flight_id, type, source, occurred_at, payload, effect)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        event.id, flight_id, event.type, event.source, event.data.occurred_at or event.time,
        event.data.model_dump(mode="json"), effect,
    )
    metrics.FLIGHT_EVENTS_APPLIED.labels(event.type, effect.split(":")[0].split(" ")[0]).inc()


HANDLERS = {
    topics.SCHEDULE: {"flight.scheduled": record_schedule},
    topics.BOOKINGS: {"booking.confirmed": record_booking},
    topics.REBOOKINGS: {"rebooking.decided": follow_rebooking},
    topics.ENTITLEMENTS: {"entitlements.granted": record_entitlements},
    topics.NOTICE_DELIVERIES: {"notice.delivered": record_delivery},
    topics.FLIGHT_EVENTS: {t.model_fields["type"].default: apply_flight_event
                           for t in FLIGHT_EVENT_TYPES},
}
