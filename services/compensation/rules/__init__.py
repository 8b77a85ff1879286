"""The rule book: each regime's rules as data (the TOML files beside this module), versioned.

A regime's files are read in order of `effective_from`; each later file amends the one before
(key by key), and a case is judged by the version in force on its flight's date."""

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HERE = Path(__file__).parent


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(_Rules):
    source: str = Field(min_length=1)


class Distance(Cited):
    bands_km: list[int] = Field(min_length=2, max_length=2)
    intra_territory_over_km: int


class Amounts(Cited):
    amounts: list[int] = Field(min_length=3, max_length=3)


class Reduction(Cited):
    within_hours: list[float] = Field(min_length=3, max_length=3)
    percent: int


class Notice(Cited):
    no_compensation_days: int
    short_days: int
    rerouted_early_hours: list[float] = Field(min_length=2, max_length=2)
    rerouted_late_hours: list[float] = Field(min_length=2, max_length=2)


class DelayCompensation(Cited):
    arrival_delay_hours: float
    # Where set, the judgment owing a second compensation when the re-routing flight itself
    # arrives that late.
    rerouting: str | None = None
    # Where set, the judgment measuring the delay of a passenger who booked their own replacement
    # flight by when that flight arrived.
    self_booked: str | None = None


class Causes(Cited):
    causes: list[str]


class Extraordinary(Causes):
    # Where set, the judgments holding that extraordinary circumstances exempt a carrier only if it
    # took every reasonable measure, an earlier re-routing on another carrier included.
    reasonable_measures: str | None = None


class Grounds(Cited):
    reasonable_grounds: list[str]
    # Where set, the judgment holding that a passenger told in advance they would be denied
    # boarding need not present themselves to be owed compensation.
    told_in_advance: str | None = None
    # Where set, the judgment holding the same when a package's tour operator told them.
    told_by_tour_operator: str | None = None


class Meals(Cited):
    after_hours: list[float] = Field(min_length=3, max_length=3)
    amount: int
    hours_per_meal: float
    valid_hours: int


class PerNight(Cited):
    amount_per_night: int
    valid_days: int


class Refund(Cited):
    delay_hours: float
    due_days: int


class Downgrade(Cited):
    percent: list[int] = Field(min_length=3, max_length=3)
    due_days: int


class Diversion(Cited):
    # An airport this close to the booked one serves the same region (Art. 8(3)); farther, the
    # flight did not go where it was booked to: a cancellation.
    same_region_km: float
    transport_amount: int


class CareNotice(Cited):
    days: int


class EuStyleRules(_Rules):
    coverage: Cited
    care_notice: CareNotice
    distance: Distance
    compensation: Amounts
    delay_compensation: DelayCompensation
    reduction: Reduction
    cancellation_notice: Notice
    extraordinary: Extraordinary
    denied_boarding: Grounds
    meals: Meals
    hotel: PerNight
    transport: PerNight
    refund: Refund
    downgrade: Downgrade
    diversion: Diversion


class _Version(_Rules):
    regime: str
    version: str
    effective_from: date
    title: str


class Span(_Rules):
    """From when (and until when, inclusive) a territory is in a regime's scope, or its carriers
    are the regime's own."""

    since: date
    until: date | None = None

    def covers(self, on: date) -> bool:
        return self.since <= on and (self.until is None or on <= self.until)


class Arrivals(Cited):
    """Art. 3(1)(b): passengers arriving in `into` (regimes' territories) from outside this
    regime's territory are covered when the operating carrier is licensed where `carriers_of`
    (regimes) license carriers."""

    into: list[str] = Field(min_length=1)
    carriers_of: list[str] = Field(min_length=1)


class EuStyle(_Version):
    """EU261, and UK261 (the same Regulation retained in UK law)."""

    regime: Literal["EU261", "UK261"]
    currency: str
    territory: dict[str, Span]
    carrier_countries: dict[str, Span]
    overseas_departments: frozenset[str]
    arrivals: list[Arrivals] = Field(min_length=1)
    rules: EuStyleRules

    def territory_on(self, on: date) -> frozenset[str]:
        return frozenset(code for code, span in self.territory.items() if span.covers(on))

    def carriers_on(self, on: date) -> frozenset[str]:
        return frozenset(code for code, span in self.carrier_countries.items() if span.covers(on))


class SignificantChange(Cited):
    domestic_hours: float
    international_hours: float


class RefundDeadline(Cited):
    card_business_days: int
    other_calendar_days: int


class DeniedBoardingCompensation(Cited):
    # Arrival later than planned (hours) up to which nothing, then the lower rate, is owed:
    # [none up to, lower rate up to] for interstate and for foreign air transportation.
    domestic_hours: list[float] = Field(min_length=2, max_length=2)
    international_hours: list[float] = Field(min_length=2, max_length=2)
    percent: list[int] = Field(min_length=2, max_length=2)
    maximum: list[int] = Field(min_length=2, max_length=2)
    causes: list[str] = Field(description="Why the passenger was bumped, for the rule to apply (an oversale)")
    due_hours: int


class UsDotRules(_Rules):
    coverage: Cited
    significant_change: SignificantChange
    refund: Cited
    refund_deadline: RefundDeadline
    denied_boarding: DeniedBoardingCompensation


class UsDot(_Version):
    regime: Literal["US_DOT"]
    territory: frozenset[str]
    rules: UsDotRules


class Control(Cited):
    outside_control: list[str]


class Tiers(Cited):
    from_hours: list[float] = Field(min_length=3, max_length=3)
    large: list[int] = Field(min_length=3, max_length=3)
    small: list[int] = Field(min_length=3, max_length=3)
    due_days: int


class AppNotice(Cited):
    no_compensation_days: int


class RefundCompensation(Cited):
    large: int
    small: int
    due_days: int


class ApprDeniedBoarding(Cited):
    from_hours: list[float] = Field(min_length=3, max_length=3)
    amounts: list[int] = Field(min_length=3, max_length=3)
    due_hours: int


class ApprCare(Cited):
    # Food and drink once the passenger, told less than `informed_within_hours` before departure,
    # has waited `after_hours` past it; a hotel and transport when the wait runs overnight.
    informed_within_hours: float
    after_hours: float
    meal_amount: int
    hours_per_meal: float
    valid_hours: int
    hotel_per_night: int
    transport_per_night: int
    valid_days: int


class ApprRules(_Rules):
    coverage: Cited
    control: Control
    compensation: Tiers
    cancellation_notice: AppNotice
    refund_compensation: RefundCompensation
    refund: Refund
    denied_boarding: ApprDeniedBoarding
    care: ApprCare


class Appr(_Version):
    regime: Literal["APPR"]
    currency: str
    territory: frozenset[str]
    rules: ApprRules


class AirlineMeal(_Rules):
    after_hours: float
    amount: int
    valid_hours: int


class AirlineNight(_Rules):
    amount_per_night: int
    valid_days: int


class AirlineCredit(_Rules):
    from_hours: list[float] = Field(min_length=1)
    amounts: list[int] = Field(min_length=1)
    cancellation_within_hours: float
    cancellation_amount: int
    valid_days: int


class Commitments(_Rules):
    """One airline's customer service plan."""

    name: str
    currency: str
    controllable: list[str]
    source: str
    # A cancellation announced this many days ahead: the passenger has not set out, no care.
    care_notice_days: int
    meal: AirlineMeal
    hotel: AirlineNight
    transport: AirlineNight
    credit: AirlineCredit


class Airlines(_Version):
    regime: Literal["AIRLINE"]
    airlines: dict[str, Commitments]

    def plan_of(self, carrier: str) -> Commitments:
        return self.airlines.get(carrier, self.airlines["default"])


class Carrier(_Rules):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    size: Literal["large", "small"]


RegimeRules = EuStyle | UsDot | Appr | Airlines


class RuleBook:
    def __init__(self, versions: dict[str, list[RegimeRules]], carriers: dict[str, Carrier]) -> None:
        self.versions = versions
        self.carriers = carriers
        self._scopes: dict[tuple[str, date, bool], frozenset[str]] = {}

    def scope(self, regime: str, on: date, carriers: bool = False) -> frozenset[str]:
        """Where an EU-style regime applies on a date (with `carriers`: where it licenses its own
        carriers); empty when it is not in force. Worked out once per day: every case asks."""
        key = (regime, on, carriers)
        if key not in self._scopes:
            rules = self.in_force(regime, on)
            self._scopes[key] = frozenset() if not isinstance(rules, EuStyle) else \
                rules.carriers_on(on) if carriers else rules.territory_on(on)
        return self._scopes[key]

    def in_force(self, regime: str, on: date) -> RegimeRules | None:
        current = None
        for version in self.versions.get(regime, []):
            if version.effective_from <= on:
                current = version
        return current

    def carrier(self, code: str) -> Carrier | None:
        return self.carriers.get(code)


def _amend(base: dict[str, Any], amendment: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in amendment.items():
        merged[key] = _amend(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _with_default_airline(raw: dict[str, Any]) -> dict[str, Any]:
    """Each airline's plan is the default plan amended by the airline's own keys."""
    airlines = raw.get("airlines", {})
    default = airlines.get("default", {})
    return raw | {"airlines": {code: default if code == "default" else _amend(default, plan)
                               for code, plan in airlines.items()}}


def load(directory: Path = HERE) -> RuleBook:
    """Read every regime file (and the carrier table) in `directory`; a file that does not
    describe its regime completely fails here, at start-up, not in the middle of a case."""
    from services.compensation.regimes import BY_NAME  # the registry judges by these models: it imports them
    models = {name: regime.rules for name, regime in BY_NAME.items()}
    raw: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == "carriers.toml":
            continue
        with path.open("rb") as f:
            data = tomllib.load(f)
        if data.get("regime") not in models:
            raise ValueError(f"{path.name}: regime must be one of {sorted(models)}")
        raw.setdefault(data["regime"], []).append(data)
    versions: dict[str, list[RegimeRules]] = {}
    for regime, files in raw.items():
        files.sort(key=lambda d: d["effective_from"])
        merged: dict[str, Any] = {}
        for data in files:
            merged = _amend(merged, data)
            full = _with_default_airline(merged) if regime == "AIRLINE" else merged
            versions.setdefault(regime, []).append(models[regime].model_validate(full))
    with (directory / "carriers.toml").open("rb") as f:
        carriers = {code: Carrier.model_validate(c) for code, c in tomllib.load(f)["carriers"].items()}
    return RuleBook(versions, carriers)
