"""What-if plans: flight events ops are thinking of, previewed on the live state and never
published until an agent applies them. The plan as ops write it, and what the services that own
each part of the preview are asked and answer (disruption asks; rebooking, compensation and
notify each answer from their own tables, changing nothing).

Pure: no I/O."""

import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, model_validator

from shared.events import (
    BookingRef,
    Cause,
    Leg,
    PassengerDisruption,
    PassengerId,
    RebookingDecided,
    at_most,
    no_nul,
)

# A plan names at most this many flights, however it names them: a preview of more is no longer a
# decision being weighed but a day being replayed.
MAX_FLIGHTS = 500
MAX_CHANGES = 100
# What disruption sends an owner for the largest plan: every booking it hurts (a few hundred bytes
# each). The owners' what-if routes take this much; every other route keeps the shared 64 KiB.
MAX_BODY_BYTES = 32 * 1024 * 1024
FLIGHT_ID = r"^[A-Z0-9]{2}[0-9]{1,4}[A-Z]?/[0-9]{4}-[0-9]{2}-[0-9]{2}/[A-Z]{3}$"
FlightId = Annotated[str, Field(pattern=FLIGHT_ID, examples=["B61001/2013-02-08/JFK"])]
Airport = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["JFK"])]
IDENTIFIER = r"[\x20-\x7e]+"


class _Change(BaseModel):
    # Ops' own input: a misspelt field is a mistake to point out, not to drop.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cancel(_Change):
    """Cancel these flights."""

    action: Literal["cancel"]
    flights: list[FlightId] = Field(min_length=1, max_length=MAX_FLIGHTS)
    cause: Cause = "other"


class Delay(_Change):
    """Delay these flights by `minutes` from their scheduled times."""

    action: Literal["delay"]
    flights: list[FlightId] = Field(min_length=1, max_length=MAX_FLIGHTS)
    minutes: int = Field(ge=1, le=72 * 60)
    cause: Cause = "other"


class Retime(_Change):
    """A new schedule for one flight (earlier or later)."""

    action: Literal["retime"]
    flight: FlightId
    departure: AwareDatetime
    arrival: AwareDatetime

    @model_validator(mode="after")
    def _arrives_after_departing(self) -> "Retime":
        if self.arrival <= self.departure:
            raise ValueError("arrival must be after departure")
        return self


class Divert(_Change):
    """Land one flight somewhere else."""

    action: Literal["divert"]
    flight: FlightId
    to: Airport
    cause: Cause = "other"


class CloseAirport(_Change):
    """Cancel every flight leaving or landing at `airport` between `start` and `end`."""

    action: Literal["close_airport"]
    airport: Airport
    start: AwareDatetime
    end: AwareDatetime
    cause: Cause = "weather"

    @model_validator(mode="after")
    def _a_window(self) -> "CloseAirport":
        if not self.start < self.end or (self.end - self.start).total_seconds() > 72 * 3600:
            raise ValueError("end must be after start, and within 72 hours of it")
        return self


Change = Annotated[Cancel | Delay | Retime | Divert | CloseAirport, Discriminator("action")]


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", max_length=80, pattern=r"^[^\x00-\x1f\x7f]*$", examples=["Cancel the 40 "
                                                                                            "evening departures"])
    changes: Annotated[list[Change], at_most(MAX_CHANGES)] = Field(min_length=1, max_length=MAX_CHANGES)

    def flights_named(self) -> list[str]:
        """The flights the plan names one by one, in order, each once (an airport's closure names
        its flights only once the schedule is read)."""
        named: dict[str, None] = {}
        for c in self.changes:
            match c:
                case Cancel() | Delay():
                    named |= dict.fromkeys(c.flights)
                case Retime() | Divert():
                    named[c.flight] = None
        return list(named)


# --- what disruption asks the owners, and what they answer ---------------------------------------


# The most disruptions one plan can make: every flight's full manifest, and its connections.
MAX_DISRUPTIONS = 500_000
# Times a plan's flights can have: a preview is of days near now, never of the year 93 or 9999,
# whose arithmetic (a 72-hour horizon) would leave the calendar.
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _within_the_calendar(*instants: datetime | None) -> None:
    for at in instants:
        if at is not None and not EARLIEST <= at <= LATEST:
            raise ValueError(f"{at.isoformat()} is not a time a flight of a plan can have")


def _flights_known(*legs: Leg) -> None:
    for leg in legs:
        if not re.fullmatch(FLIGHT_ID, leg.flight_id):
            raise ValueError(f"flight_id {leg.flight_id!r} is not a flight id (carrier and number/date/origin)")
        _within_the_calendar(leg.scheduled_departure, leg.scheduled_arrival)


def _disruptions_as_sent(disruptions: list[PassengerDisruption]) -> None:
    """What disruption sends: its flights' ids, their times, ids of printable text."""
    for d in disruptions:
        if not re.fullmatch(IDENTIFIER, d.disruption_id) or len(d.disruption_id) > 200:
            raise ValueError("disruption_id: printable text, at most 200 characters")
        _flights_known(d.flight, *d.segments)
        _within_the_calendar(d.earliest_departure, d.accepted_at, d.announced_at)


class _Asked(BaseModel):
    """A part of a preview asked of its owner: what disruption sends, nothing else (a NUL, which
    PostgreSQL's text cannot hold, is refused with the rest)."""

    _no_nul = model_validator(mode="before")(no_nul)


class PlannedFlight(BaseModel):
    """A flight as the plan leaves it: gone (`cancelled`, `diverted`), or at new times."""

    flight_id: FlightId
    status: Literal["cancelled", "diverted", "delayed", "retimed"]
    departure: datetime | None = None
    arrival: datetime | None = None

    @model_validator(mode="after")
    def _times(self) -> "PlannedFlight":
        _within_the_calendar(self.departure, self.arrival)
        return self


class RebookingAsked(_Asked):
    disruptions: Annotated[list[PassengerDisruption], at_most(MAX_DISRUPTIONS)]
    planned: Annotated[list[PlannedFlight], at_most(MAX_FLIGHTS)] = []
    budget_seconds: float = Field(default=1.0, ge=0.01, le=30)

    @model_validator(mode="after")
    def _as_sent(self) -> "RebookingAsked":
        _disruptions_as_sent(self.disruptions)
        return self


class RebookingPreview(BaseModel):
    """What rebooking would decide: each booking's outcome, as its `rebooking.decided` would say,
    and who the passengers hit are."""

    decided: list[RebookingDecided]
    cabins: dict[str, int] = Field(description="Passengers hit, by cabin booked")
    tiers: dict[str, int] = Field(description="Passengers hit, by status tier")
    special_services: dict[str, int] = Field(description="Passengers hit, by special service request")
    unaccompanied_minors: int
    method: str = Field(description="How the solver ended: optimal, feasible or greedy")
    solve_seconds: float
    cost: int = Field(description="What the cost profile says the outcome costs (the solver's objective)")
    cost_profile: str


class MoneyAsked(_Asked):
    disruptions: Annotated[list[PassengerDisruption], at_most(MAX_DISRUPTIONS)]
    decided: Annotated[list[RebookingDecided], at_most(MAX_DISRUPTIONS)]

    @model_validator(mode="after")
    def _as_sent(self) -> "MoneyAsked":
        _disruptions_as_sent(self.disruptions)
        for r in self.decided:
            _flights_known(*r.segments)
        return self


class Owed(BaseModel):
    """Money owed in one currency, of one kind, under one regime."""

    currency: str
    kind: str
    regime: str
    amount: Decimal
    passengers: int
    exempt: Decimal = Field(default=Decimal(0), description="What the cause as given exempts: what a cause "
                                                            "within the airline's control would add")


class MoneyPreview(BaseModel):
    owed: list[Owed]
    passengers_evaluated: int
    passengers_not_evaluated: int = Field(description="Without a fare on file: nothing can be said of them")


class NoticesAsked(_Asked):
    bookings: Annotated[list[tuple[BookingRef, list[PassengerId]]], at_most(MAX_DISRUPTIONS)] = Field(
        description="(booking, its passengers hit)")


class NoticesPreview(BaseModel):
    by_channel: dict[str, int] = Field(description="Deliveries, by channel")
    by_language: dict[str, int] = Field(description="Passengers, by the language they are written to in")
    unreachable: int = Field(description="Passengers with no usable contact details: an agent must call")
    rate_per_second: float = Field(description="First notices sent a second, as measured at the busiest "
                                               "moment of the last day (or the configured rate, before any)")
    rate_measured: bool
    seconds: float = Field(description="How long the first notices would take at that rate")


def percentile(values: list[int], q: float) -> int | None:
    """The `q` quantile of `values` (nearest rank), None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
