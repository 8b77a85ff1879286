"""Rebooking: inventory from the reservation side; disrupted bookings assigned new flights together.

A disruption is not rebooked on arrival: it waits (table `pending`) for a short batching window,
so every booking hurt by one event, and by events close to it, competes for the same seats in one
assignment. `assign_pending` runs that assignment; replicas each claim their own pending rows."""

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from services.rebooking import domain, inventory, links, metrics
from services.rebooking.config import RebookingSettings
from shared import topics, tracing
from shared.consumer import batched
from shared.events import (
    TIERS,
    BookingConfirmed,
    Envelope,
    FlightScheduled,
    FlightStatusChanged,
    Leg,
    NoticeRequested,
    PassengerDisruption,
    RebookingDecided,
    RebookingOutcome,
    event_id,
)
from shared.outbox import Outbox

log = logging.getLogger(__name__)
SOURCE = "rebound/rebooking"


async def record_schedule(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    f: FlightScheduled = event.data
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination,
                                scheduled_departure, scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET
               scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination,
        f.scheduled_departure, f.scheduled_arrival)
    # Bookings may have arrived before their flight: count their seats in when it appears. The
    # flight's lock keeps a booking being recorded at this moment (another replica) from being
    # counted by neither this count nor its own increment.
    await lock_flights(conn, [f.flight_id])
    await conn.executemany(
        """INSERT INTO cabins (flight_id, cabin, capacity, sold)
           VALUES ($1, $2, $3, (SELECT count(*) FROM seats WHERE flight_id = $1 AND cabin = $2))
           ON CONFLICT (flight_id, cabin) DO UPDATE SET capacity = EXCLUDED.capacity""",
        [(f.flight_id, cabin, seats) for cabin, seats in f.seats_by_cabin.items()])


async def lock_flights(conn: asyncpg.Connection, flight_ids: list[str]) -> None:
    """Serialise the counting of these flights' seats sold, until the transaction ends (in one
    order for everyone, so two batches never wait on each other)."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtext('rebooking.cabins'), k)
           FROM (SELECT DISTINCT hashtext(f) AS k FROM unnest($1::text[]) AS f ORDER BY 1) AS keys""",
        flight_ids)


@batched
async def record_booking(conn: asyncpg.Connection, events: list[Envelope], outbox: Outbox) -> None:
    """A batch of new bookings: their seats held and counted, a booking already known left as it
    is (its seats are this service's to move now). Three statements for the whole batch: a
    reservation system's initial load is hundreds of thousands."""
    first: dict[str, BookingConfirmed] = {}
    for e in events:
        first.setdefault(e.data.booking_ref, e.data)
    # Inserted through the primary key's conflict check, which never depends on the planner's idea
    # of the table's size (a load grows it from nothing faster than statistics follow).
    batch = list(first.values())
    inserted = {r["booking_ref"] for r in await conn.fetch(
        """INSERT INTO bookings (booking_ref, passenger_ids, cabin, tier, special_services, booked_at, may_split)
           SELECT r.ref, ARRAY(SELECT jsonb_array_elements_text(r.passengers::jsonb)), r.cabin, r.tier,
                  ARRAY(SELECT jsonb_array_elements_text(r.services::jsonb)), r.booked_at, r.may_split
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bool[])
                AS r(ref, passengers, cabin, tier, services, booked_at, may_split)
           ON CONFLICT DO NOTHING RETURNING booking_ref""",
        [b.booking_ref for b in batch], [json.dumps([p.passenger_id for p in b.passengers]) for b in batch],
        [b.cabin for b in batch], [max((p.tier for p in b.passengers), key=TIERS.index) for b in batch],
        [json.dumps(sorted({s for p in b.passengers for s in p.special_services})) for b in batch],
        [b.booked_at for b in batch], [b.may_split for b in batch])}
    new = [b for b in batch if b.booking_ref in inserted]
    if not new:
        return
    seats = [(b.booking_ref, p.passenger_id, f, b.cabin) for b in new for f in b.flight_ids for p in b.passengers]
    await lock_flights(conn, [f for _, _, f, _ in seats])
    await conn.execute(
        """INSERT INTO seats (booking_ref, passenger_id, flight_id, cabin)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])""",
        *(list(column) for column in zip(*seats, strict=True)))
    sold = Counter((f, b.cabin) for b in new for f in b.flight_ids for _ in b.passengers)
    await conn.execute(
        """UPDATE cabins c SET sold = c.sold + t.n
           FROM unnest($1::text[], $2::text[], $3::int[]) AS t(flight_id, cabin, n)
           WHERE c.flight_id = t.flight_id AND c.cabin = t.cabin""",
        [f for f, _ in sold], [c for _, c in sold], list(sold.values()))


async def record_status(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    s: FlightStatusChanged = event.data
    await conn.execute("UPDATE flights SET status = $2 WHERE flight_id = $1", s.flight_id, s.status)


# Disruptions after which the passengers keep their flight, and why.
KEEP_THE_FLIGHT = {
    "delayed": "the flight still operates",
    "retimed": "the flight operates at its new time",
    "diverted": "the flight landed elsewhere: staff at that airport arrange the onward trip",
}


async def rebook(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    d: PassengerDisruption = event.data
    if d.kind in KEEP_THE_FLIGHT:
        # The flight still goes: the passengers keep it (the choice page is for rebookings).
        decisions = Decisions()
        decisions.add(outbox, d, "kept", KEEP_THE_FLIGHT[d.kind], arrival_delay=max(d.delay_minutes, 0))
        await decisions.flush(conn)
        return
    # One round trip: the flight is gone (if the status feed has not said so yet); the booking
    # waits for the next assignment round, unless it was decided already (taking seats again
    # would hold two for one passenger); and the assigner is woken.
    await conn.execute(
        """WITH cancelled AS (
               UPDATE flights SET status = 'cancelled'
               WHERE $4 AND flight_id = ANY($5::text[]) AND status <> 'cancelled'),
           woken AS (SELECT pg_notify('rebooking_pending', ''))
           INSERT INTO pending (disruption_id, booking_ref, disruption, traceparent)
           SELECT $1, $2, $3, $6 FROM woken
           WHERE NOT EXISTS (SELECT 1 FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2)
           ON CONFLICT DO NOTHING""",
        d.disruption_id, d.booking_ref, d.model_dump(mode="json"), d.kind == "cancelled",
        [s.flight_id for s in d.segments or [d.flight]], tracing.current.get())


# --- assignment of pending disruptions -------------------------------------------------------------


async def assign_pending(conn: asyncpg.Connection, settings: RebookingSettings) -> int:
    """Assign one batch of pending disruptions together, in the caller's transaction; how many
    were settled. A round starts once disruptions have stopped arriving for the batching window
    (or the oldest has waited the longest wait): a burst of cancellations is assigned knowing all
    of them, not flight by flight. A placement whose seats another replica sold meanwhile stays
    pending, for the next round to place against the seats that are left. The database work is
    done in bulk: a round costs a handful of statements, not a handful per booking."""
    rows = await conn.fetch(
        """SELECT disruption, traceparent FROM pending
           WHERE (SELECT max(received_at) FROM pending) <= clock_timestamp() - make_interval(secs => $2)
              OR (SELECT min(received_at) FROM pending) <= clock_timestamp() - make_interval(secs => $3)
           ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        settings.assign_batch, settings.batch_window_ms / 1000, settings.batch_max_wait_ms / 1000)
    if not rows:
        return 0
    rules = settings.rules
    # Each decision carries the trace of the disruption it settles.
    outbox = Outbox(settings, source=SOURCE)
    decisions = Decisions({(r["disruption"]["disruption_id"], r["disruption"]["booking_ref"]): r["traceparent"]
                           for r in rows})
    disruptions: dict[str, PassengerDisruption] = {}
    for row in rows:
        d = PassengerDisruption.model_validate(row["disruption"])
        # A second disruption of one booking waits for the first to be settled.
        disruptions.setdefault(d.booking_ref, d)
    trips = await _trips(conn, list(disruptions.values()), rules)
    settled = [d for ref, d in disruptions.items() if ref not in trips]
    for d in settled:
        decisions.add(outbox, d, "kept", "the booking had already moved off this flight")
    release: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    if trips:
        # In a thread: the solver must not stall this process's consumer and heartbeats.
        flights = await _flights_for(conn, trips.values(), rules)
        result = await asyncio.to_thread(_solve, trips, flights, rules, settings.solve_budget_seconds)
        placed = result.placements
        refunds = await refunds_for(conn, [(ref, t, ()) for ref, t in trips.items() if ref not in placed], rules)
        seated = await inventory.take_seats_for(
            conn, [(ref, p.passenger_ids, p.itinerary.flight_ids, p.cabin) for ref, ps in placed.items() for p in ps])
        raced = set(placed) - seated
        home_trips = {ref: domain.homeward(trips[ref], r.home) for ref, r in refunds.items()
                      if r.stranded and not trips[ref].unaccompanied_minor}
        flown_home, raced_home = await _fly_home(conn, home_trips, settings) if home_trips else ({}, set())
        raced |= raced_home
        if raced:
            metrics.SEAT_RACES_LOST.inc(len(raced))
            await conn.execute("UPDATE pending SET attempts = attempts + 1 WHERE booking_ref = ANY($1::text[])",
                               sorted(raced))
        for ref, trip in trips.items():
            d = disruptions[ref]
            if ref in raced:
                continue
            if ref in placed:
                release.append((ref, trip.passenger_ids, trip.replaced_flight_ids))
                _rebooked(decisions, outbox, settings, d, trip, placed[ref])
            elif ref in flown_home:
                # Stranded part of the way: flown back to where they began, the journey refunded.
                refund = refunds[ref]
                release.append((ref, trip.passenger_ids, refund.released))
                decisions.add(outbox, d, "returned", domain.why_flown_home(trip, refund.home),
                              segments=_legs(flown_home[ref]), cabin=flown_home[ref][0].cabin,
                              downgraded=any(p.downgraded for p in flown_home[ref]), refund_due=True,
                              whole_trip=refund.whole_trip, released=refund.released,
                              notices=[(list(p.passenger_ids), _itinerary_facts(p) | {"via": trip.origin,
                                                                                      "to": trip.destination})
                                       for p in flown_home[ref]])
            elif trip.unaccompanied_minor:
                decisions.add(outbox, d, "needs_agent",
                              "An unaccompanied minor can only be moved to a direct flight, and none "
                              "has a seat: an agent will arrange the trip with the family.")
            elif (refund := refunds[ref]).stranded:
                # Part of the journey is flown: they wait at a connecting airport, where an agent
                # arranges their way on or home, and their care meanwhile.
                decisions.add(outbox, d, "needs_agent", domain.why_stranded(trip, rules))
            else:
                # They will not fly this journey: its seats go back on sale, and its fare is owed.
                release.append((ref, trip.passenger_ids, refund.released))
                decisions.add(outbox, d, "no_alternative", domain.why_no_alternative(refund, result.unplaced[ref]),
                              refund_due=True, whole_trip=refund.whole_trip, released=refund.released,
                              template=domain.refund_notice(refund),
                              notices=[(d.passenger_ids, {"whole_trip": refund.whole_trip,
                                                          "via": trip.origin, "to": trip.destination})])
            settled.append(d)
    await inventory.release_seats_for(conn, release)
    await decisions.flush(conn)
    await conn.execute(
        "DELETE FROM pending p USING unnest($1::text[], $2::text[]) AS s(disruption_id, booking_ref)"
        " WHERE p.disruption_id = s.disruption_id AND p.booking_ref = s.booking_ref",
        [d.disruption_id for d in settled], [d.booking_ref for d in settled])
    await outbox.flush(conn)
    return len(settled)


async def _flights_for(conn: asyncpg.Connection, trips: Iterable[domain.Trip],
                       rules: domain.Rules) -> list[domain.Flight]:
    trips = list(trips)
    return await inventory.flights_around(
        conn, {a for t in trips for a in rules.city_of(t.origin)},
        {a for t in trips for a in rules.city_of(t.destination)},
        min(t.earliest_departure for t in trips),
        max(t.earliest_departure for t in trips) + rules.horizon + rules.max_connection)


def _solve(trips: dict[str, domain.Trip], flights: list[domain.Flight], rules: domain.Rules,
           budget: float) -> domain.Assignment:
    # Bookings on one disrupted flight share their candidates: find them once per trip shape.
    shapes: dict[tuple, list[domain.Itinerary]] = {}
    options = {}
    for ref, t in trips.items():
        shape = (t.origin, t.destination, t.earliest_departure, t.carrier, t.replaced_flight_ids,
                 t.unaccompanied_minor, t.arrive_by)
        if shape not in shapes:
            shapes[shape] = domain.candidate_itineraries(t, flights, rules)
        options[ref] = shapes[shape]
    result = domain.assign(list(trips.values()), options, rules, time_budget=budget)
    metrics.SOLVE_SECONDS.labels(result.method).observe(result.solve_seconds)
    log.info("assigned", extra={"bookings": len(trips), "placed": len(result.placements),
                                "method": result.method, "seconds": round(result.solve_seconds, 3)})
    return result


async def _trips(conn: asyncpg.Connection, disruptions: list[PassengerDisruption],
                 rules: domain.Rules) -> dict[str, domain.Trip]:
    """What must be replaced for each booking; a booking that no longer holds its disrupted flight
    has nothing to replace."""
    legs = await inventory.booked_legs_for(conn, [(d.booking_ref, d.passenger_ids) for d in disruptions])
    bookings = {r["booking_ref"]: r for r in await conn.fetch(
        "SELECT * FROM bookings WHERE booking_ref = ANY($1::text[])", [d.booking_ref for d in disruptions])}
    trips = {}
    for d in disruptions:
        booked = legs.get(d.booking_ref) or [  # a booking the reservation side never told us of
            domain.BookedLeg(s.flight_id, s.carrier, s.origin, s.destination, s.scheduled_departure,
                             s.scheduled_arrival) for s in d.segments or [d.flight]]
        replaced = domain.legs_to_replace(booked, {s.flight_id for s in d.segments} | {d.flight.flight_id},
                                          rules.co_terminals)
        if not replaced:
            continue
        booking = bookings.get(d.booking_ref)
        first = replaced[0]
        earliest = d.earliest_departure if d.kind == "connection_at_risk" and d.earliest_departure \
            else first.departure
        trips[d.booking_ref] = domain.Trip(
            booking_ref=d.booking_ref, passenger_ids=tuple(d.passenger_ids),
            cabin=booking["cabin"] if booking else "economy", carrier=first.carrier,
            origin=first.origin, destination=replaced[-1].destination, earliest_departure=earliest,
            planned_arrival=replaced[-1].arrival,
            replaced_flight_ids=tuple(leg.flight_id for leg in replaced),
            onward_connection=d.kind == "connection_at_risk" or len(replaced) > 1,
            tier=booking["tier"] if booking else "none",
            special_services=frozenset(booking["special_services"]) if booking else frozenset(),
            booked_at=booking["booked_at"] if booking else None,
            may_split=booking["may_split"] if booking else False,
            arrive_by=domain.arrive_by(booked, replaced, rules))
    return trips


async def _fly_home(conn: asyncpg.Connection, trips: dict[str, domain.Trip], settings: RebookingSettings
                    ) -> tuple[dict[str, list[domain.Placement]], set[str]]:
    """Seats home for passengers stranded at a connecting airport, from what this round left: the
    bookings flown home, and those whose seats another replica sold meanwhile (placed next round)."""
    flights = await _flights_for(conn, trips.values(), settings.rules)
    result = await asyncio.to_thread(_solve, trips, flights, settings.rules, settings.solve_budget_seconds / 2)
    seated = await inventory.take_seats_for(conn, [(ref, p.passenger_ids, p.itinerary.flight_ids, p.cabin)
                                                   for ref, ps in result.placements.items() for p in ps])
    return {ref: ps for ref, ps in result.placements.items() if ref in seated}, set(result.placements) - seated


async def refunds_for(conn: asyncpg.Connection, trips: Sequence[tuple[str, domain.Trip, Sequence[str]]],
                      rules: domain.Rules) -> dict[str, domain.Refund]:
    """What a refund would cover for each (booking, trip, flights the trip was moved to): the
    booking's own coupons are what it holds now, less the new flights, plus the ones the trip
    replaced; a flight counts as flown once the status feed says it departed."""
    if not trips:
        return {}
    held = await inventory.booked_legs_for(conn, [(ref, t.passenger_ids) for ref, t, _ in trips])
    replaced_ids = sorted({f for _, t, _ in trips for f in t.replaced_flight_ids})
    replaced = {r["flight_id"]: domain.BookedLeg(**{k: r[k] for k in (
        "flight_id", "carrier", "origin", "destination", "departure", "arrival")}) for r in await conn.fetch(
        """SELECT flight_id, carrier, origin, destination, scheduled_departure AS departure,
                  scheduled_arrival AS arrival FROM flights WHERE flight_id = ANY($1::text[])""", replaced_ids)}
    ids = sorted({leg.flight_id for legs in held.values() for leg in legs} | set(replaced))
    flown = {r["flight_id"] for r in await conn.fetch(
        "SELECT flight_id FROM flights WHERE flight_id = ANY($1::text[]) AND status IN ('departed', 'arrived')", ids)}
    found = {}
    for ref, trip, moved_to in trips:
        coupons = {leg.flight_id: leg for leg in held.get(ref, []) if leg.flight_id not in moved_to}
        coupons |= {f: replaced[f] for f in trip.replaced_flight_ids if f in replaced}
        found[ref] = domain.refund_for(list(coupons.values()), trip.replaced_flight_ids, flown, rules.co_terminals)
    return found


def _rebooked(decisions: "Decisions", outbox: Outbox, settings: RebookingSettings,
              d: PassengerDisruption, trip: domain.Trip, placements: list[domain.Placement]) -> None:
    now = datetime.now(UTC)
    respond_by = domain.answer_deadline(
        now, min(p.itinerary.departure for p in placements),
        timedelta(hours=settings.answer_within_hours), timedelta(minutes=settings.answer_at_least_minutes))
    def choice_urls(passenger_ids) -> dict[str, str]:
        """Each passenger's own link, sealed for notify: the topics never carry one that works."""
        offers = {pid: links.Offer(d.disruption_id, d.booking_ref, d.passenger_ids.index(pid), respond_by)
                  for pid in passenger_ids}
        return {pid: settings.sealer.seal(f"{settings.public_url}/choice/{links.sign(settings.choice_keys, offer)}")
                for pid, offer in offers.items()}
    decisions.add(outbox, d, "rebooked", " ".join(dict.fromkeys(p.reason for p in placements)),
                  segments=_legs(placements), cabin=placements[0].cabin,
                  downgraded=any(p.downgraded for p in placements),
                  arrival_delay=max(p.arrival_delay_minutes for p in placements),
                  respond_by=respond_by, trip=trip, released=trip.replaced_flight_ids,
                  notices=[(list(p.passenger_ids), _itinerary_facts(p) | {
                      "choice_urls": choice_urls(p.passenger_ids),
                      "respond_by": respond_by.isoformat(), "split": len(placements) > 1})
                      for p in placements])


def leg_of(f: domain.Flight) -> Leg:
    return Leg(flight_id=f.flight_id, carrier=f.carrier, number=f.number, origin=f.origin,
               destination=f.destination, scheduled_departure=f.departure, scheduled_arrival=f.arrival)


def _legs(placements: list[domain.Placement]) -> list[Leg]:
    """Every flight of the booking's placements (one, or several for a split party), in order."""
    legs = {f.flight_id: leg_of(f) for p in placements for f in p.itinerary.flights}
    return sorted(legs.values(), key=lambda leg: leg.scheduled_departure)


def _itinerary_facts(p: domain.Placement) -> dict[str, object]:
    """What a notice says about a new itinerary (times in UTC; notify localises)."""
    it = p.itinerary
    return {"new_flight": " and ".join(f"{f.carrier} {f.number}" for f in it.flights),
            "new_origin": it.origin, "new_destination": it.destination,
            "new_departure": it.departure.isoformat(), "new_arrival": it.arrival.isoformat(),
            "new_via": it.flights[0].destination if len(it.flights) > 1 else None,
            "cabin": p.cabin.replace("_", " "), "downgraded": p.downgraded}


class Decisions:
    """The service's decisions for disrupted bookings, recorded together (once each: a decision
    already recorded is kept) with the events that tell everyone, in the caller's transaction."""

    def __init__(self, traces: dict[tuple[str, str], str | None] | None = None) -> None:
        """`traces`: each disruption's trace, by (disruption id, booking), where it is not the one
        being handled."""
        self._rows: list[tuple] = []
        self._traces = traces or {}

    def add(self, outbox: Outbox, d: PassengerDisruption, outcome: RebookingOutcome, reason: str, *,
            segments: Sequence[Leg] = (), cabin: str | None = None, downgraded: bool = False,
            arrival_delay: int | None = None, refund_due: bool = False, whole_trip: bool = False,
            released: Sequence[str] = (), respond_by: datetime | None = None, trip: domain.Trip | None = None,
            notices: list[tuple[list[str], dict[str, object]]] | None = None, template: str | None = None) -> None:
        trace = self._traces.get((d.disruption_id, d.booking_ref)) or tracing.current.get()
        self._rows.append((
            d.disruption_id, d.booking_ref, outcome, d.flight.flight_id, [s.flight_id for s in segments],
            len(d.passenger_ids), reason, d.passenger_ids, cabin, downgraded, arrival_delay,
            d.model_dump(mode="json"), respond_by, trip and domain.trip_to_json(trip), trace))
        metrics.OUTCOMES.labels(outcome).inc(len(d.passenger_ids))
        # Deterministic ids: if this decision was somehow made before, consumers' inboxes drop these.
        outbox.publish(topics.REBOOKINGS, RebookingDecided(
            disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=d.passenger_ids,
            outcome=outcome, reason=reason, segments=list(segments), cabin=cabin, downgraded=downgraded,
            arrival_delay_minutes=arrival_delay, refund_due=refund_due, whole_trip=whole_trip,
            released_flight_ids=list(released),
        ), key=d.booking_ref, id=event_id(d.disruption_id, d.booking_ref, "rebooking"), traceparent=trace)
        if outcome == "kept":
            return  # the first notice already told them everything that changed
        for i, (passenger_ids, facts) in enumerate(notices or [(d.passenger_ids, {})]):
            outbox.publish(topics.NOTICES, NoticeRequested(
                disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=passenger_ids,
                stage="rebooking", template=template or outcome,
                facts=d.flight.notice_facts() | {"why": reason} | facts,
                occurred_at=d.noticed_at or datetime.now(UTC), about=d.flight.flight_id,
            ), key=d.booking_ref, id=event_id(d.disruption_id, d.booking_ref, "rebooking_notice", i),
                traceparent=trace)

    async def flush(self, conn: asyncpg.Connection) -> None:
        if self._rows:
            await conn.executemany(
                """INSERT INTO rebookings (disruption_id, booking_ref, outcome, from_flight, to_flights,
                                           seats, reason, passenger_ids, cabin, downgraded,
                                           arrival_delay_minutes, decided, respond_by, trip, traceparent)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                   ON CONFLICT DO NOTHING""", self._rows)
            self._rows.clear()


HANDLERS = {
    topics.SCHEDULE: {"flight.scheduled": record_schedule},
    topics.BOOKINGS: {"booking.confirmed": record_booking},
    topics.FLIGHT_STATUS: {"flight.status_changed": record_status},
    topics.PASSENGER_DISRUPTIONS: {"passenger.disrupted": rebook},
}
