"""A disrupted passenger's case, and what they are owed: the policy engine's input and output.
Pure: no I/O."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_serializer,
    field_validator,
    model_validator,
)

from shared import airports

Regime = Literal["EU261", "UK261", "US_DOT", "APPR", "AIRLINE"]
EntitlementKind = Literal["compensation", "refund", "meal", "hotel", "transport", "credit"]
Payment = Literal["credit_card", "debit_card", "cash", "other"]
CaseCause = Literal["weather", "air_traffic_control", "security", "airport", "crew", "technical",
                    "operational", "commercial"]
CaseKind = Literal["cancellation", "delay", "downgrade", "denied_boarding"]

# ISO 4217 currencies whose minor unit is not the cent.
_MINOR_DIGITS = {"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
                 "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
                 "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor units (cents), rounded half up."""
    return int((amount * 10 ** minor_digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_digits(currency))


class _In(BaseModel):
    # Unknown fields are ignored: a reservation system may send more than the engine reads.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CasePassenger(_In):
    id: str = Field(min_length=1, max_length=64)
    disability: bool = False


class Fare(_In):
    amount: Decimal = Field(ge=0, description="What was paid for the ticket: fare, taxes and fees")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    payment: Payment


class CaseLeg(_In):
    flight: str = Field(min_length=3, max_length=8, examples=["B6 1234"])
    origin: str = Field(pattern=r"^[A-Z]{3}$")
    destination: str = Field(pattern=r"^[A-Z]{3}$")
    scheduled_departure: AwareDatetime
    scheduled_arrival: AwareDatetime

    @field_validator("origin", "destination")
    @classmethod
    def _known_airport(cls, code: str) -> str:
        if not airports.known(code):
            raise ValueError(f"{code} is not an IATA airport code the engine knows")
        return code

    @model_validator(mode="after")
    def _arrives_after_departing(self) -> "CaseLeg":
        if self.scheduled_arrival <= self.scheduled_departure:
            raise ValueError(f"{self.flight} arrives before it departs")
        return self


class Disruption(_In):
    kind: CaseKind
    cause: CaseCause
    announced_at: AwareDatetime = Field(description="When the passenger was told")
    actual_arrival: AwareDatetime | None = Field(
        default=None, description="Delay: arrival at the final destination (actual, or the latest estimate)")
    expected_departure: AwareDatetime | None = Field(
        default=None, description="Delay: when the disrupted flight left or is expected to; "
                                  "without it the departure is taken to be as late as the arrival")
    flight: str | None = Field(default=None, description="The disrupted (or downgraded) flight of the "
                                                         "itinerary; without it, the first")


class Alternative(_In):
    departure: AwareDatetime
    arrival: AwareDatetime
    accepted: bool
    origin: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    destination: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    connections: int | None = Field(default=None, ge=0, le=4)


class Case(_In):
    booking: str = Field(min_length=1, max_length=16)
    passenger: CasePassenger
    fare: Fare
    operating_carrier: str = Field(pattern=r"^[A-Z0-9]{2,3}$", description="IATA (or ICAO) designator")
    operating_carrier_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    carrier_size: Literal["large", "small"] | None = None
    itinerary: list[CaseLeg] = Field(min_length=1, max_length=8)
    disruption: Disruption
    alternative: Alternative | None = None
    passenger_choice: Literal["rebook", "refund"] | None = None
    answered_at: AwareDatetime | None = Field(
        default=None, description="When the passenger chose (a refund falls due from then); "
                                  "without it, from the announcement")

    @model_validator(mode="after")
    def _disrupted_flight_is_on_the_itinerary(self) -> "Case":
        flight = self.disruption.flight
        if flight is not None and flight not in {leg.flight for leg in self.itinerary}:
            raise ValueError(f"disruption.flight {flight!r} is not on the itinerary")
        return self

    @property
    def disrupted_leg(self) -> CaseLeg:
        """The flight named as disrupted, else the first to leave."""
        return next((leg for leg in self.itinerary if leg.flight == self.disruption.flight),
                    min(self.itinerary, key=lambda leg: leg.scheduled_departure))


# One case, or a list of them; an error names the case by its place in the list.
CaseOrCases = Annotated[Annotated[Case, Tag("case")] | Annotated[list[Case], Tag("cases")],
                        Discriminator(lambda v: "cases" if isinstance(v, list) else "case")]


class Entitlement(BaseModel):
    model_config = ConfigDict(frozen=True)

    regime: Regime
    kind: EntitlementKind
    amount: Decimal
    currency: str
    due_by: datetime | None = None
    rule: str = Field(description="The rule's id, `<regime>.<rule>`")
    rule_version: str
    source: str = Field(description="The legal source: article, section, judgment")
    reason: str = Field(description="Why, in one plain sentence")
    valid_hours: int | None = Field(default=None, description="Vouchers and credits: how long the code is good for")
    pay_to: str | None = Field(default=None, description="Money: where it goes")
    overlap: str | None = Field(default=None, description="Another regime's entitlement this one stands in for")

    @property
    def amount_minor(self) -> int:
        return to_minor(self.amount, self.currency)

    @field_serializer("amount")
    def _amount_as_number(self, amount: Decimal) -> int | float:
        return int(amount) if amount == amount.to_integral_value() else float(amount)


class SetAside(BaseModel):
    model_config = ConfigDict(frozen=True)

    entitlement: Entitlement
    why: str


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True)

    entitlements: list[Entitlement]
    set_aside: list[SetAside] = Field(default=[], description="Entitlements another regime's stand in for")
