"""What every regime reads from a case, worked out once (`Facts`), and what each regime's judgment
builds (`Grants`), with the wording helpers their reasons share. Pure: no I/O."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.compensation import rules as rb
from services.compensation.case import Case, CaseLeg, Entitlement, minor_digits
from shared import airports, journeys

HOUR = timedelta(hours=1)
CARE = ("meal", "hotel", "transport")
# A flight brought forward by more than an hour is cancelled (Azurair, C-146/20, ruling point 2).
BROUGHT_FORWARD = timedelta(hours=1)
# Without an EU or UK rule in force to say how near a diversion must land to serve the same region.
SAME_REGION_KM = 100.0
CAUSE_WORDS = {"weather": "bad weather", "air_traffic_control": "air traffic control restrictions",
               "security": "a security risk", "airport": "a problem at the airport", "crew": "a crew problem",
               "technical": "a technical fault", "operational": "an operational problem",
               "commercial": "a commercial decision", "own_staff_strike": "a strike by the airline's own staff",
               "third_party_strike": "a strike outside the airline", "bird_strike": "a bird strike",
               "manufacturing_defect": "a manufacturing defect found by the aircraft's maker or the authorities",
               "ground_collision": "a collision with airport equipment",
               "other_airline_collision": "another airline's aircraft striking ours on the ground"}


@dataclass(frozen=True)
class Facts:
    """What every regime reads from a case, worked out once. The law judges the journey the
    disrupted flight belongs to: its first departure and final destination under the booking
    (`shared.journeys`: an outward and a return flight are two journeys)."""

    case: Case
    book: rb.RuleBook
    disrupted: CaseLeg
    kind: str  # the case's kind, or what the law makes of it: a flight brought forward, a diversion
    on: date
    origin: str
    destination: str
    departure: datetime
    arrival: datetime
    distance_km: float
    countries: frozenset[str]
    arrival_delay: timedelta | None
    new_departure: datetime | None
    rerouted: bool  # offered a way to the final destination: an alternative, or the flight moved earlier
    notice: timedelta
    refund_chosen: bool
    due_from: datetime
    operator: str
    carrier_country: str | None
    carrier_size: str
    diverted_nearby: bool
    refund_fare: Decimal  # what a refund pays: the journey's coupons, and the later ones if it is the first
    rest_of_journey_fare: Decimal  # the coupons from the disrupted flight to the journey's end
    flight_price: Decimal  # the disrupted flight's coupon, without taxes and charges (Mennens)

    @property
    def wait(self) -> timedelta | None:
        return self.new_departure - self.disrupted.scheduled_departure if self.new_departure else None

    @property
    def waiting(self) -> bool:
        """Waiting at the airport for a flight: not refunded, or refunded and flown back to where the
        journey began (EU261 Art. 8(1)(a)); and, for a delay or denied boarding, there at all
        (Art. 3(2)(a)): care is for passengers who wait."""
        alt = self.case.alternative
        if not self.case.presented and self.kind in ("delay", "denied_boarding"):
            return False
        return not self.refund_chosen or (alt is not None and alt.accepted)

    @property
    def nights(self) -> int:
        """Nights the passenger must stay: the new departure is on a later day than planned."""
        if self.new_departure is None:
            return 0
        zone = airports.zone_of(self.disrupted.origin)
        planned = self.disrupted.scheduled_departure.astimezone(zone).date()
        return max(0, (self.new_departure.astimezone(zone).date() - planned).days)

    @property
    def cause(self) -> str:
        return self.case.disruption.cause

    @property
    def volunteered(self) -> bool:
        return self.kind == "denied_boarding" and self.case.disruption.volunteered

    def told_ahead(self, days: int) -> bool:
        """A cancellation announced `days` or more ahead: the passenger has not set out."""
        return self.kind == "cancellation" and self.notice >= days * 24 * HOUR


def _coupons(case: Case, legs: list[CaseLeg]) -> list[tuple[Decimal, Decimal]]:
    """Each flight's part of the ticket and of its taxes: the reservation system's coupon values
    where every flight has one, else the fare prorated by distance (`shared.journeys.prorate`)."""
    if all(leg.coupon is not None for leg in legs):
        return [(leg.coupon.amount, leg.coupon.taxes or Decimal(0)) for leg in legs if leg.coupon]
    if len(legs) == 1:
        return [(case.fare.amount, case.fare.taxes or Decimal(0))]
    exponent = minor_digits(case.fare.currency)
    km = [airports.great_circle_km(leg.origin, leg.destination) for leg in legs]
    amounts = journeys.prorate(case.fare.amount, km, exponent)
    taxes = journeys.prorate(case.fare.taxes or Decimal(0), km, exponent)
    return list(zip(amounts, taxes, strict=True))


def _same_region_km(book: rb.RuleBook, on: date) -> float:
    for regime in ("EU261", "UK261"):
        rules = book.in_force(regime, on)
        if isinstance(rules, rb.EuStyle):
            return rules.rules.diversion.same_region_km
    return SAME_REGION_KM


def facts_of(case: Case, book: rb.RuleBook) -> Facts:
    legs = sorted(case.itinerary, key=lambda leg: leg.scheduled_departure)  # in flying order, however given
    disrupted = case.disrupted_leg
    at = next(i for i, leg in enumerate(legs) if leg is disrupted)
    spans = journeys.journey_spans([(leg.origin, leg.destination, leg.scheduled_departure, leg.scheduled_arrival)
                                    for leg in legs])
    span = next(span for span in spans if at in span)
    journey = legs[span.start:span.stop]
    first, last = journey[0], journey[-1]
    on = first.scheduled_departure.date()
    d, alt = case.disruption, case.alternative
    kind, diverted_nearby, brought_forward = _kind(case, book, on)
    reaches = alt is not None and kind != "downgrade" and (
        alt.destination is None or airports.same_city(alt.destination, last.destination))
    # (a flight back to where the journey began is no re-routing: the passenger never arrives)
    arrival_delay = _arrival_delay(case, kind, reaches, brought_forward, last)
    operator = case.operator_of(disrupted)
    carrier_country, carrier_size = _carrier(case, book, operator)
    refund_fare, rest_of_journey_fare, flight_price = _fares(_coupons(case, legs), span, at)
    return Facts(
        case=case, book=book, disrupted=disrupted, kind=kind, on=on,
        origin=first.origin, destination=last.destination,
        departure=first.scheduled_departure, arrival=last.scheduled_arrival,
        distance_km=airports.great_circle_km(first.origin, last.destination),
        countries=frozenset(airports.country_of(a) for leg in journey for a in (leg.origin, leg.destination)),
        arrival_delay=arrival_delay, new_departure=_new_departure(case, kind, brought_forward, arrival_delay),
        rerouted=reaches or brought_forward, notice=disrupted.scheduled_departure - d.announced_at,
        refund_chosen=_refund_chosen(case, kind, brought_forward),
        due_from=case.answered_at or d.announced_at, operator=operator,
        carrier_country=carrier_country, carrier_size=carrier_size, diverted_nearby=diverted_nearby,
        refund_fare=refund_fare, rest_of_journey_fare=rest_of_journey_fare, flight_price=flight_price)


def _carrier(case: Case, book: rb.RuleBook, operator: str) -> tuple[str | None, str]:
    """The operating carrier's country and size: as the case states them, else as the rule book knows."""
    carrier = book.carrier(operator)
    # The country the case states is its own carrier's, not a codeshare partner's that flies this leg.
    stated_country = case.operating_carrier_country if operator == (case.operating_carrier or operator) else None
    return (stated_country or (carrier.country if carrier else None),
            case.carrier_size or (carrier.size if carrier else "large"))


def _fares(coupons: list[tuple[Decimal, Decimal]], span: range, at: int) -> tuple[Decimal, Decimal, Decimal]:
    """What a refund covers (the journey, and the later ones when it is the first), the fare from
    the disrupted flight to the journey's end, and the disrupted flight's own price before taxes."""
    journey_fare = sum((amount for amount, _ in coupons[span.start:span.stop]), Decimal(0))
    later_fare = sum((amount for amount, _ in coupons[span.stop:]), Decimal(0)) if span.start == 0 else Decimal(0)
    price, taxes = coupons[at]
    return journey_fare + later_fare, sum((amount for amount, _ in coupons[at:span.stop]), Decimal(0)), price - taxes


def _kind(case: Case, book: rb.RuleBook, on: date) -> tuple[str, bool, bool]:
    """What the disruption counts as in law, whether a diversion landed near enough to count as a
    delay, and whether the flight was brought forward (which counts as a cancellation)."""
    d, disrupted = case.disruption, case.disrupted_leg
    kind, diverted_nearby = d.kind, False
    if d.kind == "diversion" and d.diverted_to:
        diverted_nearby = airports.same_city(d.diverted_to, disrupted.destination) or \
            airports.great_circle_km(d.diverted_to, disrupted.destination) <= _same_region_km(book, on)
        kind = "delay" if diverted_nearby else "cancellation"
    brought_forward = d.kind == "delay" and d.expected_departure is not None \
        and d.expected_departure < disrupted.scheduled_departure - BROUGHT_FORWARD
    return ("cancellation" if brought_forward else kind), diverted_nearby, brought_forward


def _arrival_delay(case: Case, kind: str, reaches: bool, brought_forward: bool, last: CaseLeg) -> timedelta | None:
    """How late the passenger reaches the journey's end, where that is known."""
    d, alt = case.disruption, case.alternative
    if kind == "delay" and d.actual_arrival:
        return d.actual_arrival - last.scheduled_arrival
    if reaches and alt is not None:
        return alt.arrival - last.scheduled_arrival
    if brought_forward and d.expected_departure is not None:
        return (d.actual_arrival - last.scheduled_arrival if d.actual_arrival
                else d.expected_departure - case.disrupted_leg.scheduled_departure)
    return None


def _new_departure(case: Case, kind: str, brought_forward: bool, arrival_delay: timedelta | None) -> datetime | None:
    """When the passenger's flight, or the one they were offered, now leaves."""
    d, alt = case.disruption, case.alternative
    if d.kind == "diversion":
        return alt.departure if alt is not None and kind == "cancellation" else None
    if kind == "delay":
        late = arrival_delay is not None and arrival_delay > timedelta(0)
        return d.expected_departure or (alt.departure if alt else None) or (
            case.disrupted_leg.scheduled_departure + arrival_delay if late and arrival_delay else None)
    if alt is not None and kind != "downgrade":
        return alt.departure
    return d.expected_departure if brought_forward else None


def _refund_chosen(case: Case, kind: str, brought_forward: bool) -> bool:
    """Whether the passenger takes the refund rather than the journey."""
    alt = case.alternative
    if case.passenger_choice is not None:
        return case.passenger_choice == "refund"
    if case.disruption.kind == "diversion":
        return False  # they flew, if not all the way: a refund is theirs to ask for
    if kind in ("cancellation", "denied_boarding"):
        taken = (alt is not None and alt.accepted) or (brought_forward and alt is None)
        return not taken  # no alternative, or it was turned down
    return alt is not None and not alt.accepted


def hours(t: timedelta) -> str:
    minutes = round(t.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.{minor_digits(currency)}f}"


def share(amount: Decimal, percent: int, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-minor_digits(currency))
    return (amount * percent / 100).quantize(exponent, rounding=ROUND_HALF_UP)


@dataclass
class Grants:
    """One regime's entitlements for a case, built with its version and coverage basis."""

    regime: str
    version: str
    basis: str  # "departure", "arrival" or "route": why the regime covers the case
    items: list[Entitlement]

    def add(self, kind: str, rule: str, amount: Decimal | int, currency: str, source: str, reason: str,
            **extra: object) -> None:
        self.items.append(Entitlement(regime=self.regime, kind=kind, amount=Decimal(amount), currency=currency,
                                      rule=f"{self.regime.lower()}.{rule}", rule_version=self.version,
                                      source=source, reason=reason, **extra))
