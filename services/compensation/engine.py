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
from shared import airports

HOUR = timedelta(hours=1)
LAW = ("EU261", "UK261", "APPR", "US_DOT")
# Regimes that compensate and care for passengers in their territory: an EU261 or UK261 arrival
# is covered only when the passenger gets no such benefits where they departed (Art. 3(1)(b)).
COMPENSATING = ("EU261", "UK261", "APPR")
CAUSE_WORDS = {"weather": "bad weather", "air_traffic_control": "air traffic control restrictions",
               "security": "a security risk", "airport": "a problem at the airport", "crew": "a crew problem",
               "technical": "a technical fault", "operational": "an operational problem",
               "commercial": "a commercial decision"}


@dataclass(frozen=True)
class Facts:
    """What every regime reads from a case, worked out once."""

    case: Case
    disrupted: CaseLeg
    origin: str
    destination: str
    departure: datetime
    arrival: datetime
    distance_km: float
    countries: frozenset[str]
    arrival_delay: timedelta | None
    new_departure: datetime | None
    notice: timedelta
    refund_chosen: bool
    due_from: datetime
    carrier_country: str | None
    carrier_size: str

    @property
    def wait(self) -> timedelta | None:
        return self.new_departure - self.disrupted.scheduled_departure if self.new_departure else None

    @property
    def waiting(self) -> bool:
        """Waiting at the airport for a flight: not refunded, or refunded and flown back to where the
        journey began (EU261 Art. 8(1)(a)): care is for passengers who wait."""
        alt = self.case.alternative
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
    def kind(self) -> str:
        return self.case.disruption.kind

    @property
    def cause(self) -> str:
        return self.case.disruption.cause


def facts_of(case: Case, book: rb.RuleBook) -> Facts:
    legs = sorted(case.itinerary, key=lambda leg: leg.scheduled_departure)  # in flying order, however given
    first, last, disrupted = legs[0], legs[-1], case.disrupted_leg
    d, alt = case.disruption, case.alternative
    arrival_delay = None
    if d.kind == "delay" and d.actual_arrival:
        arrival_delay = d.actual_arrival - last.scheduled_arrival
    elif alt is not None and d.kind != "downgrade" and (
            alt.destination is None or airports.same_city(alt.destination, last.destination)):
        # (a flight back to where the journey began is no re-routing: the passenger never arrives)
        arrival_delay = alt.arrival - last.scheduled_arrival
    new_departure = None
    if d.kind == "delay":
        new_departure = d.expected_departure or (alt.departure if alt else None) or (
            disrupted.scheduled_departure + arrival_delay if arrival_delay and arrival_delay > timedelta(0) else None)
    elif alt is not None and d.kind != "downgrade":
        new_departure = alt.departure
    if case.passenger_choice is not None:
        refund_chosen = case.passenger_choice == "refund"
    elif d.kind in ("cancellation", "denied_boarding"):
        refund_chosen = alt is None or not alt.accepted  # no alternative, or it was turned down
    else:
        refund_chosen = alt is not None and not alt.accepted
    carrier = book.carrier(case.operating_carrier)
    return Facts(
        case=case, disrupted=disrupted, origin=first.origin, destination=last.destination,
        departure=first.scheduled_departure, arrival=last.scheduled_arrival,
        distance_km=airports.great_circle_km(first.origin, last.destination),
        countries=frozenset(airports.country_of(a) for leg in case.itinerary for a in (leg.origin, leg.destination)),
        arrival_delay=arrival_delay, new_departure=new_departure,
        notice=disrupted.scheduled_departure - d.announced_at, refund_chosen=refund_chosen,
        due_from=case.answered_at or d.announced_at,
        carrier_country=case.operating_carrier_country or (carrier.country if carrier else None),
        carrier_size=case.carrier_size or (carrier.size if carrier else "large"))


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
    departs = {airports.country_of(f.origin), airports.country_of(f.disrupted.origin)}
    if departs & r.territory:
        return "departure"
    arrives = {airports.country_of(f.destination), airports.country_of(f.disrupted.destination)}
    if arrives & r.territory and f.carrier_country in r.carrier_countries:
        return "arrival"
    return None


def _eu_band(r: rb.EuStyle, distance: float, countries: frozenset[str]) -> int:
    d = r.rules.distance
    if distance <= d.bands_km[0]:
        return 0
    if countries <= r.territory and distance > d.intra_territory_over_km:
        return 1
    return 1 if distance <= d.bands_km[1] else 2


def _eu_style(f: Facts, r: rb.EuStyle) -> Grants | None:
    basis = _eu_basis(f, r)
    if basis is None:
        return None
    g = Grants(r.regime, r.version, basis, [])
    rules, law = r.rules, "UK law" if r.regime == "UK261" else "EU law"
    band = _eu_band(r, f.distance_km, f.countries)
    km = f"{f.distance_km:,.0f} km"
    _eu_compensation(f, r, g, band, km, law)
    # A delay gives the choice of a refund from 5 h at departure (Art. 6(1)(iii)).
    if f.refund_chosen and (f.kind != "delay" or (f.wait or f.arrival_delay or timedelta(0))
                            >= rules.refund.delay_hours * HOUR):
        g.add("refund", "refund", f.case.fare.amount, f.case.fare.currency, rules.refund.source,
              f"You are not taking the flight, so {law} refunds the full ticket within "
              f"{rules.refund.due_days} days.",
              due_by=f.due_from + timedelta(days=rules.refund.due_days), pay_to="original form of payment")
    if f.kind == "downgrade":
        _eu_downgrade(f, r, g, law)
    told_ahead = f.kind == "cancellation" and f.notice >= rules.cancellation_notice.no_compensation_days * 24 * HOUR
    if f.waiting and not told_ahead:  # care is for passengers who have set out
        _eu_care(f, r, g, band, law)
    return g


def _eu_compensation(f: Facts, r: rb.EuStyle, g: Grants, band: int, km: str, law: str) -> None:
    rules = r.rules
    amount = Decimal(rules.compensation.amounts[band])
    cause = CAUSE_WORDS[f.cause]
    if f.kind == "downgrade":
        return
    if f.kind == "denied_boarding":
        if f.cause in rules.denied_boarding.reasonable_grounds:
            return
        sources, what = [rules.denied_boarding.source], "You were denied boarding against your will"
    elif f.cause in rules.extraordinary.causes:
        return  # extraordinary circumstances: care is still owed, compensation is not
    elif f.kind == "delay":
        if f.arrival_delay is None or f.arrival_delay < rules.delay_compensation.arrival_delay_hours * HOUR:
            return
        sources = [rules.delay_compensation.source]
        what = f"You reached {f.destination} {_hours(f.arrival_delay)} late because of {cause}"
    else:
        n = rules.cancellation_notice
        if f.notice >= n.no_compensation_days * 24 * HOUR:
            return
        short = 0 if f.notice >= n.short_days * 24 * HOUR else 1
        alt = f.case.alternative
        if alt is not None and alt.departure >= f.disrupted.scheduled_departure - n.rerouted_early_hours[short] * HOUR \
                and f.arrival_delay is not None and f.arrival_delay < n.rerouted_late_hours[short] * HOUR:
            return  # re-routed close enough to the plan for the notice given
        sources = [n.source]
        days = f.notice.days
        what = (f"Your flight was cancelled {days} day{'s' if days != 1 else ''} before departure "
                if days >= 1 else "Your flight was cancelled on the day ") + f"because of {cause}"
    tail = ""
    # Halved for a passenger re-routed to arrive no later than the band's limit (Art. 7(2)), or
    # delayed by less than it (Sturgeon: long-haul delays of three to four hours).
    within = rules.reduction.within_hours[band] * HOUR
    if f.arrival_delay is not None and ((f.kind == "delay" and f.arrival_delay < within)
                                        or (f.kind != "delay" and f.case.alternative is not None
                                            and f.arrival_delay <= within)):
        amount = _share(amount, 100 - rules.reduction.percent, r.currency)
        sources.append(rules.reduction.source)
        tail = f" (halved, as you arrive within {rules.reduction.within_hours[band]:g} h of the plan)"
    g.add("compensation", "compensation", amount, r.currency, "; ".join([rules.compensation.source, *sources]),
          f"{what}, and the journey is {km}, so {law} owes you {_money(amount, r.currency)}{tail}.",
          pay_to="original form of payment")


def _eu_downgrade(f: Facts, r: rb.EuStyle, g: Grants, law: str) -> None:
    rules, leg, fare = r.rules, f.disrupted, f.case.fare
    distance = airports.great_circle_km(leg.origin, leg.destination)
    countries = frozenset({airports.country_of(leg.origin), airports.country_of(leg.destination)})
    band = _eu_band(r, distance, countries)
    if band == 1 and countries <= r.territory and countries & r.overseas_departments \
            and countries - r.overseas_departments:
        band = 2  # between the mainland and an overseas department: the long-haul rate (Art. 10(2)(c))
    price = fare.amount
    if len(f.case.itinerary) > 1:  # the share of the ticket this flight is, by distance (Mennens)
        total = sum(airports.great_circle_km(x.origin, x.destination) for x in f.case.itinerary)
        price = fare.amount * Decimal(distance / total)
    percent = rules.downgrade.percent[band]
    amount = _share(price, percent, fare.currency)
    g.add("refund", "downgrade", amount, fare.currency, rules.downgrade.source,
          f"You flew {leg.flight} in a lower class than you paid for, over {distance:,.0f} km, so {law} "
          f"refunds {percent} % of its price.",
          due_by=f.due_from + timedelta(days=rules.downgrade.due_days), pay_to="original form of payment")


def _eu_care(f: Facts, r: rb.EuStyle, g: Grants, band: int, law: str) -> None:
    rules, wait = r.rules, f.wait
    if wait is None or wait <= timedelta(0) or f.kind == "downgrade":
        return
    meals = rules.meals
    if wait >= meals.after_hours[band] * HOUR:
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
    alt = case.alternative
    changes = []
    if f.arrival_delay is not None and f.arrival_delay >= threshold:
        changes.append(f"you would arrive {_hours(f.arrival_delay)} late")
    if alt is not None and alt.departure <= f.disrupted.scheduled_departure - threshold:
        changes.append(f"the new flight leaves {_hours(f.disrupted.scheduled_departure - alt.departure)} early")
    if alt is not None and ((alt.origin and alt.origin != f.origin)
                            or (alt.destination and alt.destination != f.destination)):
        changes.append("the new flight uses a different airport")
    if alt is not None and alt.connections is not None and alt.connections > len(case.itinerary) - 1:
        changes.append("the new trip has more connections")
    if f.kind == "downgrade":
        changes.append("you were moved to a lower class")
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
    if fare.payment == "credit_card":
        due = _business_days_after(f.due_from, rules.refund_deadline.card_business_days)
        when = f"{rules.refund_deadline.card_business_days} business days"
    else:
        due = f.due_from + timedelta(days=rules.refund_deadline.other_calendar_days)
        when = f"{rules.refund_deadline.other_calendar_days} days"
    g = Grants(r.regime, r.version, "route", [])
    g.add("refund", "refund", fare.amount, fare.currency, f"{rules.refund.source}; {rules.refund_deadline.source}",
          f"{what}, so US rules refund the ticket, taxes and fees to your {fare.payment.replace('_', ' ')} "
          f"within {when}.", due_by=due, pay_to=f"original form of payment ({fare.payment.replace('_', ' ')})")
    return g


# --- APPR --------------------------------------------------------------------------------------


def _appr(f: Facts, r: rb.Appr) -> Grants | None:
    if not f.countries & r.territory:
        return None
    rules = r.rules
    basis = "departure" if {airports.country_of(f.origin), airports.country_of(f.disrupted.origin)} \
        & r.territory else "route"
    g = Grants(r.regime, r.version, basis, [])
    if f.kind not in ("delay", "cancellation"):
        return g  # denied boarding and downgrades have their own APPR sections, not modelled
    in_control = f.cause not in rules.control.outside_control
    fare = f.case.fare
    if f.refund_chosen and (f.kind == "cancellation" or (f.arrival_delay or timedelta(0))
                            >= rules.refund.delay_hours * HOUR):
        g.add("refund", "refund", fare.amount, fare.currency, rules.refund.source,
              "You are not taking the flight, so Canadian rules refund the unused ticket.",
              due_by=f.due_from + timedelta(days=rules.refund.due_days), pay_to="original form of payment")
    if not in_control:
        return g
    if f.kind == "cancellation" and f.notice > rules.cancellation_notice.no_compensation_days * 24 * HOUR:
        return g
    size = f.carrier_size
    cause = CAUSE_WORDS[f.cause]
    if f.refund_chosen:
        rc = rules.refund_compensation
        amount = Decimal(rc.large if size == "large" else rc.small)
        g.add("compensation", "refund_compensation", amount, r.currency, rc.source,
              f"The {'cancellation' if f.kind == 'cancellation' else 'delay'} was caused by {cause}, within "
              f"the airline's control, and your ticket is refunded, so Canadian rules add "
              f"{_money(amount, r.currency)}.", due_by=f.due_from + timedelta(days=rc.due_days),
              pay_to="original form of payment")
        return g
    tiers = rules.compensation
    if f.arrival_delay is None or f.arrival_delay < tiers.from_hours[0] * HOUR:
        return g
    tier = max(i for i, h in enumerate(tiers.from_hours) if f.arrival_delay >= h * HOUR)
    amount = Decimal((tiers.large if size == "large" else tiers.small)[tier])
    g.add("compensation", "compensation", amount, r.currency, tiers.source,
          f"You reach {f.destination} {_hours(f.arrival_delay)} late because of {cause}, within the "
          f"{size} airline's control, so Canadian rules owe you {_money(amount, r.currency)}.",
          due_by=f.due_from + timedelta(days=tiers.due_days), pay_to="original form of payment")
    return g


# --- the airline's own commitments -------------------------------------------------------------


def _airline(f: Facts, r: rb.Airlines) -> Grants:
    plan = r.plan_of(f.case.operating_carrier)
    g = Grants(r.regime, r.version, "route", [])
    if f.cause not in plan.controllable:
        return g
    cause, wait = CAUSE_WORDS[f.cause], f.wait
    if f.waiting and wait is not None and f.kind != "downgrade":
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
    elif f.kind == "delay" and f.arrival_delay is not None and f.arrival_delay >= credit.from_hours[0] * HOUR:
        tier = max(i for i, h in enumerate(credit.from_hours) if f.arrival_delay >= h * HOUR)
        g.add("credit", "delay_credit", credit.amounts[tier], plan.currency, plan.source,
              f"You arrive {_hours(f.arrival_delay)} late because of {cause}, so we add a travel credit, on "
              f"top of anything the law gives.", valid_hours=credit.valid_days * 24)
    return g


# --- overlaps ----------------------------------------------------------------------------------


def evaluate(case: Case, book: rb.RuleBook) -> Evaluation:
    """Everything the passenger is owed under the rules in force on their flight's date."""
    f = facts_of(case, book)
    on: date = f.departure.date()
    found: dict[str, Grants] = {}
    for regime, judge in (("EU261", _eu_style), ("UK261", _eu_style), ("APPR", _appr), ("US_DOT", _us_dot),
                          ("AIRLINE", _airline)):
        rules = book.in_force(regime, on)
        grants = judge(f, rules) if rules is not None else None
        if grants is not None:
            found[regime] = grants
    set_aside: list[SetAside] = []
    departure_regimes = [r for r in COMPENSATING if r in found and found[r].basis == "departure"]
    for regime in ("EU261", "UK261"):
        if regime in found and found[regime].basis == "arrival" and departure_regimes:
            other = departure_regimes[0]
            set_aside += [SetAside(entitlement=e, why=f"{other} covers this journey where it departs, so {regime} "
                                                      f"does not apply as well (Art. 3(1)(b)).")
                          for e in found.pop(regime).items]
    kept: list[Entitlement] = []
    by_kind: dict[str, list[tuple[Grants, Entitlement]]] = {}
    for grants in found.values():
        for e in grants.items:
            by_kind.setdefault(e.kind, []).append((grants, e))
    for kind, candidates in by_kind.items():
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
    order = {k: i for i, k in enumerate(("refund", "compensation", "meal", "hotel", "transport", "credit"))}
    kept.sort(key=lambda e: (order[e.kind], e.regime))
    return Evaluation(entitlements=kept, set_aside=set_aside)


def _one_of(kind: str, candidates: list[tuple[Grants, Entitlement]]) -> tuple[Entitlement, list[Entitlement]]:
    """The one entitlement of a kind that applies; the rest it stands in for."""
    if kind == "compensation":
        # The regime that covers the journey where it departs first; then EU261, UK261, APPR.
        ranked = sorted(candidates, key=lambda c: (c[0].basis != "departure", COMPENSATING.index(c[1].regime)))
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
