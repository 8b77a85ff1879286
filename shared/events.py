"""The CloudEvents 1.0 envelope and the event payloads every service shares.

Events carry ids, never contact details: phone numbers and email addresses live only in notify.
"""

import functools
import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.notices import Notice
from shared.wire import Day as Day
from shared.wire import Instant as Instant
from shared.wire import Money as Money
from shared.wire import Stage as Stage

# Deterministic ids: the same fact derived twice gets the same id, so the inbox sees a duplicate.
_NAMESPACE = uuid.UUID("6f1d8f0e-3c1e-4c55-9d6b-2b5a1f8a7e10")


def event_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def flight_id(carrier: str, number: str | int, departure_date: date, origin: str) -> str:
    """A flight as the industry names it: carrier, number, local departure date, origin."""
    return f"{carrier}{number}/{departure_date.isoformat()}/{origin}"


def at_most(limit: int) -> BeforeValidator:
    """A list of at most `limit` items, its length checked before any item is validated (a
    `max_length`, which documents the limit, is checked only after them): the validator to put
    beside `Field(min_length=1, max_length=limit)` on a batch."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise ValueError(f"at most {limit} items per request, not {len(value)}")
        return value

    return BeforeValidator(check)


# Validation context under which a model refuses fields it does not know: a partner's own input.
PARTNER_INPUT = {"partner_input": True}


class Model(BaseModel):
    """Every event payload. A reader ignores fields it does not know, so that a writer one release
    ahead may add optional ones while replicas of both releases share a topic (a rolling upgrade);
    what a partner sends is read under `PARTNER_INPUT`, where an unknown field is a mistake to
    tell them about, not to drop."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields_from_partners(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("partner_input") and isinstance(data, dict):
            if unknown := sorted(k for k in data if k not in _field_names(cls)):
                raise ValueError(f"unknown field {unknown[0]!r}")
        return data


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """The names a model reads a field by: its own, and any it also accepts (`validation_alias`)."""
    names = set(model.model_fields)
    for field in model.model_fields.values():
        alias = field.validation_alias
        names |= {str(a) for a in (alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else [])}
    return frozenset(names)


# --- reservation side: schedule and bookings (compacted topics) -------------------------------


class Leg(Model):
    """One scheduled flight, as a passenger's itinerary names it."""

    flight_id: str
    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$")
    number: str = Field(pattern=r"^[0-9]{1,4}[A-Z]?$")
    origin: str = Field(pattern=r"^[A-Z]{3}$")
    destination: str = Field(pattern=r"^[A-Z]{3}$")
    scheduled_departure: Instant
    scheduled_arrival: Instant



Cabin = Literal["economy", "premium_economy", "business", "first"]
CABINS: tuple[Cabin, ...] = ("economy", "premium_economy", "business", "first")  # worst to best


class FlightScheduled(Leg):
    type: Literal["flight.scheduled"] = "flight.scheduled"
    seats: int = Field(gt=0, le=1000)
    cabins: dict[Cabin, int] = Field(default={}, description="Seats per cabin, adding up to `seats`; "
                                                             "empty: every seat is economy")

    @model_validator(mode="after")
    def _cabins_add_up(self) -> "FlightScheduled":
        if self.cabins and sum(self.cabins.values()) != self.seats:
            raise ValueError(f"cabins hold {sum(self.cabins.values())} seats, not {self.seats}")
        if any(n < 0 for n in self.cabins.values()):
            raise ValueError("a cabin cannot hold fewer than 0 seats")
        return self

    @property
    def seats_by_cabin(self) -> dict[Cabin, int]:
        return {c: n for c, n in self.cabins.items() if n} if self.cabins else {"economy": self.seats}


# A booking reference (the record locator a reservation system issues): six letters and digits.
BOOKING_REF = r"^[A-Z0-9]{6}$"
BookingRef = Annotated[str, Field(pattern=BOOKING_REF, examples=["ABC123"],
                                  description="The booking reference: six capital letters and digits")]
# A passenger's id in the reservation system: letters, digits, `.`, `_` and `-`, at most 64. It
# names a passenger within one booking only: two bookings may each have a passenger `1`, so a
# passenger is (booking reference, passenger id). Nothing a header, a URL, a log line or a
# provider's query language could read as its own syntax (CR, LF, quotes, spaces) gets in.
PASSENGER_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PassengerId = Annotated[str, Field(pattern=PASSENGER_ID, examples=["ABC123-1"],
                                   description="The passenger, within the booking: unique only with "
                                               "the booking reference")]

# Frequent-flyer status, lowest first.
Tier = Literal["none", "silver", "gold", "platinum"]
TIERS: tuple[Tier, ...] = ("none", "silver", "gold", "platinum")
# Special service requests (IATA SSR codes) that put a passenger first in line.
SpecialService = Literal["WCHR", "WCHS", "WCHC", "UMNR", "BLND", "DEAF", "DPNA", "MEDA"]


class Passenger(Model):
    passenger_id: PassengerId
    name: str | None = Field(default=None, max_length=80, description="As on the ticket: SURNAME/GIVEN")
    fare: Money
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    tier: Tier = "none"
    special_services: list[SpecialService] = Field(default=[], max_length=4)


class BookingConfirmed(Model):
    type: Literal["booking.confirmed"] = "booking.confirmed"
    booking_ref: BookingRef
    passengers: list[Passenger] = Field(min_length=1, max_length=9)
    flight_ids: list[str] = Field(min_length=1, max_length=4)
    cabin: Cabin = "economy"
    booked_at: Instant | None = Field(default=None, description="When the booking was made: "
                                                              "earlier bookings go first")
    may_split: bool = Field(default=False, description="The party may travel on different flights "
                                                       "when no flight has seats for all of them")
    payment: Literal["credit_card", "debit_card", "cash", "other"] = Field(
        default="credit_card", description="How the booking was paid: refunds go back the same way")


# --- partners: flight events -------------------------------------------------------------------

Cause = Literal["weather", "technical", "crew", "air_traffic_control", "security", "airport", "other"]


class FlightRef(Model):
    """A flight as partners name it: carrier, number, scheduled departure date, origin.

    Text messages sometimes name the flight by its UTC date, or by the station of the movement
    (the destination, for an arrival), or without a leg: the disruption service resolves them
    against the schedule. Without an origin, the event is about every leg of the flight that day."""

    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$", examples=["B6"])
    number: str = Field(pattern=r"^[0-9]{1,4}[A-Z]?$", examples=["1234"])
    departure_date: Day = Field(description="Scheduled departure date (local to the origin "
                                             "unless `date_basis` is `utc`)")
    origin: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", examples=["JFK"])
    destination: str | None = Field(default=None, pattern=r"^[A-Z]{3}$",
                                    description="Only to single out a leg when the origin is unknown")
    date_basis: Literal["local", "utc"] = "local"

    @field_validator("number", mode="before")
    @classmethod
    def _strip_leading_zeros(cls, number: object) -> object:
        # "B60123" and "B6123" are the same flight; schedules carry the short form.
        # A lone zero before a suffix letter ("0A") stays: it is the whole number.
        return re.sub(r"^0+(?=[0-9])", "", number) if isinstance(number, str) else number

    @property
    def flight_id(self) -> str | None:
        if self.origin is None or self.date_basis != "local":
            return None
        return flight_id(self.carrier, self.number, self.departure_date, self.origin)

    @property
    def designator(self) -> str:
        """The Kafka key: every event about this flight number lands on one partition, in order."""
        return f"{self.carrier}{self.number}"


class DelayCode(Model):
    code: str = Field(pattern=r"^[0-9]{2}[A-Z]?$", description="IATA delay code (AHM 730)")
    minutes: StrictInt | None = Field(default=None, ge=0, le=9999)


def no_nul(value: Any) -> Any:
    """Refuses a NUL character anywhere in input from outside: PostgreSQL can store none, so one
    accepted would be an event no service could record (a model's `before` validator)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("a NUL character (\\u0000) is not allowed in any text")
    if isinstance(value, dict):
        for item in value.values():
            no_nul(item)
    if isinstance(value, list):
        for item in value:
            no_nul(item)
    return value


class _FlightEventBase(Model):
    _no_nul = model_validator(mode="before")(no_nul)
    partner_event_id: str = Field(min_length=1, max_length=128,
                                  description="The partner's own id: sent twice, accepted once")
    flight: FlightRef
    occurred_at: Instant | None = Field(
        default=None, description="When the partner learned of it (defaults to acceptance time); "
                                  "an older event never overrides a newer one")
    # Strict: a boolean is not an order (pydantic would read false as 0).
    sequence: StrictInt | None = Field(default=None, ge=0, le=2 ** 63 - 1,
                                 description="The partner's own ordering of its events per flight")


class FlightCancelled(_FlightEventBase):
    type: Literal["flight.cancelled"] = "flight.cancelled"
    reason: Cause


class FlightReinstated(_FlightEventBase):
    """A cancelled flight operates after all (IATA ASM `RIN`)."""

    type: Literal["flight.reinstated"] = "flight.reinstated"


class FlightDelayed(_FlightEventBase):
    type: Literal["flight.delayed"] = "flight.delayed"
    estimated_departure: Instant | None = None
    estimated_arrival: Instant | None = None
    next_information_at: Instant | None = Field(
        default=None, description="No estimate yet: the partner will say more at this time")
    returned: Literal["ramp", "airborne"] | None = Field(
        default=None, description="The aircraft came back to the gate (MVT `RR`) or landed back (`FR`)")
    delay_codes: list[DelayCode] = Field(default=[], max_length=4)
    reason: Cause = "other"

    @model_validator(mode="after")
    def _says_something(self) -> "FlightDelayed":
        if not (self.estimated_departure or self.estimated_arrival or self.next_information_at
                or self.returned):
            raise ValueError("a delay needs estimated_departure, estimated_arrival, "
                             "next_information_at or returned")
        return self


class FlightDiverted(_FlightEventBase):
    type: Literal["flight.diverted"] = "flight.diverted"
    new_destination: str = Field(pattern=r"^[A-Z]{3}$")
    estimated_arrival: Instant | None = None
    reason: Cause = "other"


class FlightRetimed(_FlightEventBase):
    """A schedule change (IATA ASM `TIM`): new scheduled times, the same flight."""

    type: Literal["flight.retimed"] = "flight.retimed"
    scheduled_departure: Instant
    scheduled_arrival: Instant


class FlightDeparted(_FlightEventBase):
    type: Literal["flight.departed"] = "flight.departed"
    actual_departure: Instant = Field(description="Off-block time")
    airborne_at: Instant | None = None
    estimated_arrival: Instant | None = None
    delay_codes: list[DelayCode] = Field(default=[], max_length=4)


class FlightArrived(_FlightEventBase):
    type: Literal["flight.arrived"] = "flight.arrived"
    actual_arrival: Instant = Field(description="Touchdown time")
    on_block_at: Instant | None = None


FLIGHT_EVENT_TYPES = (FlightCancelled, FlightReinstated, FlightDelayed, FlightDiverted,
                      FlightRetimed, FlightDeparted, FlightArrived)
FlightEventData = (FlightCancelled | FlightReinstated | FlightDelayed | FlightDiverted
                   | FlightRetimed | FlightDeparted | FlightArrived)
FlightEvent = Annotated[FlightEventData, Field(discriminator="type")]


# --- disruption -> rebooking, compensation -----------------------------------------------------

FlightStatus = Literal["scheduled", "delayed", "cancelled", "diverted", "departed", "arrived"]


class FlightStatusChanged(Model):
    """A flight's operational status, as the disruption service settled it (compacted by flight):
    rebooking never offers a seat on a flight that is cancelled, gone or elsewhere."""

    type: Literal["flight.status_changed"] = "flight.status_changed"
    flight_id: str
    status: FlightStatus


DisruptionKind = Literal["cancelled", "delayed", "retimed", "diverted", "connection_at_risk"]


class PassengerDisruption(Model):
    """One booking hurt by one flight event."""

    type: Literal["passenger.disrupted"] = "passenger.disrupted"
    disruption_id: str
    booking_ref: BookingRef
    passenger_ids: list[PassengerId]
    flight: Leg = Field(description="The segment the passengers can no longer fly as booked")
    segments: list[Leg] = Field(default=[], description="Every disrupted segment of the booking, "
                                                         "in itinerary order")
    kind: DisruptionKind
    severity: Literal["minor", "major"] = "major"
    # Read under the names the release before 84c3637 wrote too (`reason`, `noticed_at`): its
    # events may still be on the topic, or in flight during an upgrade.
    cause: str = Field(validation_alias=AliasChoices("cause", "reason"), description="The cause category (`Cause`)")
    delay_minutes: int = 0
    earliest_departure: Instant | None = Field(
        default=None, description="For a connection at risk: when the passengers can first leave")
    accepted_at: Instant | None = Field(default=None, validation_alias=AliasChoices("accepted_at", "noticed_at"),
                                        description="When Rebound accepted the flight event")
    announced_at: Instant | None = Field(
        default=None, description="When the airline made it known: the partner's `occurred_at` (in a replay of "
                                  "a past day, that day's time), else `accepted_at`. Notice periods count from it")


# --- rebooking -> compensation, notify ---------------------------------------------------------


# What became of a disrupted booking: first the service's decision (rebooked, no_alternative,
# returned — flown back to where the journey began, from a connecting airport they cannot go on
# from, and refunded — needs_agent, or kept for a flight that still operates), then the
# passenger's answer.
RebookingOutcome = Literal["rebooked", "no_alternative", "returned", "needs_agent", "kept",
                           "accepted", "changed", "refund_requested", "no_response"]


class RebookingDecided(Model):
    type: Literal["rebooking.decided"] = "rebooking.decided"
    disruption_id: str
    booking_ref: BookingRef
    passenger_ids: list[PassengerId]
    outcome: RebookingOutcome
    reason: str
    segments: list[Leg] = Field(default=[], description="The booking's new flights for this trip")
    released_flight_ids: list[str] = Field(default=[], description="Flights the booking no longer holds")
    cabin: Cabin | None = None
    downgraded: bool = Field(default=False, description="Seated in a lower cabin than booked")
    arrival_delay_minutes: int | None = None
    refund_due: bool = Field(default=False, description="The passengers will not fly this trip "
                                                        "and are owed its fare")
    whole_trip: bool = Field(default=False, description="With `refund_due`: the booking's later journeys "
                                                        "(the return) are refunded and given up too, since "
                                                        "they leave from where the passengers will not be")


# --- compensation -> notify, ops ---------------------------------------------------------------


EntitlementKind = Literal["compensation", "refund", "meal", "hotel", "transport", "credit"]


class Grant(Model):
    """One entitlement in the ledger, as it stands after this change."""

    passenger_id: PassengerId
    regime: Literal["EU261", "UK261", "US_DOT", "APPR", "AIRLINE"]
    kind: EntitlementKind
    rule: str
    rule_version: str
    amount: Money = Field(description="The grant's whole amount now, in major units")
    added: Money = Field(description="What this change adds: the whole amount for a new grant")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str
    source: str
    due_by: Instant | None = None
    code: str | None = Field(default=None, description="Vouchers and credits: the code to show or type, "
                                                       "sealed for notify (shared/sealed.py)")
    expires_at: Instant | None = None


class EntitlementsGranted(Model):
    type: Literal["entitlements.granted"] = "entitlements.granted"
    disruption_id: str
    booking_ref: BookingRef
    grants: list[Grant]


class PayoutSettled(Model):
    """What the payment provider did with one payout of a money grant: paid, or refused for good
    (a person must look at it). The ops console's "paid" is the sum of these."""

    type: Literal["payout.settled"] = "payout.settled"
    payout_id: str
    booking_ref: BookingRef
    passenger_id: PassengerId
    kind: Literal["compensation", "refund"]
    amount: Money = Field(description="In major units")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    status: Literal["paid", "failed"]


# --- notices -----------------------------------------------------------------------------------


class NoticeRequested(Model):
    """Tell these passengers about this stage of this disruption; notify holds the contacts."""

    type: Literal["notice.requested"] = "notice.requested"
    disruption_id: str
    booking_ref: BookingRef
    passenger_ids: list[PassengerId]
    stage: Stage
    template: str = Field(description="The notice's kind, as `facts.kind` says it (written for readers of "
                                       "releases before `facts` carried its kind)")
    facts: Annotated[Notice, Field(discriminator="kind")] = Field(
        description="What the notice says, by its kind (shared/notices.py)")
    occurred_at: Instant = Field(description="When the underlying event was accepted")
    about: str | None = Field(default=None, description="What the notice is about (a flight, a journey): a "
                                                        "newer notice of the same stage about the same thing "
                                                        "replaces one not yet sent")
    revision: int = Field(default=0, ge=0, description="A later notice of the same stage for the same "
                                                       "disruption (e.g. more granted): sent as well")

    @model_validator(mode="before")
    @classmethod
    def _kind_from_template(cls, data: Any) -> Any:
        """Releases before the union wrote the kind as `template` alone: their facts are read as
        that kind's."""
        if isinstance(data, dict) and isinstance(data.get("facts"), dict) and "kind" not in data["facts"]:
            return {**data, "facts": {**data["facts"], "kind": data.get("template")}}
        return data

    @model_validator(mode="after")
    def _template_is_the_kind(self) -> "NoticeRequested":
        if self.template != self.facts.kind:
            raise ValueError(f"template {self.template!r} is not the facts' kind {self.facts.kind!r}")
        return self


class Addressee(Model):
    """One booking's passengers, told of one disruption."""

    disruption_id: str
    booking_ref: BookingRef
    passenger_ids: list[PassengerId] = Field(min_length=1)


class FlightNoticeRequested(Model):
    """Tell the passengers of many bookings the same thing: a flight's first notice, one message
    for a whole aircraft rather than one per booking, so that telling everyone costs the
    first-notice path work per flight. Notify reads it as one `notice.requested` per addressee."""

    type: Literal["flight.notice.requested"] = "flight.notice.requested"
    stage: Stage
    facts: Annotated[Notice, Field(discriminator="kind")] = Field(
        description="What the notice says, the same for every addressee (shared/notices.py)")
    occurred_at: Instant = Field(description="When the underlying event was accepted")
    about: str = Field(description="The flight the notice is about: a newer notice of the same stage about the "
                                   "same flight replaces one not yet sent")
    revision: int = Field(default=0, ge=0)
    addressees: list[Addressee] = Field(min_length=1, max_length=1000)


def notice_requests(payload: Model) -> list[NoticeRequested]:
    """The notices an event asks for, one per booking: a `notice.requested` itself, or each
    addressee of a `flight.notice.requested` (what notify plans; the tests and `make play` read
    topics with it)."""
    if isinstance(payload, NoticeRequested):
        return [payload]
    if isinstance(payload, FlightNoticeRequested):
        return [NoticeRequested(disruption_id=a.disruption_id, booking_ref=a.booking_ref, passenger_ids=a.passenger_ids,
                                stage=payload.stage, template=payload.facts.kind, facts=payload.facts,
                                occurred_at=payload.occurred_at, about=payload.about, revision=payload.revision)
                for a in payload.addressees]
    return []


class NoticeDelivered(Model):
    type: Literal["notice.delivered"] = "notice.delivered"
    disruption_id: str
    booking_ref: BookingRef
    passenger_id: PassengerId
    stage: Stage
    channel: Literal["sms", "email", "push", "none"]
    status: Literal["sent", "delivered", "failed", "undeliverable", "superseded", "fallen_back"]
    provider_id: str | None = None
    detail: str | None = None


# --- the ops desk ------------------------------------------------------------------------------

DeskAction = Literal["rebook", "refund", "voucher", "message", "handled"]


class AgentActed(Model):
    """An ops agent's action, as audited by the service that carried it out: who, when, what and
    why. The effect itself travels as that service's usual event (a rebooking, a grant, a notice)."""

    type: Literal["agent.acted"] = "agent.acted"
    action_id: str = Field(description="The agent's idempotency key: the same action asked twice is one action")
    agent: str = Field(description="Who: the holder of the ops-agent key")
    action: DeskAction
    why: str = Field(min_length=1, max_length=500)
    acted_at: Instant
    booking_ref: BookingRef | None = None
    disruption_id: str | None = None
    flight_id: str | None = None
    passenger_ids: list[PassengerId] = []
    detail: dict[str, Any] = Field(default={}, description="What was done: the flights, the amount, the template")


PAYLOAD_TYPES: tuple[type[Model], ...] = (
    FlightScheduled, BookingConfirmed, *FLIGHT_EVENT_TYPES, FlightStatusChanged, PassengerDisruption, RebookingDecided,
    EntitlementsGranted, PayoutSettled, NoticeRequested, FlightNoticeRequested, NoticeDelivered, AgentActed)
PayloadData = (FlightScheduled | BookingConfirmed | FlightEventData | FlightStatusChanged | PassengerDisruption
               | RebookingDecided | EntitlementsGranted | PayoutSettled | NoticeRequested | FlightNoticeRequested
               | NoticeDelivered | AgentActed)
Payload = Annotated[PayloadData, Field(discriminator="type")]


def type_name(model: type[Model]) -> str:
    """The event type a payload class carries: `flight.cancelled`."""
    name: str = model.model_fields["type"].default
    return name


# Far above any real event (a booking of nine passengers is a few kilobytes): anything bigger is a
# broken or hostile producer, refused before it is parsed.
MAX_EVENT_BYTES = 256 * 1024


TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$"


class Envelope(BaseModel):
    """CloudEvents 1.0 as Rebound writes it: JSON structured mode. What others may send, in either
    mode, is read by shared/cloudevents.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128, description="Unique per event: the same id twice is one event")
    source: str = Field(min_length=1)
    type: str
    subject: str | None = Field(default=None, description="The aggregate: a flight or a booking reference")
    time: Instant
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT, description=(
        "W3C trace context (CloudEvents distributed-tracing extension): the partner's, carried unchanged "
        "on every event that follows from theirs"))
    tracestate: str | None = Field(default=None, max_length=512)
    data: Payload

    @model_serializer(mode="wrap")
    def _absent_not_null(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An optional attribute not given is left out, not sent as null.
        return {k: v for k, v in handler(self).items() if v is not None}

    @classmethod
    def wrap(cls, data: Any, *, source: str, subject: str, id: str | None = None,
             time: datetime | None = None, traceparent: str | None = None) -> "Envelope":
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=data.type,
            subject=subject,
            time=time or datetime.now(UTC),
            traceparent=traceparent,
            data=data,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Envelope":
        """Our own structured form, read strictly in one pass (shared/cloudevents.py reads the rest)."""
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(f"an event of {len(raw):,} bytes is over the {MAX_EVENT_BYTES:,}-byte limit")
        envelope = cls.model_validate_json(raw)
        if envelope.type != envelope.data.type:
            raise ValueError(f"envelope type {envelope.type!r} does not match data {envelope.data.type!r}")
        return envelope
