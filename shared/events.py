"""The CloudEvents 1.0 envelope and the event payloads every service shares.

Events carry ids, never contact details: phone numbers and email addresses live only in notify.
"""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Deterministic ids: the same fact derived twice gets the same id, so the inbox sees a duplicate.
_NAMESPACE = uuid.UUID("6f1d8f0e-3c1e-4c55-9d6b-2b5a1f8a7e10")


def event_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def flight_id(carrier: str, number: str | int, departure_date: date, origin: str) -> str:
    """A flight as the industry names it: carrier, number, local departure date, origin."""
    return f"{carrier}{number}/{departure_date.isoformat()}/{origin}"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- reservation side: schedule and bookings (compacted topics) -------------------------------


class Leg(Model):
    """One scheduled flight, as a passenger's itinerary names it."""

    flight_id: str
    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$")
    number: str = Field(pattern=r"^[0-9]{1,4}[A-Z]?$")
    origin: str = Field(pattern=r"^[A-Z]{3}$")
    destination: str = Field(pattern=r"^[A-Z]{3}$")
    scheduled_departure: datetime
    scheduled_arrival: datetime

    def notice_facts(self, prefix: str = "") -> dict[str, str]:
        """What a passenger notice says about this flight (times in UTC; notify localises)."""
        return {f"{prefix}flight": f"{self.carrier} {self.number}", f"{prefix}origin": self.origin,
                f"{prefix}destination": self.destination,
                f"{prefix}departure": self.scheduled_departure.isoformat(),
                f"{prefix}arrival": self.scheduled_arrival.isoformat()}


class FlightScheduled(Leg):
    type: Literal["flight.scheduled"] = "flight.scheduled"
    seats: int = Field(gt=0, le=1000)


class Passenger(Model):
    passenger_id: str
    fare: Decimal = Field(ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class BookingConfirmed(Model):
    type: Literal["booking.confirmed"] = "booking.confirmed"
    booking_ref: str = Field(pattern=r"^[A-Z0-9]{6}$")
    passengers: list[Passenger] = Field(min_length=1, max_length=9)
    flight_ids: list[str] = Field(min_length=1, max_length=4)


# --- partners: flight events -------------------------------------------------------------------


class FlightRef(Model):
    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$", examples=["B6"])
    number: str = Field(pattern=r"^[0-9]{1,4}[A-Z]?$", examples=["1234"])
    departure_date: date = Field(description="Scheduled departure date, local to the origin")
    origin: str = Field(pattern=r"^[A-Z]{3}$", examples=["JFK"])

    @property
    def flight_id(self) -> str:
        return flight_id(self.carrier, self.number, self.departure_date, self.origin)


class FlightCancelled(Model):
    type: Literal["flight.cancelled"] = "flight.cancelled"
    partner_event_id: str = Field(min_length=1, max_length=128)
    flight: FlightRef
    reason: Literal["weather", "technical", "crew", "air_traffic_control", "security", "other"]


class FlightDelayed(Model):
    type: Literal["flight.delayed"] = "flight.delayed"
    partner_event_id: str = Field(min_length=1, max_length=128)
    flight: FlightRef
    estimated_departure: datetime
    estimated_arrival: datetime | None = None
    reason: Literal["weather", "technical", "crew", "air_traffic_control", "security", "other"]


FlightEvent = Annotated[FlightCancelled | FlightDelayed, Field(discriminator="type")]


# --- disruption -> rebooking, compensation -----------------------------------------------------


class PassengerDisruption(Model):
    """One booking hurt by one flight event."""

    type: Literal["passenger.disrupted"] = "passenger.disrupted"
    disruption_id: str
    booking_ref: str
    passenger_ids: list[str]
    flight: Leg
    kind: Literal["cancelled", "delayed"]
    reason: str
    delay_minutes: int = 0


# --- rebooking -> compensation, notify ---------------------------------------------------------


class RebookingDecided(Model):
    type: Literal["rebooking.decided"] = "rebooking.decided"
    disruption_id: str
    booking_ref: str
    passenger_ids: list[str]
    outcome: Literal["rebooked", "no_alternative", "kept"]
    reason: str
    segments: list[Leg] = []
    arrival_delay_minutes: int | None = None


# --- compensation -> notify, ops ---------------------------------------------------------------


class Grant(Model):
    passenger_id: str
    rule: str
    kind: Literal["refund", "meal_voucher"]
    amount: Decimal
    currency: str
    source: str


class EntitlementsGranted(Model):
    type: Literal["entitlements.granted"] = "entitlements.granted"
    disruption_id: str
    booking_ref: str
    grants: list[Grant]


# --- notices -----------------------------------------------------------------------------------


Stage = Literal["first_notice", "rebooking", "entitlements"]


class NoticeRequested(Model):
    """Tell these passengers about this stage of this disruption; notify holds the contacts."""

    type: Literal["notice.requested"] = "notice.requested"
    disruption_id: str
    booking_ref: str
    passenger_ids: list[str]
    stage: Stage
    template: str
    facts: dict[str, Any]
    occurred_at: datetime = Field(description="When the underlying event was accepted")


class NoticeDelivered(Model):
    type: Literal["notice.delivered"] = "notice.delivered"
    disruption_id: str
    booking_ref: str
    passenger_id: str
    stage: Stage
    channel: Literal["sms", "email", "none"]
    status: Literal["sent", "failed", "undeliverable"]
    provider_id: str | None = None
    detail: str | None = None


Payload = Annotated[
    FlightScheduled
    | BookingConfirmed
    | FlightCancelled
    | FlightDelayed
    | PassengerDisruption
    | RebookingDecided
    | EntitlementsGranted
    | NoticeRequested
    | NoticeDelivered,
    Field(discriminator="type"),
]


class Envelope(BaseModel):
    """CloudEvents 1.0, JSON structured mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1)
    type: str
    subject: str = Field(description="The aggregate: a flight id or a booking reference")
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: Payload

    @classmethod
    def wrap(cls, data: Any, *, source: str, subject: str, id: str | None = None,
             time: datetime | None = None) -> "Envelope":
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=data.type,
            subject=subject,
            time=time or datetime.now(UTC),
            data=data,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Envelope":
        envelope = cls.model_validate_json(raw)
        if envelope.type != envelope.data.type:
            raise ValueError(f"envelope type {envelope.type!r} does not match data {envelope.data.type!r}")
        return envelope
