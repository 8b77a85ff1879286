"""What the disruption service keeps in PostgreSQL: the schedule and each flight's state, the
manifests, the flight events seen, and each disrupted passenger's recovery for the ops board."""

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.disruption import domain
from shared.events import BookingConfirmed, FlightRef, FlightScheduled, Leg


async def store_schedule(conn: asyncpg.Connection, f: FlightScheduled) -> None:
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


async def store_bookings(conn: asyncpg.Connection, bookings: Sequence[BookingConfirmed]) -> None:
    """Each booking's itinerary, and the manifest of each flight it holds (pipelined)."""
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


# --- flights ----------------------------------------------------------------------------------------


async def lock_flights_named(conn: asyncpg.Connection, ref: FlightRef) -> list[asyncpg.Record]:
    """The legs an event names, locked: by local or UTC date, origin or destination if given."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT * FROM flights
           WHERE carrier = $1 AND number = $2
             AND CASE WHEN $4 = 'utc'
                      THEN (scheduled_departure AT TIME ZONE 'UTC')::date = $3
                      ELSE departure_date = $3 END
             AND ($5::text IS NULL OR origin = $5) AND ($6::text IS NULL OR destination = $6)
           ORDER BY scheduled_departure FOR UPDATE""",
        ref.carrier, ref.number, ref.departure_date, ref.date_basis, ref.origin, ref.destination)
    return rows


async def load_flight_event(conn: asyncpg.Connection, ref: FlightRef) -> domain.Seen:
    """What one flight event is decided on: the flights it names, locked (`lock_flights_named`);
    each one's bookings on board; and each booking's next flight not yet found at risk. Three
    statements however many legs and passengers."""
    return await seen_on(conn, await lock_flights_named(conn, ref))


async def seen_on(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> domain.Seen:
    """What events on these flights (rows of `flights`) are decided on: each one's bookings on board,
    and each booking's next flight not yet found at risk."""
    ids = [row["flight_id"] for row in rows]
    aboard: dict[str, list[domain.Aboard]] = {}
    onward: dict[str, list[domain.Onward]] = {}
    if ids:
        for r in await conn.fetch("SELECT flight_id, booking_ref, passenger_ids FROM manifest"
                                  " WHERE flight_id = ANY($1::text[]) ORDER BY flight_id, booking_ref", ids):
            aboard.setdefault(r["flight_id"], []).append(domain.Aboard(r["booking_ref"], list(r["passenger_ids"])))
        for r in await conn.fetch(ONWARD_CONNECTIONS, ids):
            onward.setdefault(r["inbound_flight_id"], []).append(
                domain.Onward(r["booking_ref"], list(r["passenger_ids"]), leg_of(r), r["status"]))
    return domain.Seen([domain.FlightNow(state_of(row), leg_of(row)) for row in rows], aboard, onward)


async def flights_by_id(conn: asyncpg.Connection, flight_ids: Sequence[str]) -> list[asyncpg.Record]:
    """These flights as they stand (not locked: for a what-if, which changes nothing)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM flights WHERE flight_id = ANY($1::text[]) ORDER BY scheduled_departure, flight_id",
        list(flight_ids))
    return rows


async def flights_at(conn: asyncpg.Connection, airport: str, start: datetime, end: datetime) -> list[str]:
    """The flights leaving `airport` or landing there between `start` and `end` that have not left."""
    return [r["flight_id"] for r in await conn.fetch(
        """SELECT flight_id FROM flights
           WHERE status NOT IN ('departed', 'arrived', 'cancelled')
             AND ((origin = $1 AND scheduled_departure >= $2 AND scheduled_departure < $3)
                  OR (destination = $1 AND scheduled_arrival >= $2 AND scheduled_arrival < $3))
           ORDER BY scheduled_departure, flight_id""", airport, start, end)]


# Bookings on the inbound flights with a next segment not yet found at risk: the booking, its
# passengers, and the next flight as it stands.
ONWARD_CONNECTIONS = """
    SELECT m.flight_id AS inbound_flight_id, i.booking_ref, i.passenger_ids, o.*
    FROM manifest m
    JOIN itineraries i ON i.booking_ref = m.booking_ref
    JOIN flights o ON o.flight_id = i.flight_ids[array_position(i.flight_ids, m.flight_id) + 1]
    WHERE m.flight_id = ANY($1::text[])
      AND NOT EXISTS (SELECT 1 FROM connections_at_risk c
                      WHERE c.booking_ref = i.booking_ref AND c.onward_flight_id = o.flight_id)
    ORDER BY m.flight_id, i.booking_ref"""


async def share_lock_flights(conn: asyncpg.Connection, flight_ids: Sequence[str]) -> None:
    """Hold these flights against an event changing them until this transaction ends; in the order
    an event locks them (by departure), so the two never wait for each other in a ring."""
    await conn.execute("SELECT 1 FROM flights WHERE flight_id = ANY($1::text[])"
                       " ORDER BY scheduled_departure, flight_id FOR SHARE", list(flight_ids))


def state_of(row: asyncpg.Record) -> domain.FlightState:
    return domain.FlightState(
        status=row["status"], scheduled_departure=row["scheduled_departure"],
        scheduled_arrival=row["scheduled_arrival"], destination=row["diverted_to"] or row["destination"],
        estimated_departure=row["estimated_departure"], estimated_arrival=row["estimated_arrival"],
        notified_delay_minutes=row["notified_delay_minutes"], as_of=row["as_of"],
        as_of_source=row["as_of_source"], as_of_sequence=row["as_of_sequence"])


def leg_of(row: asyncpg.Record) -> Leg:
    return Leg(**{field: row[field] for field in Leg.model_fields})


async def store_state(conn: asyncpg.Connection, flight_id: str, f: domain.FlightState, cause: str | None) -> None:
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


async def store_cancelled_by(conn: asyncpg.Connection, flight_id: str, event_id: str) -> None:
    await conn.execute("UPDATE flights SET cancelled_by = $2 WHERE flight_id = $1", flight_id, event_id)


async def store_flight_event(conn: asyncpg.Connection, *, event_id: str, flight_id: str, event_type: str,
                             source: str, occurred_at: datetime, payload: dict[str, object], effect: str) -> None:
    await conn.execute(
        """INSERT INTO flight_events (event_id, flight_id, type, source, occurred_at, payload, effect)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        event_id, flight_id, event_type, source, occurred_at, payload, effect)


# --- manifests and itineraries ----------------------------------------------------------------------


async def store_connection_at_risk(conn: asyncpg.Connection, booking_ref: str, onward_flight_id: str,
                                   disruption_id: str) -> None:
    await conn.execute("INSERT INTO connections_at_risk VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                       booking_ref, onward_flight_id, disruption_id)


async def move_booking(conn: asyncpg.Connection, booking_ref: str, passenger_ids: list[str],
                       released_flight_ids: list[str], segments: list[Leg]) -> None:
    """The booking's manifest and itinerary after a rebooking: released flights out, new ones in,
    the itinerary in flying order."""
    await conn.execute("DELETE FROM manifest WHERE booking_ref = $1 AND flight_id = ANY($2::text[])",
                       booking_ref, released_flight_ids)
    await conn.execute(
        """UPDATE itineraries i SET flight_ids = coalesce((
               SELECT array_agg(fid ORDER BY dep) FROM (
                   SELECT u.fid, f.scheduled_departure AS dep
                   FROM unnest(i.flight_ids) AS u(fid) LEFT JOIN flights f ON f.flight_id = u.fid
                   WHERE u.fid <> ALL($2::text[]) AND u.fid <> ALL($3::text[])
                   UNION ALL
                   SELECT * FROM unnest($3::text[], $4::timestamptz[])) AS kept(fid, dep)), '{}')
           WHERE booking_ref = $1""",
        booking_ref, released_flight_ids, [leg.flight_id for leg in segments],
        [leg.scheduled_departure for leg in segments])
    await conn.executemany(
        "INSERT INTO manifest (flight_id, booking_ref, passenger_ids) VALUES ($1, $2, $3)"
        " ON CONFLICT (flight_id, booking_ref) DO UPDATE SET passenger_ids = EXCLUDED.passenger_ids",
        [(leg.flight_id, booking_ref, passenger_ids) for leg in segments])


async def cancelled_flight(conn: asyncpg.Connection, flight_id: str) -> asyncpg.Record | None:
    """The flight, if it is cancelled and we know by which event."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM flights WHERE flight_id = $1 AND status = 'cancelled' AND cancelled_by IS NOT NULL",
        flight_id)
    return row


# --- disruptions and recovery (the ops board) -------------------------------------------------------


async def store_disruptions(conn: asyncpg.Connection, ids: list[str],
                            hurt: Sequence[domain.Hurt]) -> set[tuple[str, str]]:
    """Each booking's disruption, once; (disruption id, booking) of those new."""
    return {(r["disruption_id"], r["booking_ref"]) for r in await conn.fetch(
        """INSERT INTO disruptions (disruption_id, booking_ref, flight_id, kind, severity, cause)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
           ON CONFLICT DO NOTHING RETURNING disruption_id, booking_ref""",
        ids, [h.booking_ref for h in hurt], [h.segments[0].flight_id for h in hurt], [h.kind for h in hurt],
        [h.severity for h in hurt], [h.cause for h in hurt])}


async def store_recovery(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str, str]],
                         accepted_at: datetime) -> None:
    """(disruption id, passenger, booking, flight) of each passenger to recover from news accepted
    at `accepted_at`."""
    if rows:
        await conn.execute(
            """INSERT INTO recovery (disruption_id, passenger_id, booking_ref, flight_id, accepted_at)
               SELECT *, $5::timestamptz FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
               ON CONFLICT DO NOTHING""",
            *(list(column) for column in zip(*rows, strict=True)), accepted_at)


async def flights_by_status(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    return {r["status"]: r["n"] for r in await conn.fetch("SELECT status, count(*) AS n FROM flights GROUP BY status")}


async def awaiting_outcome(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, float]:
    """How many disrupted passengers have no outcome yet, and the longest any has waited (seconds)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(disrupted_at)), 0) AS longest
           FROM recovery WHERE outcome IS NULL""")
    return row["n"], float(row["longest"])


async def store_outcome(conn: asyncpg.Connection, disruption_id: str, booking_ref: str, outcome: str,
                        reason: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE recovery SET outcome = $3, outcome_reason = $4, decided_at = coalesce(decided_at, $5)"
        " WHERE disruption_id = $1 AND booking_ref = $2", disruption_id, booking_ref, outcome, reason, at)


async def store_refunded(conn: asyncpg.Connection, disruption_id: str, passenger_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE recovery SET refunded = true WHERE disruption_id = $1 AND passenger_id = ANY($2::text[])",
        disruption_id, passenger_ids)


async def store_told(conn: asyncpg.Connection, told: Sequence[tuple[str, str, datetime]]) -> None:
    """(disruption id, passenger, when) of each passenger a first notice reached."""
    if told:
        await conn.execute(
            """UPDATE recovery r SET notified = true, unreachable = false,
                                     told_at = least(r.told_at, t.told_at)
               FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(disruption_id, passenger_id, told_at)
               WHERE r.disruption_id = t.disruption_id AND r.passenger_id = t.passenger_id""",
            *(list(column) for column in zip(*told, strict=True)))


async def store_unreachable(conn: asyncpg.Connection, failed: Sequence[tuple[str, str]]) -> None:
    """(disruption id, passenger) of each passenger no first notice reached, unless one did before."""
    if failed:
        await conn.execute(
            """UPDATE recovery r SET unreachable = true
               FROM unnest($1::text[], $2::text[]) AS t(disruption_id, passenger_id)
               WHERE r.disruption_id = t.disruption_id AND r.passenger_id = t.passenger_id AND NOT r.notified""",
            *(list(column) for column in zip(*failed, strict=True)))


async def store_money(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str, str, object, str, datetime]]
                      ) -> None:
    """(booking, passenger, kind, currency, amount, owed|paid|failed, when) of each money grant and payout."""
    if rows:
        await conn.executemany(
            "INSERT INTO money (booking_ref, passenger_id, kind, currency, amount, state, at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)", rows)


async def store_desk_action(conn: asyncpg.Connection, action_id: str, agent: str, action: str, why: str,
                            acted_at: datetime, booking_ref: str | None, disruption_id: str | None,
                            flight_id: str | None, passenger_ids: list[str], detail: dict[str, object],
                            source: str) -> None:
    await conn.execute(
        """INSERT INTO desk_log (action_id, agent, action, why, acted_at, booking_ref, disruption_id, flight_id,
                                 passenger_ids, detail, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING""",
        action_id, agent, action, why, acted_at, booking_ref, disruption_id, flight_id, passenger_ids, detail, source)
