"""Which flight a disrupted booking should move to. Pure: no I/O."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.airports import city_of

DEFAULT_HORIZON = timedelta(hours=72)


@dataclass(frozen=True)
class Flight:
    flight_id: str
    origin: str
    destination: str
    scheduled_departure: datetime
    scheduled_arrival: datetime
    seats_free: int


@dataclass(frozen=True)
class Alternative:
    flight: Flight
    reason: str


def choose_alternatives(disrupted: Flight, candidates: list[Flight], party_size: int,
                        horizon: timedelta = DEFAULT_HORIZON) -> list[Alternative]:
    """The flights that could carry the whole party, best first: earliest arrival, then the
    passenger's own airports over a co-terminal one.

    A candidate leaves no earlier than the disrupted flight was due to, within `horizon`, from
    the same city to the same city, with enough free seats for the party together."""
    origins, destinations = city_of(disrupted.origin), city_of(disrupted.destination)
    latest = disrupted.scheduled_departure + horizon
    fitting = [
        f for f in candidates
        if f.flight_id != disrupted.flight_id
        and f.origin in origins and f.destination in destinations
        and disrupted.scheduled_departure <= f.scheduled_departure <= latest
        and f.seats_free >= party_size
    ]

    def airport_change(f: Flight) -> int:
        return (f.origin != disrupted.origin) + (f.destination != disrupted.destination)

    fitting.sort(key=lambda f: (f.scheduled_arrival, airport_change(f), f.flight_id))
    return [Alternative(f, _reason(disrupted, f, airport_change(f))) for f in fitting]


def _reason(disrupted: Flight, chosen: Flight, airport_change: int) -> str:
    hours = (chosen.scheduled_arrival - disrupted.scheduled_arrival) / timedelta(hours=1)
    where = "" if not airport_change else f", {chosen.origin}→{chosen.destination}"
    return f"earliest arrival with seats for the whole party: {hours:+.1f} h later{where}"
