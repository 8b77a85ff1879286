"""The policy engine: what a disrupted passenger is owed under each regime in force, and which one
applies where regimes overlap. Pure: no I/O (the rule book is data handed in).

Every entitlement says its rule, the rule's version, its legal source and, in one sentence, why."""

import functools
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import holidays

from services.compensation import rules as rb
from services.compensation.case import Case, CaseLeg, Entitlement, Evaluation, SetAside, minor_digits
from shared import airports, journeys

HOUR = timedelta(hours=1)
LAW = ("EU261", "UK261", "APPR", "US_DOT")
# Regimes that compensate and care for passengers in their territory: an EU261 or UK261 arrival
# is covered only when the passenger gets no such benefits where they departed (Art. 3(1)(b)).
COMPENSATING = ("EU261", "UK261", "APPR")
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


def _hours(t: timedelta) -> str:
    minutes = round(t.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.{minor_digits(currency)}f}"


def _share(amount: Decimal, percent: int, currency: str) -> Decimal:
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


# --- EU261 and UK261 ---------------------------------------------------------------------------


def _eu_basis(f: Facts, r: rb.EuStyle) -> str | None:
    """Why the regime covers the journey: it departs the territory (Art. 3(1)(a)), or arrives
    there from outside on a carrier Art. 3(1)(b) names — not for a passenger travelling free of
    charge or at a reduced fare the public could not buy, though for one whose ticket a
    frequent-flyer or other commercial programme issued (Art. 3(3))."""
    fare = f.case.fare
    if fare.offered == "not_public" or (fare.amount == 0 and fare.offered != "programme"):
        return None
    if airports.country_of(f.origin) in f.book.scope(r.regime, f.on):
        return "departure"
    arrives = airports.country_of(f.destination)
    for rule in r.arrivals:
        if any(arrives in f.book.scope(regime, f.on) for regime in rule.into) \
                and any(f.carrier_country in f.book.scope(regime, f.on, carriers=True) for regime in rule.carriers_of):
            return "arrival"
    return None


def _eu_band(r: rb.EuStyle, distance: float, countries: frozenset[str], territory: frozenset[str]) -> int:
    d = r.rules.distance
    if distance <= d.bands_km[0]:
        return 0
    if countries <= territory and distance > d.intra_territory_over_km:
        return 1
    return 1 if distance <= d.bands_km[1] else 2


def _eu_style(f: Facts, r: rb.EuStyle) -> Grants | None:
    basis = _eu_basis(f, r)
    if basis is None:
        return None
    g = Grants(r.regime, r.version, basis, [])
    rules, law = r.rules, "UK law" if r.regime == "UK261" else "EU law"
    band = _eu_band(r, f.distance_km, f.countries, f.book.scope(r.regime, f.on))
    km = f"{f.distance_km:,.0f} km"
    _eu_compensation(f, r, g, band, km, law)
    _eu_rerouting_compensation(f, r, g, band, km, law)  # owed or not for the flight lost
    # A delay gives the choice of a refund from 5 h at departure (Art. 6(1)(iii)).
    if f.refund_chosen and (f.kind != "delay" or (f.wait or f.arrival_delay or timedelta(0))
                            >= rules.refund.delay_hours * HOUR):
        g.add("refund", "refund", f.refund_fare, f.case.fare.currency, rules.refund.source,
              f"You are not taking the flight, so {law} refunds the ticket for the journey within "
              f"{rules.refund.due_days} days.",
              due_by=f.due_from + timedelta(days=rules.refund.due_days), pay_to="original form of payment")
    if f.kind == "downgrade":
        _eu_downgrade(f, r, g, law)
    if f.diverted_nearby:
        d = rules.diversion
        g.add("transport", "diversion_transfer", d.transport_amount, r.currency, d.source,
              f"Your flight landed at {f.case.disruption.diverted_to} instead of {f.disrupted.destination}, so "
              f"{law} pays your transfer to {f.disrupted.destination}.", valid_hours=rules.transport.valid_days * 24)
    if f.waiting and not f.volunteered and not f.told_ahead(rules.care_notice.days):
        _eu_care(f, r, g, band, law)  # care is for passengers who have set out and wait
    return g


def _eu_compensation(f: Facts, r: rb.EuStyle, g: Grants, band: int, km: str, law: str) -> None:
    rules = r.rules
    owed = _eu_why_owed(f, rules)
    if owed is None:
        return
    sources, what = owed
    amount = Decimal(rules.compensation.amounts[band])
    tail = ""
    if _eu_reduced(f, rules, band):
        amount = _share(amount, 100 - rules.reduction.percent, r.currency)
        sources.append(rules.reduction.source)
        tail = f" (halved, as you arrive within {rules.reduction.within_hours[band]:g} h of the plan)"
    g.add("compensation", "compensation", amount, r.currency, "; ".join([rules.compensation.source, *sources]),
          f"{what}, and the journey is {km}, so {law} owes you {_money(amount, r.currency)}{tail}.",
          pay_to="original form of payment")


def _eu_rerouting_compensation(f: Facts, r: rb.EuStyle, g: Grants, band: int, km: str, law: str) -> None:
    """Finnair, C-832/18: a passenger whose accepted re-routing itself reaches the destination three
    hours or more after its own schedule is owed compensation for it, beside any for the flight they
    lost, unless that delay had an extraordinary cause."""
    rules, alt = r.rules, f.case.alternative
    if rules.delay_compensation.rerouting is None or alt is None or not alt.accepted or alt.actual_arrival is None:
        return
    late = alt.actual_arrival - alt.arrival
    if late < rules.delay_compensation.arrival_delay_hours * HOUR or (alt.cause or "technical") in \
            rules.extraordinary.causes:
        return
    amount, tail = Decimal(rules.compensation.amounts[band]), ""
    if late < rules.reduction.within_hours[band] * HOUR:  # as for any delay (Sturgeon): long-haul 3-4 h halved
        amount, tail = _share(amount, 100 - rules.reduction.percent, r.currency), " (halved)"
    g.add("compensation", "rerouting_compensation", amount, r.currency,
          "; ".join([rules.compensation.source, rules.delay_compensation.rerouting]),
          f"The flight you were moved to reached {f.destination} {_hours(late)} late too, and the journey is {km}, "
          f"so {law} owes you {_money(amount, r.currency)} again{tail}.", pay_to="original form of payment")


def _eu_why_owed(f: Facts, rules: rb.EuStyleRules) -> tuple[list[str], str] | None:
    """Why Art. 7 compensation is owed (its sources, and the sentence for the passenger), if it is."""
    cause = CAUSE_WORDS[f.cause]
    if f.kind == "downgrade":
        return None
    if f.kind == "denied_boarding":
        # A volunteer gets what they agreed, not Art. 7 (Art. 4(1)); only a passenger who
        # presented themselves can be denied boarding (Art. 3(2)(a)), or one the carrier told
        # beforehand it would not carry, for whom presenting would be a pointless formality.
        told = rules.denied_boarding.told_in_advance if f.case.disruption.denied_in_advance else None
        if f.volunteered or not (f.case.presented or told) or f.cause in rules.denied_boarding.reasonable_grounds:
            return None
        if told:
            by_operator = rules.denied_boarding.told_by_tour_operator \
                if f.case.disruption.told_by == "tour_operator" else None
            if f.case.disruption.told_by == "tour_operator" and not by_operator:
                return None
            return ([rules.denied_boarding.source, told, *([by_operator] if by_operator else [])],
                    "You were told in advance you would not be carried")
        return [rules.denied_boarding.source], "You were denied boarding against your will"
    if f.cause in rules.extraordinary.causes:
        alt = f.case.alternative
        if not (alt is not None and alt.earlier_available and rules.extraordinary.reasonable_measures):
            return None  # extraordinary circumstances: care is still owed, compensation is not
        # Not every reasonable measure was taken: an earlier re-routing, another carrier's included,
        # was there and not offered, so the circumstances do not exempt the carrier.
        owed = _eu_delayed_or_cancelled(f, rules, cause)
        return (owed[0] + [rules.extraordinary.reasonable_measures], owed[1]) if owed else None
    return _eu_delayed_or_cancelled(f, rules, cause)


def _eu_delayed_or_cancelled(f: Facts, rules: rb.EuStyleRules, cause: str) -> tuple[list[str], str] | None:
    """A delay's compensation, from three hours late at the final destination — however the
    passenger got there: on a flight they booked themselves, by when that one arrived (Laudamotion
    and Ryanair, C-54/23) — or a cancellation's."""
    if f.kind != "delay":
        return _eu_cancelled(f, rules, cause)
    if f.arrival_delay is None or f.arrival_delay < rules.delay_compensation.arrival_delay_hours * HOUR:
        return None
    own_way = rules.delay_compensation.self_booked if f.case.disruption.self_booked else None
    if (not f.case.presented and not own_way) or f.refund_chosen:
        return None  # no loss of time for a passenger who never set out (Laudamotion, C-474/22, operative part)
    return ([rules.delay_compensation.source, *([own_way] if own_way else [])],
            f"You reached {f.destination} {_hours(f.arrival_delay)} late because of {cause}")


def _eu_cancelled(f: Facts, rules: rb.EuStyleRules, cause: str) -> tuple[list[str], str] | None:
    """A cancellation (or what counts as one) owes compensation unless told early enough, or
    re-routed close enough to the plan for the notice given (Art. 5(1)(c))."""
    n = rules.cancellation_notice
    if f.notice >= n.no_compensation_days * 24 * HOUR:
        return None
    short = 0 if f.notice >= n.short_days * 24 * HOUR else 1
    if f.rerouted and f.new_departure is not None and f.arrival_delay is not None \
            and f.new_departure >= f.disrupted.scheduled_departure - n.rerouted_early_hours[short] * HOUR \
            and f.arrival_delay < n.rerouted_late_hours[short] * HOUR:
        return None  # re-routed close enough to the plan for the notice given
    sources = [n.source]
    days = f.notice.days
    what = (f"Your flight was cancelled {days} day{'s' if days != 1 else ''} before departure "
            if days >= 1 else "Your flight was cancelled on the day ") + f"because of {cause}"
    if f.case.disruption.kind == "delay":
        what = f"Your flight was brought forward by more than an hour because of {cause}"
        sources.append("a flight brought forward by more than an hour is cancelled (Azurair, C-146/20)")
    elif f.case.disruption.kind == "diversion":
        what = f"Your flight landed at {f.case.disruption.diverted_to}, far from where it was booked to, " \
               f"because of {cause}"
        sources.append(rules.diversion.source)
    return sources, what


def _eu_reduced(f: Facts, rules: rb.EuStyleRules, band: int) -> bool:
    """Halved for a passenger re-routed to arrive no later than the band's limit (Art. 7(2)), or
    delayed by less than it (Sturgeon: long-haul delays of three to four hours) — not for one who
    arrives earlier than planned: the reduction is for a delay (Azurair, C-146/20)."""
    within = rules.reduction.within_hours[band] * HOUR
    if f.arrival_delay is None or f.arrival_delay < timedelta(0):
        return False
    if f.kind == "delay":
        return f.arrival_delay < within
    return f.rerouted and f.arrival_delay <= within


def _eu_downgrade(f: Facts, r: rb.EuStyle, g: Grants, law: str) -> None:
    rules, leg, fare = r.rules, f.disrupted, f.case.fare
    distance = airports.great_circle_km(leg.origin, leg.destination)
    countries = frozenset({airports.country_of(leg.origin), airports.country_of(leg.destination)})
    territory = f.book.scope(r.regime, f.on)
    band = _eu_band(r, distance, countries, territory)
    if band == 1 and countries <= territory and countries & r.overseas_departments \
            and countries - r.overseas_departments:
        band = 2  # between the mainland and an overseas department: the long-haul rate (Art. 10(2)(c))
    # The price of the flight concerned, without taxes and charges (Mennens, C-255/15).
    percent = rules.downgrade.percent[band]
    amount = _share(f.flight_price, percent, fare.currency)
    g.add("refund", "downgrade", amount, fare.currency, rules.downgrade.source,
          f"You flew {leg.flight} in a lower class than you paid for, over {distance:,.0f} km, so {law} "
          f"refunds {percent} % of its price.",
          due_by=f.due_from + timedelta(days=rules.downgrade.due_days), pay_to="original form of payment")


def _eu_care(f: Facts, r: rb.EuStyle, g: Grants, band: int, law: str) -> None:
    rules, wait = r.rules, f.wait
    if wait is None or wait <= timedelta(0) or f.kind == "downgrade":
        return
    meals = rules.meals
    # A delay's care starts at the band's threshold (Art. 6(1)); a cancellation's and a denied
    # boarding's at once (Art. 5(1)(b) and 4(3) refer to Art. 9 without one).
    threshold = meals.after_hours[band] * HOUR if f.kind == "delay" else timedelta(0)
    if wait >= threshold:
        count = max(1, math.ceil(wait / (meals.hours_per_meal * HOUR)))
        g.add("meal", "meals", meals.amount * count, r.currency, meals.source,
              f"You wait {_hours(wait)} for your flight, so {law} gives you " + (
                  f"a meal voucher worth {_money(Decimal(meals.amount), r.currency)}." if count == 1 else
                  f"{count} meal vouchers worth {_money(Decimal(meals.amount), r.currency)} each."),
              valid_hours=meals.valid_hours)
    if f.nights:
        nights = f"{f.nights} night{'s' if f.nights > 1 else ''}"
        g.add("hotel", "hotel", rules.hotel.amount_per_night * f.nights, r.currency, rules.hotel.source,
              f"Your new flight leaves on a later day, so {law} gives you a hotel for {nights}.",
              valid_hours=rules.hotel.valid_days * 24)
        g.add("transport", "transport", rules.transport.amount_per_night * f.nights, r.currency,
              rules.transport.source, f"{law} also covers your transport between the airport and the hotel.",
              valid_hours=rules.transport.valid_days * 24)


# --- US DOT ------------------------------------------------------------------------------------


@functools.cache
def _us_federal_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("US", years=[year, year + 1]))


def _business_days_after(start: datetime, days: int) -> datetime:
    """`days` US business days after `start` (weekends and federal holidays not counted)."""
    off = _us_federal_holidays(start.year)
    day, left = start, days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5 and day.date() not in off:
            left -= 1
    return day


def _us_dot(f: Facts, r: rb.UsDot) -> Grants | None:
    if not f.countries & r.territory:
        return None
    rules, case = r.rules, f.case
    domestic = f.countries <= r.territory
    threshold = (rules.significant_change.domestic_hours if domestic
                 else rules.significant_change.international_hours) * HOUR
    if f.kind == "denied_boarding":
        g = Grants(r.regime, r.version, "departure", [])
        _us_denied_boarding(f, r, g, domestic)
        return g
    alt = case.alternative
    changes = _significant_changes(f, threshold)
    if f.kind == "cancellation":
        why = ("no alternative was offered" if alt is None
               else "we fly you back to where you started" if alt.accepted else "you did not take the alternative")
        what = "Your flight was cancelled and " + why
    elif changes and f.kind in ("delay", "downgrade"):
        what = f"Your trip changed significantly ({changes[0]}) and you chose not to fly"
    else:
        return Grants(r.regime, r.version, "route", [])
    if not f.refund_chosen:
        return Grants(r.regime, r.version, "route", [])
    fare = case.fare
    amount = f.refund_fare
    due, when = _us_refund_due(f, rules)
    g = Grants(r.regime, r.version, "route", [])
    g.add("refund", "refund", amount, fare.currency, f"{rules.refund.source}; {rules.refund_deadline.source}",
          f"{what}, so US rules refund the ticket, taxes and fees to your {fare.payment.replace('_', ' ')} "
          f"within {when}.", due_by=due, pay_to=f"original form of payment ({fare.payment.replace('_', ' ')})")
    return g


def _us_refund_due(f: Facts, rules: rb.UsDotRules) -> tuple[datetime, str]:
    """When a refund is due (14 CFR 260.6(a)): within business days to a card, calendar days otherwise."""
    deadline = rules.refund_deadline
    if f.case.fare.payment == "credit_card":
        due = _business_days_after(f.due_from, deadline.card_business_days)
        return due, f"{deadline.card_business_days} business days"
    return f.due_from + timedelta(days=deadline.other_calendar_days), f"{deadline.other_calendar_days} days"


def _significant_changes(f: Facts, threshold: timedelta) -> list[str]:
    """What makes a change to the trip significant (14 CFR 260.2), in the passenger's words."""
    alt, changes = f.case.alternative, []
    if f.arrival_delay is not None and f.arrival_delay >= threshold:
        changes.append(f"you would arrive {_hours(f.arrival_delay)} late")
    if alt is not None and alt.departure <= f.disrupted.scheduled_departure - threshold:
        changes.append(f"the new flight leaves {_hours(f.disrupted.scheduled_departure - alt.departure)} early")
    if alt is not None and ((alt.origin and alt.origin != f.origin)
                            or (alt.destination and alt.destination != f.destination)):
        changes.append("the new flight uses a different airport")
    if alt is not None and alt.connections is not None and alt.connections > len(f.case.itinerary) - 1:
        changes.append("the new trip has more connections")
    if f.kind == "downgrade":
        changes.append("you were moved to a lower class")
    return changes


def _us_denied_boarding(f: Facts, r: rb.UsDot, g: Grants, domestic: bool) -> None:
    """14 CFR 250.5: a passenger bumped from an oversold flight at a US airport, against their
    will, is paid a multiple of the one-way fare, by how late the alternative gets them there."""
    rules, case = r.rules.denied_boarding, f.case
    if f.volunteered or not case.presented or f.cause not in rules.causes \
            or airports.country_of(f.disrupted.origin) not in r.territory:
        return  # volunteers agree their own price (250.2b); a no-show is not bumped (250.6(a))
    hours = rules.domestic_hours if domestic else rules.international_hours
    late = f.arrival_delay
    if late is not None and late <= hours[0] * HOUR:
        return  # 250.6(d): the alternative arrives within an hour of the plan
    tier = 0 if late is not None and late < hours[1] * HOUR else 1
    fare = case.fare
    amount = _share(f.rest_of_journey_fare, rules.percent[tier], fare.currency)
    capped = ""
    if fare.currency == "USD" and amount > rules.maximum[tier]:
        amount, capped = Decimal(rules.maximum[tier]), f", at most {_money(Decimal(rules.maximum[tier]), 'USD')}"
    when = "no alternative" if late is None else f"an alternative arriving {_hours(late)} late"
    g.add("compensation", "denied_boarding", amount, fare.currency, rules.source,
          f"You were bumped from an oversold flight against your will, with {when}, so US rules owe you "
          f"{rules.percent[tier]} % of your one-way fare{capped}, in cash on the day.",
          due_by=f.disrupted.scheduled_departure + timedelta(hours=rules.due_hours), pay_to="cash or check")


# --- APPR --------------------------------------------------------------------------------------


def _appr(f: Facts, r: rb.Appr) -> Grants | None:
    if not f.countries & r.territory:
        return None
    rules = r.rules
    basis = "departure" if airports.country_of(f.origin) in r.territory else "route"
    g = Grants(r.regime, r.version, basis, [])
    if f.kind not in ("delay", "cancellation", "denied_boarding"):
        return g  # downgrades have their own APPR section (s. 21), not modelled
    in_control = f.cause not in rules.control.outside_control
    fare = f.case.fare
    if f.refund_chosen and (f.kind != "delay" or (f.arrival_delay or timedelta(0))
                            >= rules.refund.delay_hours * HOUR):
        g.add("refund", "refund", f.refund_fare, fare.currency, rules.refund.source,
              "You are not taking the flight, so Canadian rules refund the unused ticket.",
              due_by=f.due_from + timedelta(days=rules.refund.due_days), pay_to="original form of payment")
    if not in_control:
        return g  # s. 10: neither compensation nor care outside the carrier's control
    if f.waiting and not f.volunteered:
        _appr_care(f, r, g)
    if f.kind == "denied_boarding":
        _appr_denied_boarding(f, r, g)
        return g
    if f.kind == "cancellation" and f.notice > rules.cancellation_notice.no_compensation_days * 24 * HOUR:
        return g
    _appr_compensation(f, r, g)
    return g


def _appr_compensation(f: Facts, r: rb.Appr, g: Grants) -> None:
    """ss. 19 and 12(2)(b): by how late the passenger arrives, or a fixed sum with a refund."""
    rules, size, cause = r.rules, f.carrier_size, CAUSE_WORDS[f.cause]
    if f.refund_chosen:
        rc = rules.refund_compensation
        amount = Decimal(rc.large if size == "large" else rc.small)
        g.add("compensation", "refund_compensation", amount, r.currency, rc.source,
              f"The {'cancellation' if f.kind == 'cancellation' else 'delay'} was caused by {cause}, within "
              f"the airline's control, and your ticket is refunded, so Canadian rules add "
              f"{_money(amount, r.currency)}.", due_by=f.due_from + timedelta(days=rc.due_days),
              pay_to="original form of payment")
        return
    tiers = rules.compensation
    if f.arrival_delay is None or f.arrival_delay < tiers.from_hours[0] * HOUR:
        return
    tier = max(i for i, h in enumerate(tiers.from_hours) if f.arrival_delay >= h * HOUR)
    amount = Decimal((tiers.large if size == "large" else tiers.small)[tier])
    g.add("compensation", "compensation", amount, r.currency, tiers.source,
          f"You reach {f.destination} {_hours(f.arrival_delay)} late because of {cause}, within the "
          f"{size} airline's control, so Canadian rules owe you {_money(amount, r.currency)}.",
          due_by=f.due_from + timedelta(days=tiers.due_days), pay_to="original form of payment")


def _appr_denied_boarding(f: Facts, r: rb.Appr, g: Grants) -> None:
    rules = r.rules.denied_boarding
    if f.volunteered or not f.case.presented:
        return
    late = f.arrival_delay
    tier = len(rules.from_hours) - 1 if late is None else \
        max(i for i, h in enumerate(rules.from_hours) if late >= h * HOUR or i == 0)
    amount = Decimal(rules.amounts[tier])
    when = "with no alternative" if late is None else f"and reach {f.destination} {_hours(late)} late"
    g.add("compensation", "denied_boarding", amount, r.currency, rules.source,
          f"You were denied boarding against your will, for a reason within the airline's control, {when}, "
          f"so Canadian rules owe you {_money(amount, r.currency)} within {rules.due_hours} hours.",
          due_by=f.disrupted.scheduled_departure + timedelta(hours=rules.due_hours), pay_to="original form of payment")


def _appr_care(f: Facts, r: rb.Appr, g: Grants) -> None:
    care, wait = r.rules.care, f.wait
    if wait is None or wait < care.after_hours * HOUR or f.notice >= care.informed_within_hours * HOUR:
        return
    count = max(1, math.ceil(wait / (care.hours_per_meal * HOUR)))
    g.add("meal", "food_and_drink", care.meal_amount * count, r.currency, care.source,
          f"You wait {_hours(wait)} for your flight, so Canadian rules give you "
          + (f"a food and drink voucher worth {_money(Decimal(care.meal_amount), r.currency)}." if count == 1 else
             f"{count} food and drink vouchers worth {_money(Decimal(care.meal_amount), r.currency)} each."),
          valid_hours=care.valid_hours)
    if f.nights:
        nights = f"{f.nights} night{'s' if f.nights > 1 else ''}"
        g.add("hotel", "hotel", care.hotel_per_night * f.nights, r.currency, care.source,
              f"You wait overnight for your flight, so Canadian rules give you a hotel for {nights}.",
              valid_hours=care.valid_days * 24)
        g.add("transport", "transport", care.transport_per_night * f.nights, r.currency, care.source,
              "Canadian rules also cover your transport between the airport and the hotel.",
              valid_hours=care.valid_days * 24)


# --- the airline's own commitments -------------------------------------------------------------


def _airline(f: Facts, r: rb.Airlines) -> Grants:
    plan = r.plan_of(f.operator)
    g = Grants(r.regime, r.version, "route", [])
    if f.cause not in plan.controllable:
        return g
    cause, wait = CAUSE_WORDS[f.cause], f.wait
    if f.waiting and wait is not None and f.kind != "downgrade" and not f.volunteered \
            and not f.told_ahead(plan.care_notice_days):
        if wait >= plan.meal.after_hours * HOUR:
            g.add("meal", "meal", plan.meal.amount, plan.currency, plan.source,
                  f"You wait {_hours(wait)} because of {cause}, so we give you a meal voucher.",
                  valid_hours=plan.meal.valid_hours)
        if f.nights:
            g.add("hotel", "hotel", plan.hotel.amount_per_night * f.nights, plan.currency, plan.source,
                  f"Your new flight leaves on a later day because of {cause}, so we give you a hotel.",
                  valid_hours=plan.hotel.valid_days * 24)
            g.add("transport", "transport", plan.transport.amount_per_night * f.nights, plan.currency,
                  plan.source, "We also pay your transport between the airport and the hotel.",
                  valid_hours=plan.transport.valid_days * 24)
    credit = plan.credit
    if f.kind == "cancellation" and f.notice < credit.cancellation_within_hours * HOUR:
        g.add("credit", "cancellation_credit", credit.cancellation_amount, plan.currency, plan.source,
              f"We cancelled your flight less than {credit.cancellation_within_hours:g} hours before departure "
              f"because of {cause}, so we add a travel credit, on top of anything the law gives.",
              valid_hours=credit.valid_days * 24)
    elif f.kind == "delay" and f.waiting and f.arrival_delay is not None \
            and f.arrival_delay >= credit.from_hours[0] * HOUR:  # for the delay suffered: the passenger flew
        tier = max(i for i, h in enumerate(credit.from_hours) if f.arrival_delay >= h * HOUR)
        g.add("credit", "delay_credit", credit.amounts[tier], plan.currency, plan.source,
              f"You arrive {_hours(f.arrival_delay)} late because of {cause}, so we add a travel credit, on "
              f"top of anything the law gives.", valid_hours=credit.valid_days * 24)
    return g


# --- overlaps ----------------------------------------------------------------------------------


def _judge(f: Facts, rules: rb.RegimeRules) -> Grants | None:
    """What one regime's rules grant, if the regime applies."""
    match rules:
        case rb.EuStyle():
            return _eu_style(f, rules)
        case rb.Appr():
            return _appr(f, rules)
        case rb.UsDot():
            return _us_dot(f, rules)
        case rb.Airlines():
            return _airline(f, rules)


def evaluate(case: Case, book: rb.RuleBook) -> Evaluation:
    """Everything the passenger is owed under the rules in force on their flight's date."""
    f = facts_of(case, book)
    found: dict[str, Grants] = {}
    for regime in ("EU261", "UK261", "APPR", "US_DOT", "AIRLINE"):
        rules = book.in_force(regime, f.on)
        grants = _judge(f, rules) if rules is not None else None
        if grants is not None:
            found[regime] = grants
    set_aside = _arrival_regimes_set_aside(found, f)
    kept, overlapping = _one_of_each_kind(found)
    set_aside += overlapping
    order = {k: i for i, k in enumerate(("refund", "compensation", "meal", "hotel", "transport", "credit"))}
    kept.sort(key=lambda e: (order[e.kind], e.regime))
    return Evaluation(entitlements=[_in_payout_currency(e, case) for e in kept], set_aside=set_aside)


def _arrival_regimes_set_aside(found: dict[str, Grants], f: Facts) -> list[SetAside]:
    """EU261 or UK261 by arrival gives way where the departure's regime gave benefits and
    assistance (Art. 3(1)(b)); what it would have granted, set aside (taken out of `found`)."""
    set_aside: list[SetAside] = []
    for regime in ("EU261", "UK261"):
        helped = [r for r in COMPENSATING if r != regime and r in found and found[r].basis == "departure"
                  and _benefits_and_assistance(found[r], f)]
        if regime in found and found[regime].basis == "arrival" and helped:
            why = (f"You receive benefits and assistance under {helped[0]} where you departed, so {regime} "
                   f"does not apply as well (Art. 3(1)(b)).")
            set_aside += [SetAside(entitlement=e, why=why) for e in found.pop(regime).items]
    return set_aside


def _one_of_each_kind(found: dict[str, Grants]) -> tuple[list[Entitlement], list[SetAside]]:
    """Of the regimes' entitlements of one kind, the one that stands (credits all do), and the rest
    set aside for it."""
    kept: list[Entitlement] = []
    set_aside: list[SetAside] = []
    by_kind: dict[tuple[str, bool], list[tuple[Grants, Entitlement]]] = {}
    for grants in found.values():
        for e in grants.items:
            # The re-routing's own delay is another disruption than the one the case is about
            # (Finnair, C-832/18): its compensation stands beside the first, not in for it.
            by_kind.setdefault((e.kind, e.rule.endswith(".rerouting_compensation")), []).append((grants, e))
    for (kind, _), candidates in by_kind.items():
        if kind == "credit":
            kept += [e for _, e in candidates]
            continue
        winner, rest = _one_of(kind, candidates)
        why = _why_one(kind, winner)
        if rest:
            winner = winner.model_copy(update={"overlap": "; ".join(
                f"stands in for {e.regime} {e.kind} ({_money(e.amount, e.currency)})" for e in rest)})
        kept.append(winner)
        set_aside += [SetAside(entitlement=e, why=why) for e in rest]
    return kept, set_aside


def _benefits_and_assistance(grants: Grants, f: Facts) -> bool:
    """Art. 3(1)(b): the passenger "received benefits or compensation and [was] given assistance"
    under the regime where they departed — both, not either: a regime that pays nothing, or gives
    no care, leaves the arrival regime in force (Commission guidelines C/2024/5687, 2.1.5)."""
    kinds = {e.kind for e in grants.items}
    rerouted = f.case.alternative is not None and f.case.alternative.accepted
    return bool(kinds & {"compensation", "refund"} or rerouted) and bool(kinds & set(CARE))


def _in_payout_currency(e: Entitlement, case: Case) -> Entitlement:
    """A fixed sum (compensation) in the currency the passenger is paid in, at the case's rate
    (Delfly, C-356/19); refunds go back as they were paid, care is given in kind."""
    payout = case.payout
    if payout is None or e.kind != "compensation" or e.currency == payout.currency \
            or payout.rate_from not in ("", e.currency):
        return e
    unit = Decimal(1).scaleb(-minor_digits(payout.currency))
    return e.model_copy(update={"payout_amount": (e.amount * payout.rate).quantize(unit, rounding=ROUND_HALF_UP),
                                "payout_currency": payout.currency})


def _one_of(kind: str, candidates: list[tuple[Grants, Entitlement]]) -> tuple[Entitlement, list[Entitlement]]:
    """The one entitlement of a kind that applies; the rest it stands in for."""
    if kind == "compensation":
        # The regime that covers the journey where it departs first; then EU261, UK261, APPR, US DOT.
        ranked = sorted(candidates, key=lambda c: (c[0].basis != "departure", LAW.index(c[1].regime)))
    elif kind == "refund":
        # The fare is refunded once: the largest refund, by the earliest deadline any regime sets.
        ranked = sorted(candidates, key=lambda c: (-c[1].amount, c[1].due_by.timestamp() if c[1].due_by
                                                   else math.inf, LAW.index(c[1].regime)))
    else:
        # Care is given once: the law's before the airline's own.
        ranked = sorted(candidates, key=lambda c: (c[1].regime == "AIRLINE",
                                                   LAW.index(c[1].regime) if c[1].regime in LAW else 9))
    return ranked[0][1], [e for _, e in ranked[1:]]


def _why_one(kind: str, winner: Entitlement) -> str:
    if kind == "compensation":
        return (f"One disruption is compensated once: {winner.regime} applies, as the regime of the "
                f"country the journey departs from (or the first that covers it), and the others give "
                f"way to it: a passenger is not compensated twice for the same delay (EU261 Art. 12(1)).")
    if kind == "refund":
        return f"The ticket is refunded once; {winner.regime}'s refund is paid and this one is part of it."
    return f"Care is given once: the {kind} under {winner.regime} is this one."
