"""Assignment rounds: the disruptions waiting in `pending` placed together on the flights with seats.

A disruption is not rebooked on arrival: it waits for a short batching window, so every booking
hurt by one event, and by events close to it, competes for the same seats in one assignment.
`assign_round` runs one; replicas each claim their own pending rows. `run_rounds` is the service's
background work that runs them as disruptions arrive."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.rebooking import domain, inventory, links, metrics
from services.rebooking.config import Config
from services.rebooking.decisions import SOURCE, Decisions, Told, decided, itinerary_facts, legs_of
from shared import db, notices, system
from shared.events import PassengerDisruption
from shared.outbox import Outbox
from shared.runtime import Service

log = logging.getLogger(__name__)


async def run_rounds(service: Service[Config]) -> None:
    """Wake when a disruption is pending, let the batching window gather its neighbours, assign
    them together, and again: a full round goes straight on; any other waits one window more, so
    a burst is assigned in few large rounds rather than many small ones."""
    settings = service.config.settings
    async with db.notifications(settings.database_url, system.channel("rebooking", "pending")) as woken:
        while True:
            # No first notice waits for a rebooking: the rounds stand back while passengers
            # wait for one.
            await service.backlog.stand_back("rebooking rounds")
            try:
                async with service.database.acquire() as conn, conn.transaction():
                    settled = await assign_round(conn, service.config)
            except (*db.TRANSIENT, asyncpg.PostgresError) as exc:
                # A deadlock with another replica, or the database restarting: the round rolls
                # back whole, and its disruptions stay pending.
                log.warning("assignment round rolled back; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            if settled < settings.assign_batch:
                if not settled:
                    await woken(1.0)
                await asyncio.sleep(settings.batch_window_ms / 1000)


async def assign_round(conn: asyncpg.Connection, config: Config) -> int:
    """Assign one batch of pending disruptions together, in the caller's transaction; how many
    were settled. A round starts once disruptions have stopped arriving for the batching window
    (or the oldest has waited the longest wait): a burst of cancellations is assigned knowing all
    of them, not flight by flight. A placement whose seats another replica sold meanwhile stays
    pending, for the next round to place against the seats that are left. The database work is
    done in bulk: a round costs a handful of statements, not a handful per booking."""
    rows = await _claim(conn, config)
    if not rows:
        return 0
    # Each decision carries the trace of the disruption it settles.
    r = _Round(config, Outbox(config.settings, source=SOURCE), Decisions(
        {(row["disruption"]["disruption_id"], row["disruption"]["booking_ref"]): row["traceparent"] for row in rows}))
    disruptions: dict[str, PassengerDisruption] = {}
    for row in rows:
        d = PassengerDisruption.model_validate(row["disruption"])
        # A second disruption of one booking waits for the first to be settled.
        disruptions.setdefault(d.booking_ref, d)
    trips = await trips_for(conn, list(disruptions.values()), config.rules)
    for ref, d in disruptions.items():
        if ref not in trips:
            r.decisions.add(r.outbox, d, "kept", "the booking had already moved off this flight")
            r.settled.append(d)
    if trips:
        await _place(conn, r, disruptions, trips)
    await inventory.release_seats_for(conn, r.release)
    await r.decisions.flush(conn)
    await conn.execute(
        "DELETE FROM pending p USING unnest($1::text[], $2::text[]) AS s(disruption_id, booking_ref)"
        " WHERE p.disruption_id = s.disruption_id AND p.booking_ref = s.booking_ref",
        [d.disruption_id for d in r.settled], [d.booking_ref for d in r.settled])
    await r.outbox.flush(conn)
    return len(r.settled)


@dataclass
class _Round:
    """What one assignment round has decided so far."""

    config: Config
    outbox: Outbox
    decisions: Decisions
    settled: list[PassengerDisruption] = field(default_factory=list)
    # (booking, passengers, flights) whose seats go back on sale.
    release: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)


async def _claim(conn: asyncpg.Connection, config: Config) -> list[asyncpg.Record]:
    """The round's pending disruptions, once their burst has settled, locked for this replica."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT disruption, traceparent FROM pending
           WHERE (SELECT max(received_at) FROM pending) <= clock_timestamp() - make_interval(secs => $2)
              OR (SELECT min(received_at) FROM pending) <= clock_timestamp() - make_interval(secs => $3)
           ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        config.settings.assign_batch, config.settings.batch_window_ms / 1000,
        config.settings.batch_max_wait_ms / 1000)
    return rows


async def _place(conn: asyncpg.Connection, r: _Round, disruptions: dict[str, PassengerDisruption],
                 trips: dict[str, domain.Trip]) -> None:
    """Seats for every trip the flights have room for; a flight home, with a refund, for those
    stranded part of the way; for the rest, a refund or an agent. A booking whose seats another
    replica took meanwhile waits for the next round."""
    rules = r.config.rules
    # In a thread: the solver must not stall this process's consumer and heartbeats.
    flights = await inventory.flights_for(conn, trips.values(), rules)
    result = await asyncio.to_thread(solve, trips, flights, rules, r.config.settings.solve_budget_seconds)
    placed = result.placements
    refunds = await refunds_for(conn, [(ref, t, ()) for ref, t in trips.items() if ref not in placed], rules)
    seated = await inventory.take_seats_for(conn, _seatings(placed))
    home_trips = {ref: domain.homeward(trips[ref], refund.home) for ref, refund in refunds.items()
                  if refund.stranded and not trips[ref].unaccompanied_minor}
    flown_home, raced_home = await _fly_home(conn, home_trips, r.config) if home_trips else ({}, set())
    raced = (set(placed) - seated) | raced_home
    if raced:
        metrics.SEAT_RACES_LOST.inc(len(raced))
        await conn.execute("UPDATE pending SET attempts = attempts + 1 WHERE booking_ref = ANY($1::text[])",
                           sorted(raced))
    for ref, trip in trips.items():
        if ref in raced:
            continue
        d = disruptions[ref]
        if ref in placed:
            r.release.append((ref, trip.passenger_ids, trip.replaced_flight_ids))
            rebooked(r.decisions, r.outbox, r.config, d, trip, placed[ref])
        elif ref in flown_home:
            _returned(r, d, trip, refunds[ref], flown_home[ref])
        else:
            _not_moved(r, d, trip, refunds[ref], result.unplaced[ref])
        r.settled.append(d)


def _seatings(placements: dict[str, list[domain.Placement]]) -> list[inventory.Seating]:
    return [inventory.Seating(ref, p.passenger_ids, p.itinerary.flight_ids, p.cabin)
            for ref, ps in placements.items() for p in ps]


def _returned(r: _Round, d: PassengerDisruption, trip: domain.Trip, refund: domain.Refund,
              home: list[domain.Placement]) -> None:
    """Stranded part of the way: flown back to where they began, the journey refunded."""
    r.release.append((d.booking_ref, trip.passenger_ids, refund.released))
    why = domain.why_flown_home(trip, refund.home)
    r.decisions.add(r.outbox, d, "returned", why,
                    segments=legs_of(home), cabin=home[0].cabin, downgraded=any(p.downgraded for p in home),
                    refund_due=True, whole_trip=refund.whole_trip, released=refund.released,
                    told=[Told(list(p.passenger_ids), notices.Returned.model_validate(
                        decided(d, why) | itinerary_facts(p) | {"via": trip.origin, "to": trip.destination}))
                          for p in home])


def _not_moved(r: _Round, d: PassengerDisruption, trip: domain.Trip, refund: domain.Refund,
               unplaced: str) -> None:
    """No seat for the trip: an agent for a minor or a passenger stranded part of the way;
    otherwise the journey is given up and its fare refunded."""
    if domain.without_seat(trip, refund) == "needs_agent":
        r.decisions.add(r.outbox, d, "needs_agent", domain.why_an_agent(trip, r.config.rules))
    else:
        # They will not fly this journey: its seats go back on sale, and its fare is owed.
        r.release.append((d.booking_ref, trip.passenger_ids, refund.released))
        why = domain.why_no_alternative(refund, unplaced)
        notice = notices.KINDS[domain.refund_notice(refund)].model_validate(
            decided(d, why) | {"whole_trip": refund.whole_trip, "via": trip.origin, "to": trip.destination})
        r.decisions.add(r.outbox, d, "no_alternative", why, refund_due=True, whole_trip=refund.whole_trip,
                        released=refund.released, told=[Told(d.passenger_ids, notice)])


def solve(trips: dict[str, domain.Trip], flights: list[domain.Flight], rules: domain.Rules,
          budget: float) -> domain.Assignment:
    result = domain.assign(list(trips.values()), candidates(trips, flights, rules), rules, time_budget=budget)
    metrics.SOLVE_SECONDS.labels(result.method).observe(result.solve_seconds)
    log.info("assigned", extra={"bookings": len(trips), "placed": len(result.placements),
                                "method": result.method, "seconds": round(result.solve_seconds, 3)})
    return result


def candidates(trips: dict[str, domain.Trip], flights: list[domain.Flight], rules: domain.Rules
               ) -> dict[str, list[domain.Itinerary]]:
    """Each trip's candidate itineraries. Bookings on one disrupted flight share their candidates:
    found once per trip shape."""
    shapes: dict[tuple, list[domain.Itinerary]] = {}
    options = {}
    for ref, t in trips.items():
        shape = (t.origin, t.destination, t.earliest_departure, t.carrier, t.replaced_flight_ids,
                 t.unaccompanied_minor, t.arrive_by)
        if shape not in shapes:
            shapes[shape] = domain.candidate_itineraries(t, flights, rules)
        options[ref] = shapes[shape]
    return options


async def trips_for(conn: asyncpg.Connection, disruptions: list[PassengerDisruption],
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
        if replaced:
            trips[d.booking_ref] = _trip(d, bookings.get(d.booking_ref), booked, replaced, rules)
    return trips


def _trip(d: PassengerDisruption, booking: asyncpg.Record | None, booked: list[domain.BookedLeg],
          replaced: list[domain.BookedLeg], rules: domain.Rules) -> domain.Trip:
    """The trip to replace `replaced` with, for the booking as the reservation system described it
    (a booking it never described: economy, no tier, travelling together)."""
    first = replaced[0]
    at_risk = d.kind == "connection_at_risk"
    b: dict[str, Any] = dict(booking) if booking else {
        "cabin": "economy", "tier": "none", "special_services": (), "booked_at": None, "may_split": False}
    return domain.Trip(
        booking_ref=d.booking_ref, passenger_ids=tuple(d.passenger_ids), cabin=b["cabin"], carrier=first.carrier,
        origin=first.origin, destination=replaced[-1].destination,
        earliest_departure=d.earliest_departure if at_risk and d.earliest_departure else first.departure,
        planned_arrival=replaced[-1].arrival, replaced_flight_ids=tuple(leg.flight_id for leg in replaced),
        onward_connection=at_risk or len(replaced) > 1, tier=b["tier"],
        special_services=frozenset(b["special_services"]), booked_at=b["booked_at"], may_split=b["may_split"],
        arrive_by=domain.arrive_by(booked, replaced, rules))


async def _fly_home(conn: asyncpg.Connection, trips: dict[str, domain.Trip], config: Config
                    ) -> tuple[dict[str, list[domain.Placement]], set[str]]:
    """Seats home for passengers stranded at a connecting airport, from what this round left: the
    bookings flown home, and those whose seats another replica sold meanwhile (placed next round)."""
    flights = await inventory.flights_for(conn, trips.values(), config.rules)
    result = await asyncio.to_thread(solve, trips, flights, config.rules, config.settings.solve_budget_seconds / 2)
    seated = await inventory.take_seats_for(conn, _seatings(result.placements))
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


def rebooked(decisions: Decisions, outbox: Outbox, config: Config, d: PassengerDisruption, trip: domain.Trip,
             placements: list[domain.Placement], released: Sequence[str] | None = None) -> None:
    """The booking placed: its decision, and each passenger told, with a link to answer it.
    `released`: the flights it leaves (by default, those the trip replaced)."""
    settings = config.settings
    respond_by = domain.answer_deadline(
        datetime.now(UTC), min(p.itinerary.departure for p in placements),
        timedelta(hours=settings.answer_within_hours), timedelta(minutes=settings.answer_at_least_minutes))

    def choice_urls(passenger_ids: Sequence[str]) -> dict[str, str]:
        """Each passenger's own link, sealed for notify: the topics never carry one that works."""
        made = {pid: links.ChoiceLink(d.disruption_id, d.booking_ref, d.passenger_ids.index(pid), respond_by)
                for pid in passenger_ids}
        return {pid: config.sealer.seal(f"{settings.public_url}/choice/{links.sign(config.choice_keys, link)}")
                for pid, link in made.items()}
    why = " ".join(dict.fromkeys(p.reason for p in placements))
    decisions.add(outbox, d, "rebooked", why,
                  segments=legs_of(placements), cabin=placements[0].cabin,
                  downgraded=any(p.downgraded for p in placements),
                  arrival_delay=max(p.arrival_delay_minutes for p in placements),
                  respond_by=respond_by, trip=trip,
                  released=trip.replaced_flight_ids if released is None else released,
                  told=[Told(list(p.passenger_ids), notices.Rebooked.model_validate(
                      decided(d, why) | itinerary_facts(p) | {"choice_urls": choice_urls(p.passenger_ids),
                                                               "respond_by": respond_by, "split": len(placements) > 1}))
                        for p in placements])
