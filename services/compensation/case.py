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
from shared.events import Money, at_most

Regime = Literal["EU261", "UK261", "US_DOT", "APPR", "AIRLINE"]
EntitlementKind = Literal["compensation", "refund", "meal", "hotel", "transport", "credit"]
Payment = Literal["credit_card", "debit_card", "cash", "other"]
# Causes as the regimes tell them apart: a strike by the carrier's own staff is within its control
# under EU261 (C-28/20) but outside it under APPR (s. 10(1)(j)); see the rule files.
CaseCause = Literal["weather", "air_traffic_control", "security", "airport", "crew", "technical",
                    "operational", "commercial", "own_staff_strike", "third_party_strike", "bird_strike",
                    "manufacturing_defect", "ground_collision", "other_airline_collision"]
CaseKind = Literal["cancellation", "delay", "downgrade", "denied_boarding", "diversion"]
Carrier = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$", description="IATA (or ICAO) airline designator")]

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


class _Priced(_In):
    amount: Money = Field(description="What was paid: fare, taxes and fees")
    taxes: Money | None = Field(default=None, description="Of the amount, taxes and charges: a downgrade "
                                                          "refunds a share of the fare without them (Mennens)")

    @model_validator(mode="after")
    def _taxes_within_amount(self) -> "_Priced":
        if self.taxes is not None and self.taxes > self.amount:
            raise ValueError("taxes exceed the amount paid")
        return self


class Fare(_Priced):
    """The passenger's ticket."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    payment: Payment
    offered: Literal["public", "programme", "not_public"] = Field(
        default="public", description="How the fare was to be had: by anyone, directly or through an agent "
                                      "(public); as a frequent-flyer or other commercial programme's ticket "
                                      "(programme); or a reduced fare the public could not buy, such as a staff or "
                                      "industry fare (not_public: outside EU261 and UK261, Art. 3(3))")


class Coupon(_Priced):
    """One flight's part of the ticket, where the reservation system prices flights apart."""


class CaseLeg(_In):
    flight: str = Field(min_length=3, max_length=8, examples=["B6 1234"])
    origin: str = Field(pattern=r"^[A-Z]{3}$")
    destination: str = Field(pattern=r"^[A-Z]{3}$")
    scheduled_departure: AwareDatetime
    scheduled_arrival: AwareDatetime
    operating_carrier: Carrier | None = Field(default=None, description="Who flies it; without it, the case's")
    marketing_carrier: Carrier | None = Field(default=None, description="Whose flight number it is sold under "
                                                                        "(a codeshare); the law looks at who flies")
    coupon: Coupon | None = None

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
    diverted_to: str | None = Field(default=None, pattern=r"^[A-Z]{3}$",
                                    description="Diversion: the airport the flight landed at instead")
    volunteered: bool = Field(default=False, description="Denied boarding: the passenger gave up the seat for "
                                                         "benefits agreed with the carrier")
    self_booked: bool = Field(
        default=False, description="Delay: the passenger booked their own replacement flight; actual_arrival is "
                                   "when that flight reached the final destination (Laudamotion and Ryanair, C-54/23)")
    denied_in_advance: bool = Field(
        default=False, description="Denied boarding: the passenger was told beforehand that they would not be "
                                   "carried, so they did not present themselves (LATAM, C-238/22)")
    told_by: Literal["carrier", "tour_operator"] = Field(
        default="carrier", description="Who told them: a package's tour operator telling them, wrongly and without "
                                       "the carrier's word, that the flight would not go counts too (Hembesler, "
                                       "C-650/23)")

    @field_validator("diverted_to")
    @classmethod
    def _known_diversion_airport(cls, code: str | None) -> str | None:
        if code is not None and not airports.known(code):
            raise ValueError(f"{code} is not an IATA airport code the engine knows")
        return code

    @model_validator(mode="after")
    def _diversion_says_where(self) -> "Disruption":
        if self.kind == "diversion" and self.diverted_to is None:
            raise ValueError("a diversion needs diverted_to, the airport the flight landed at")
        return self


class Alternative(_In):
    departure: AwareDatetime
    arrival: AwareDatetime
    accepted: bool
    actual_arrival: AwareDatetime | None = Field(
        default=None, description="Accepted re-routing: when it actually arrived, where it was itself late "
                                  "(Finnair, C-832/18)")
    cause: CaseCause | None = Field(default=None, description="Why the re-routing itself was late; without it, a "
                                                              "cause within the carrier's control")
    earlier_available: bool = Field(
        default=False, description="A re-routing arriving earlier was available, on this or another carrier, and "
                                   "was not offered (TAP, C-74/19; Airhelp v Austrian, C-264/20)")
    origin: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    destination: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    connections: int | None = Field(default=None, ge=0, le=4)


class Payout(_In):
    """The currency the passenger is paid fixed sums in, and the rate to it: a passenger may claim
    EU261 compensation in their own national currency (Delfly, C-356/19); the rate is
    national law's to set, so the airline gives the one it applies (e.g. the ECB reference rate on
    the day of payment)."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    rate: Decimal = Field(gt=0, le=10 ** 6, description="Units of `currency` per unit of the regime's currency")
    rate_from: str = Field(default="", max_length=3, pattern=r"^([A-Z]{3})?$",
                           description="The currency the rate converts from; without it, any regime's")


class Case(_In):
    booking: str = Field(min_length=1, max_length=16)
    passenger: CasePassenger
    fare: Fare
    operating_carrier: Carrier | None = Field(default=None, description="Operating carrier of every flight "
                                                                        "that does not name its own")
    operating_carrier_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    carrier_size: Literal["large", "small"] | None = None
    itinerary: list[CaseLeg] = Field(min_length=1, max_length=8)
    disruption: Disruption
    alternative: Alternative | None = None
    passenger_choice: Literal["rebook", "refund"] | None = None
    answered_at: AwareDatetime | None = Field(
        default=None, description="When the passenger chose (a refund falls due from then); "
                                  "without it, from the announcement")
    presented: bool = Field(default=True, description="The passenger presented themselves for check-in in "
                                                      "time (EU261 Art. 3(2)(a)); false for a no-show")
    payout: Payout | None = None

    @model_validator(mode="after")
    def _disrupted_flight_is_on_the_itinerary(self) -> "Case":
        flight = self.disruption.flight
        if flight is not None and flight not in {leg.flight for leg in self.itinerary}:
            raise ValueError(f"disruption.flight {flight!r} is not on the itinerary")
        return self

    @model_validator(mode="after")
    def _every_flight_has_an_operator(self) -> "Case":
        missing = [i for i, leg in enumerate(self.itinerary) if leg.operating_carrier is None]
        if self.operating_carrier is None and missing:
            raise ValueError(f"itinerary.{missing[0]}.operating_carrier is required when the case names no "
                             f"operating_carrier")
        return self

    def operator_of(self, leg: CaseLeg) -> str:
        return leg.operating_carrier or self.operating_carrier or ""

    @property
    def disrupted_leg(self) -> CaseLeg:
        """The flight named as disrupted, else the first to leave."""
        return next((leg for leg in self.itinerary if leg.flight == self.disruption.flight),
                    min(self.itinerary, key=lambda leg: leg.scheduled_departure))


# One case, or a list of them; an error names the case by its place in the list.
MAX_CASES = 500
CaseOrCases = Annotated[Annotated[Case, Tag("case")]
                        | Annotated[list[Case], Field(min_length=1, max_length=MAX_CASES), at_most(MAX_CASES),
                                    Tag("cases")],
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
    payout_amount: Decimal | None = Field(default=None, description="A fixed sum in the passenger's payout "
                                                                    "currency (Delfly), rounded half up")
    payout_currency: str | None = None


    @property
    def amount_minor(self) -> int:
        return to_minor(self.amount, self.currency)

    @field_serializer("amount", "payout_amount")
    def _as_number(self, amount: Decimal | None) -> int | float | None:
        if amount is None:
            return None
        return int(amount) if amount == amount.to_integral_value() else float(amount)


class SetAside(BaseModel):
    model_config = ConfigDict(frozen=True)

    entitlement: Entitlement
    why: str


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True)

    entitlements: list[Entitlement]
    set_aside: list[SetAside] = Field(default=[], description="Entitlements another regime's stand in for")
