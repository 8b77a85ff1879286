"""Small schedules and bookings for the handler tests: a New York day in February 2013."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg

from shared.events import BookingConfirmed, FlightRef, FlightScheduled, Leg, Passenger, flight_id

DAY = date(2013, 2, 8)


def flight(number: str, origin: str, destination: str, hour: int, *, minutes: int = 75, seats: int = 20,
           carrier: str = "B6", day: date = DAY) -> FlightScheduled:
    departure = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return FlightScheduled(flight_id=flight_id(carrier, number, day, origin), carrier=carrier, number=number,
                           origin=origin, destination=destination, scheduled_departure=departure,
                           scheduled_arrival=departure + timedelta(minutes=minutes), seats=seats)


def booking(ref: str, *flights: FlightScheduled, party: int = 1, fare: str = "199") -> BookingConfirmed:
    return BookingConfirmed(booking_ref=ref, flight_ids=[f.flight_id for f in flights], passengers=[
        Passenger(passenger_id=f"{ref}-{i + 1}", name=f"TRAVELLER/NUMBER{i + 1}", fare=Decimal(fare))
        for i in range(party)])


def leg(f: FlightScheduled) -> Leg:
    return Leg(**f.model_dump(include=set(Leg.model_fields)))


def ref(f: FlightScheduled) -> FlightRef:
    return FlightRef(carrier=f.carrier, number=f.number, departure_date=f.scheduled_departure.date(),
                     origin=f.origin)


async def contacts(notify: asyncpg.Connection, b: BookingConfirmed, channels: list[str]) -> None:
    """Notify's contact details for every passenger of the booking."""
    await notify.executemany(
        "INSERT INTO contacts (passenger_id, booking_ref, given_name, email, phone, channels, opted_out, locale)"
        " VALUES ($1, $2, $3, $4, $5, $6, '{}', 'en')",
        [(p.passenger_id, b.booking_ref, f"Traveller {i + 1}", f"{p.passenger_id.lower()}@example.com",
          "+12125550100", channels) for i, p in enumerate(b.passengers)])
