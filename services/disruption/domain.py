"""What a flight event means for the flight and its passengers. Pure: no I/O.

A flight's state moves only forward in the partners' own time: each event carries when it was
known (and, from one partner, its sequence), and an event older than the one that last changed
the flight is history, not news. Passengers hear only of changes to their plans."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from shared import notices
from shared.events import (
    Cause,
    DisruptionKind,
    FlightArrived,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightEventData,
    FlightReinstated,
    FlightRetimed,
    Leg,
)
from shared.events import event_id as derived_id

# A change smaller than this moves nobody's plans enough to message them.
NOTIFIABLE_DELAY_MINUTES = 30
# From this long a wait is a major disruption (and the airline's meal voucher applies).
MAJOR_DELAY_MINUTES = 180
# A connection between two airports of a city (arrive JFK, leave LGA) needs the crossing time.
CROSS_AIRPORT_MINUTES = 180

Status = Literal["scheduled", "delayed", "cancelled", "diverted", "departed", "arrived"]


@dataclass(frozen=True)
class FlightState:
    status: Status
    scheduled_departure: datetime
    scheduled_arrival: datetime
    destination: str
    estimated_departure: datetime | None = None
    estimated_arrival: datetime | None = None
    # The delay passengers were last told about: a smaller slip tells nobody again.
    notified_delay_minutes: int = 0
    # The event that last changed the flight: its time, its partner, that partner's sequence.
    as_of: datetime | None = None
    as_of_source: str | None = None
    as_of_sequence: int | None = None

    @property
    def expected_arrival(self) -> datetime:
        return self.estimated_arrival or self.scheduled_arrival


@dataclass(frozen=True)
class Change:
    flight: FlightState
    effect: str  # a short phrase for the flight's history
    disruption: DisruptionKind | None = None  # the passengers on board must hear of it
    delay_minutes: int = 0
    reinstated: bool = False

    @property
    def severity(self) -> Literal["minor", "major"]:
        minor = self.disruption in ("delayed", "retimed") and self.delay_minutes < MAJOR_DELAY_MINUTES
        return "minor" if minor else "major"


def is_stale(flight: FlightState, occurred_at: datetime, source: str, sequence: int | None) -> bool:
    """Older than what the flight already reflects: the same partner's sequence decides between
    its own events; otherwise the time each event was known."""
    if flight.as_of is None:
        return False
    if source == flight.as_of_source and sequence is not None and flight.as_of_sequence is not None:
        return sequence <= flight.as_of_sequence
    return occurred_at < flight.as_of


def minutes(later: datetime, earlier: datetime) -> int:
    return round((later - earlier) / timedelta(minutes=1))


def apply(flight: FlightState, event: FlightEventData, *, occurred_at: datetime, source: str) -> Change:
    """The flight's new state after `event`, and whether its passengers must hear of it."""
    if is_stale(flight, occurred_at, source, event.sequence):
        return Change(flight, f"stale: older than the flight's state as of {flight.as_of:%Y-%m-%d %H:%M}Z")
    stamped = replace(flight, as_of=occurred_at, as_of_source=source, as_of_sequence=event.sequence)
    match event:
        case FlightCancelled():
            return _cancelled(flight, stamped, event)
        case FlightReinstated():
            if flight.status != "cancelled":
                return Change(stamped, "reinstated: it was not cancelled")
            back = replace(stamped, status="scheduled", estimated_departure=None,
                           estimated_arrival=None, notified_delay_minutes=0)
            return Change(back, "reinstated: the flight operates", reinstated=True)
        case FlightDelayed():
            return _delayed(flight, stamped, event)
        case FlightDiverted():
            if flight.status in ("cancelled", "arrived"):
                return Change(flight, f"ignored: the flight has {flight.status}")
            diverted = replace(stamped, status="diverted", destination=event.new_destination,
                               estimated_arrival=event.estimated_arrival or flight.estimated_arrival)
            return Change(diverted, f"diverted to {event.new_destination}", disruption="diverted")
        case FlightRetimed():
            return _retimed(flight, stamped, event)
        case FlightDeparted():
            # An actual movement outranks any earlier report, a cancellation included.
            late = minutes(event.actual_departure, flight.scheduled_departure)
            departed = replace(stamped, status="departed", estimated_departure=event.actual_departure,
                               estimated_arrival=event.estimated_arrival or flight.estimated_arrival)
            return Change(departed, f"departed {late:+d} min", delay_minutes=late)
        case FlightArrived():
            late = minutes(event.actual_arrival, flight.scheduled_arrival)
            arrived = replace(stamped, status="arrived", estimated_arrival=event.actual_arrival)
            return Change(arrived, f"arrived {late:+d} min", delay_minutes=late)
    raise TypeError(f"not a flight event: {type(event).__name__}")


def _cancelled(flight: FlightState, stamped: FlightState, event: FlightCancelled) -> Change:
    if flight.status == "cancelled":
        return Change(stamped, "cancelled again: nothing new")
    if flight.status in ("departed", "arrived"):
        return Change(flight, f"ignored: the flight has {flight.status}")
    return Change(replace(stamped, status="cancelled"), f"cancelled ({event.reason})", disruption="cancelled")


def _retimed(flight: FlightState, stamped: FlightState, event: FlightRetimed) -> Change:
    if flight.status == "cancelled":
        return Change(flight, "ignored: the flight is cancelled")
    moved = minutes(event.scheduled_departure, flight.scheduled_departure)
    retimed = replace(stamped, scheduled_departure=event.scheduled_departure, scheduled_arrival=event.scheduled_arrival)
    effect = f"retimed {moved:+d} min"
    if abs(moved) >= NOTIFIABLE_DELAY_MINUTES:
        return Change(retimed, f"{effect}: passengers told", disruption="retimed", delay_minutes=moved)
    return Change(retimed, f"{effect}: no change worth a notice", delay_minutes=moved)


def _delayed(flight: FlightState, stamped: FlightState, event: FlightDelayed) -> Change:
    if flight.status in ("cancelled", "arrived", "diverted"):
        return Change(flight, f"ignored: the flight is {flight.status}")
    if flight.status == "departed" and not event.returned:
        # In the air: only the arrival estimate can still move.
        airborne = replace(stamped, estimated_arrival=event.estimated_arrival or flight.estimated_arrival)
        return Change(airborne, "new arrival estimate in flight")
    departure = event.estimated_departure
    if departure is None and event.next_information_at is not None:
        # No estimate yet: it cannot leave before the partner's next word.
        departure = max(event.next_information_at, flight.scheduled_departure)
    delay = minutes(departure, flight.scheduled_departure) if departure else flight.notified_delay_minutes
    arrival = event.estimated_arrival or (
        flight.scheduled_arrival + timedelta(minutes=delay) if departure else flight.estimated_arrival)
    late = delay > 0 or event.returned is not None
    state = replace(stamped, status="delayed" if late else "scheduled",
                    estimated_departure=departure, estimated_arrival=arrival)
    what = f"returned to {event.returned}, " if event.returned else ""
    worse_by = delay - flight.notified_delay_minutes
    if delay >= NOTIFIABLE_DELAY_MINUTES and worse_by >= NOTIFIABLE_DELAY_MINUTES:
        return Change(replace(state, notified_delay_minutes=delay),
                      f"{what}delayed {delay} min: passengers told", disruption="delayed",
                      delay_minutes=delay)
    return Change(state, f"{what}delayed {delay} min: no change worth a notice", delay_minutes=delay)


@dataclass(frozen=True)
class Connection:
    """A booking's next segment after the disrupted flight."""

    booking_ref: str
    onward_flight_id: str
    onward_origin: str
    onward_departure: datetime


def earliest_onward_departure(expected_arrival: datetime, arrival_airport: str, onward_origin: str,
                              minimum_connecting: Mapping[str, int], same_city: bool = True) -> datetime:
    """The first moment passengers landing at `arrival_airport` can leave from `onward_origin`:
    the airport's minimum connecting time, or the crossing time between two airports of one city.
    (A flight landing in another city entirely leaves them no onward flight to reach: `max`.)"""
    if onward_origin == arrival_airport:
        needed = minimum_connecting.get(arrival_airport, minimum_connecting["default"])
    elif same_city:
        needed = CROSS_AIRPORT_MINUTES
    else:
        return datetime.max.replace(tzinfo=expected_arrival.tzinfo)
    return expected_arrival + timedelta(minutes=needed)


def connection_at_risk(expected_arrival: datetime, arrival_airport: str, onward: Connection,
                       minimum_connecting: Mapping[str, int], same_city: bool = True) -> bool:
    """Whether the passengers can no longer make their onward flight."""
    return onward.onward_departure < earliest_onward_departure(
        expected_arrival, arrival_airport, onward.onward_origin, minimum_connecting, same_city)


# --- who is hurt, and what they are told ---------------------------------------------------------


@dataclass(frozen=True)
class Hurt:
    """One booking hurt by one event, and what its passengers are told first."""

    booking_ref: str
    passenger_ids: list[str]
    segments: list[Leg]  # the disrupted legs of the booking, in itinerary order
    kind: DisruptionKind
    severity: Literal["minor", "major"]
    cause: str  # a cause category (`Cause`), as the flight's record holds it
    delay_minutes: int
    first_notice: notices.Notice
    disruption_id: str | None = None  # default: the event's id
    earliest_departure: datetime | None = None
    cause_flight_id: str | None = None  # the flight whose event this is, when it is not the first segment


def cause_of(event: FlightEventData) -> Cause | None:
    """The cause the event gives, if its kind gives one."""
    return event.reason if isinstance(event, FlightCancelled | FlightDelayed | FlightDiverted) else None


def _first_notice(kind: DisruptionKind, leg: Leg, cause: str, delay_minutes: int, **told: object) -> notices.Notice:
    """The first notice of a disruption of `kind` on `leg`; `told`: what its kind says besides."""
    return notices.KINDS[f"first_notice_{kind}"].model_validate(
        notices.flight_facts(leg) | {"cause": cause, "delay_minutes": delay_minutes} | told)


def hurt_on_board(booking_ref: str, passenger_ids: list[str], legs: list[tuple[Leg, Change]],
                  cause: str) -> Hurt:
    """A booking with passengers on the legs `legs` changed: its disruption is the first leg's."""
    leg, change = legs[0]
    assert change.disruption is not None
    flight = change.flight
    told: dict[str, object] = {}
    if change.disruption == "delayed":
        # A delay worth a notice always has an estimate (or a time before which it cannot leave).
        told["estimated_departure"] = flight.estimated_departure or (
            flight.scheduled_departure + timedelta(minutes=change.delay_minutes))
    if change.disruption == "diverted":
        told["diverted_to"] = flight.destination
    if change.disruption == "retimed":
        told |= {"new_departure": flight.scheduled_departure, "new_arrival": flight.scheduled_arrival}
    return Hurt(booking_ref=booking_ref, passenger_ids=passenger_ids, segments=[leg for leg, _ in legs],
                kind=change.disruption, severity=change.severity, cause=cause, delay_minutes=change.delay_minutes,
                first_notice=_first_notice(change.disruption, leg, cause, change.delay_minutes, **told))


def hurt_connecting(connection: Connection, passenger_ids: list[str], onward: Leg, inbound: Leg,
                    inbound_state: FlightState, cause: str, disruption_id: str,
                    earliest_departure: datetime | None) -> Hurt:
    """A booking whose onward flight leaves before its passengers can reach it."""
    notice = _first_notice("connection_at_risk", onward, cause, 0, **notices.flight_facts(inbound, "inbound_"),
                           estimated_arrival=inbound_state.expected_arrival)
    return Hurt(booking_ref=connection.booking_ref, passenger_ids=passenger_ids, segments=[onward],
                kind="connection_at_risk", severity="major", cause=cause, delay_minutes=0, first_notice=notice,
                disruption_id=disruption_id, earliest_departure=earliest_departure,
                cause_flight_id=inbound.flight_id)


def hurt_again(booking_ref: str, passenger_ids: list[str], cancelled: Leg, cause: str) -> Hurt:
    """A booking moved onto a flight that had already been cancelled."""
    return Hurt(booking_ref=booking_ref, passenger_ids=passenger_ids, segments=[cancelled], kind="cancelled",
                severity="major", cause=cause, delay_minutes=0,
                first_notice=_first_notice("cancelled", cancelled, cause, 0))


# --- one flight event, decided whole: load → decide → save ---------------------------------------


@dataclass(frozen=True)
class FlightNow:
    """A flight an event names, as it stands before the event."""

    state: FlightState
    leg: Leg


@dataclass(frozen=True)
class Aboard:
    """A booking with passengers on a flight."""

    booking_ref: str
    passenger_ids: list[str]


@dataclass(frozen=True)
class Onward:
    """A booking's next flight after one an event names, not yet found at risk."""

    booking_ref: str
    passenger_ids: list[str]
    leg: Leg
    status: Status


@dataclass(frozen=True)
class Seen:
    """Everything a flight event is decided on: the flights it names (locked), and for each, who is
    on board and where they go next."""

    flights: list[FlightNow]
    aboard: Mapping[str, list[Aboard]]
    onward: Mapping[str, list[Onward]]


@dataclass(frozen=True)
class FlightUpdate:
    flight_id: str
    state: FlightState
    effect: str  # for the flight's history
    status_changed: bool
    cancelled: bool


@dataclass(frozen=True)
class Plan:
    """What a flight event does: each flight's new state; who hears the flight operates after all;
    connections found at risk (each disruption id with its booking and onward flight); and the
    bookings on board hurt. The handler stores and publishes it, in this order."""

    updates: list[FlightUpdate]
    cause: Cause | None
    reinstated: list[tuple[Leg, list[Aboard]]]
    connections: list[Hurt]
    hurt: list[Hurt]


def decide(event: FlightEventData, seen: Seen, *, occurred_at: datetime, source: str, event_id: str,
           minimum_connecting: Mapping[str, int], same_city: Callable[[str, str], bool]) -> Plan:
    """The plan for one flight event on the flights it names, from what was loaded: no I/O."""
    cause = cause_of(event)
    updates: list[FlightUpdate] = []
    reinstated: list[tuple[Leg, list[Aboard]]] = []
    connections: list[Hurt] = []
    disrupted: dict[str, tuple[list[str], list[tuple[Leg, Change]]]] = {}
    for now in seen.flights:
        flight_id = now.leg.flight_id
        change = apply(now.state, event, occurred_at=occurred_at, source=source)
        updates.append(FlightUpdate(flight_id, change.flight, change.effect, change.flight.status != now.state.status,
                                    change.disruption == "cancelled"))
        if change.disruption:
            for booking in seen.aboard.get(flight_id, []):
                disrupted.setdefault(booking.booking_ref, (booking.passenger_ids, []))[1].append((now.leg, change))
        if change.reinstated:
            reinstated.append((now.leg, seen.aboard.get(flight_id, [])))
        if change.flight.expected_arrival > now.state.expected_arrival or change.disruption == "diverted":
            connections += _connections_at_risk(now.leg, change.flight, seen.onward.get(flight_id, []),
                                                cause or "other", event_id, minimum_connecting, same_city)
    hurt = [hurt_on_board(ref, ids, legs, cause or "other") for ref, (ids, legs) in sorted(disrupted.items())]
    return Plan(updates, cause, reinstated, connections, hurt)


def _connections_at_risk(inbound: Leg, flight: FlightState, onward: list[Onward], cause: str, event_id: str,
                         minimum_connecting: Mapping[str, int], same_city: Callable[[str, str], bool]) -> list[Hurt]:
    """Bookings whose next flight now leaves before its passengers can reach it."""
    hurt = []
    for o in onward:
        if o.status == "cancelled":
            continue  # that flight's own cancellation already disrupted them
        connection = Connection(o.booking_ref, o.leg.flight_id, o.leg.origin, o.leg.scheduled_departure)
        nearby = same_city(flight.destination, o.leg.origin)
        if not connection_at_risk(flight.expected_arrival, flight.destination, connection, minimum_connecting, nearby):
            continue
        earliest = earliest_onward_departure(flight.expected_arrival, flight.destination, o.leg.origin,
                                             minimum_connecting, nearby)
        hurt.append(hurt_connecting(connection, o.passenger_ids, o.leg, inbound, flight, cause,
                                    derived_id(event_id, "connection", o.leg.flight_id),
                                    earliest if nearby else None))
    return hurt
