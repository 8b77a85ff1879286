"""EU261 and UK261: Regulation (EC) No 261/2004, and the same regulation as retained in UK law.
Both read the EU-style rule model (`rules.EuStyle`). Pure: no I/O."""

import math
from datetime import timedelta
from decimal import Decimal

from services.compensation import rules as rb
from services.compensation.facts import CAUSE_WORDS, HOUR, Facts, Grants, hours, money, share
from shared import airports


def _basis(f: Facts, r: rb.EuStyle) -> str | None:
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


def distance_band(r: rb.EuStyle, distance: float, countries: frozenset[str], territory: frozenset[str]) -> int:
    d = r.rules.distance
    if distance <= d.bands_km[0]:
        return 0
    if countries <= territory and distance > d.intra_territory_over_km:
        return 1
    return 1 if distance <= d.bands_km[1] else 2


def judge(f: Facts, r: rb.EuStyle) -> Grants | None:
    basis = _basis(f, r)
    if basis is None:
        return None
    g = Grants(r.regime, r.version, basis, [])
    rules, law = r.rules, "UK law" if r.regime == "UK261" else "EU law"
    band = distance_band(r, f.distance_km, f.countries, f.book.scope(r.regime, f.on))
    km = f"{f.distance_km:,.0f} km"
    _compensation(f, r, g, band, km, law)
    _rerouting_compensation(f, r, g, band, km, law)  # owed or not for the flight lost
    # A delay gives the choice of a refund from 5 h at departure (Art. 6(1)(iii)).
    if f.refund_chosen and (f.kind != "delay" or (f.wait or f.arrival_delay or timedelta(0))
                            >= rules.refund.delay_hours * HOUR):
        g.add("refund", "refund", f.refund_fare, f.case.fare.currency, rules.refund.source,
              f"You are not taking the flight, so {law} refunds the ticket for the journey within "
              f"{rules.refund.due_days} days.",
              due_by=f.due_from + timedelta(days=rules.refund.due_days), pay_to="original form of payment")
    if f.kind == "downgrade":
        _downgrade(f, r, g, law)
    if f.diverted_nearby:
        d = rules.diversion
        g.add("transport", "diversion_transfer", d.transport_amount, r.currency, d.source,
              f"Your flight landed at {f.case.disruption.diverted_to} instead of {f.disrupted.destination}, so "
              f"{law} pays your transfer to {f.disrupted.destination}.", valid_hours=rules.transport.valid_days * 24)
    if f.waiting and not f.volunteered and not f.told_ahead(rules.care_notice.days):
        _care(f, r, g, band, law)  # care is for passengers who have set out and wait
    return g


def _compensation(f: Facts, r: rb.EuStyle, g: Grants, band: int, km: str, law: str) -> None:
    rules = r.rules
    owed = _why_owed(f, rules)
    if owed is None:
        return
    sources, what = owed
    amount = Decimal(rules.compensation.amounts[band])
    tail = ""
    if _reduced(f, rules, band):
        amount = share(amount, 100 - rules.reduction.percent, r.currency)
        sources.append(rules.reduction.source)
        tail = f" (halved, as you arrive within {rules.reduction.within_hours[band]:g} h of the plan)"
    g.add("compensation", "compensation", amount, r.currency, "; ".join([rules.compensation.source, *sources]),
          f"{what}, and the journey is {km}, so {law} owes you {money(amount, r.currency)}{tail}.",
          pay_to="original form of payment")


def _rerouting_compensation(f: Facts, r: rb.EuStyle, g: Grants, band: int, km: str, law: str) -> None:
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
        amount, tail = share(amount, 100 - rules.reduction.percent, r.currency), " (halved)"
    g.add("compensation", "rerouting_compensation", amount, r.currency,
          "; ".join([rules.compensation.source, rules.delay_compensation.rerouting]),
          f"The flight you were moved to reached {f.destination} {hours(late)} late too, and the journey is {km}, "
          f"so {law} owes you {money(amount, r.currency)} again{tail}.", pay_to="original form of payment")


def _why_owed(f: Facts, rules: rb.EuStyleRules) -> tuple[list[str], str] | None:
    """Why Art. 7 compensation is owed (its sources, and the sentence for the passenger), if it is."""
    cause = CAUSE_WORDS[f.cause]
    if f.kind == "downgrade":
        return None
    if f.kind == "denied_boarding":
        return _denied_boarding(f, rules)
    if f.cause in rules.extraordinary.causes:
        alt = f.case.alternative
        if not (alt is not None and alt.earlier_available and rules.extraordinary.reasonable_measures):
            return None  # extraordinary circumstances: care is still owed, compensation is not
        # Not every reasonable measure was taken: an earlier re-routing, another carrier's included,
        # was there and not offered, so the circumstances do not exempt the carrier.
        owed = _delayed_or_cancelled(f, rules, cause)
        return (owed[0] + [rules.extraordinary.reasonable_measures], owed[1]) if owed else None
    return _delayed_or_cancelled(f, rules, cause)


def _denied_boarding(f: Facts, rules: rb.EuStyleRules) -> tuple[list[str], str] | None:
    """A volunteer gets what they agreed, not Art. 7 (Art. 4(1)); only a passenger who presented
    themselves can be denied boarding (Art. 3(2)(a)), or one the carrier told beforehand it would
    not carry, for whom presenting would be a pointless formality."""
    disruption = f.case.disruption
    told = rules.denied_boarding.told_in_advance if disruption.denied_in_advance else None
    if f.volunteered or not (f.case.presented or told) or f.cause in rules.denied_boarding.reasonable_grounds:
        return None
    if not told:
        return [rules.denied_boarding.source], "You were denied boarding against your will"
    by_operator = rules.denied_boarding.told_by_tour_operator if disruption.told_by == "tour_operator" else None
    if disruption.told_by == "tour_operator" and not by_operator:
        return None
    return ([rules.denied_boarding.source, told, *([by_operator] if by_operator else [])],
            "You were told in advance you would not be carried")


def _delayed_or_cancelled(f: Facts, rules: rb.EuStyleRules, cause: str) -> tuple[list[str], str] | None:
    """A delay's compensation, from three hours late at the final destination — however the
    passenger got there: on a flight they booked themselves, by when that one arrived (Laudamotion
    and Ryanair, C-54/23) — or a cancellation's."""
    if f.kind != "delay":
        return _cancelled(f, rules, cause)
    if f.arrival_delay is None or f.arrival_delay < rules.delay_compensation.arrival_delay_hours * HOUR:
        return None
    own_way = rules.delay_compensation.self_booked if f.case.disruption.self_booked else None
    if (not f.case.presented and not own_way) or f.refund_chosen:
        return None  # no loss of time for a passenger who never set out (Laudamotion, C-474/22, operative part)
    return ([rules.delay_compensation.source, *([own_way] if own_way else [])],
            f"You reached {f.destination} {hours(f.arrival_delay)} late because of {cause}")


def _cancelled(f: Facts, rules: rb.EuStyleRules, cause: str) -> tuple[list[str], str] | None:
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


def _reduced(f: Facts, rules: rb.EuStyleRules, band: int) -> bool:
    """Halved for a passenger re-routed to arrive no later than the band's limit (Art. 7(2)), or
    delayed by less than it (Sturgeon: long-haul delays of three to four hours) — not for one who
    arrives earlier than planned: the reduction is for a delay (Azurair, C-146/20)."""
    within = rules.reduction.within_hours[band] * HOUR
    if f.arrival_delay is None or f.arrival_delay < timedelta(0):
        return False
    if f.kind == "delay":
        return f.arrival_delay < within
    return f.rerouted and f.arrival_delay <= within


def _downgrade(f: Facts, r: rb.EuStyle, g: Grants, law: str) -> None:
    rules, leg, fare = r.rules, f.disrupted, f.case.fare
    distance = airports.great_circle_km(leg.origin, leg.destination)
    countries = frozenset({airports.country_of(leg.origin), airports.country_of(leg.destination)})
    territory = f.book.scope(r.regime, f.on)
    band = distance_band(r, distance, countries, territory)
    if band == 1 and countries <= territory and countries & r.overseas_departments \
            and countries - r.overseas_departments:
        band = 2  # between the mainland and an overseas department: the long-haul rate (Art. 10(2)(c))
    # The price of the flight concerned, without taxes and charges (Mennens, C-255/15).
    percent = rules.downgrade.percent[band]
    amount = share(f.flight_price, percent, fare.currency)
    g.add("refund", "downgrade", amount, fare.currency, rules.downgrade.source,
          f"You flew {leg.flight} in a lower class than you paid for, over {distance:,.0f} km, so {law} "
          f"refunds {percent} % of its price.",
          due_by=f.due_from + timedelta(days=rules.downgrade.due_days), pay_to="original form of payment")


def _care(f: Facts, r: rb.EuStyle, g: Grants, band: int, law: str) -> None:
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
              f"You wait {hours(wait)} for your flight, so {law} gives you " + (
                  f"a meal voucher worth {money(Decimal(meals.amount), r.currency)}." if count == 1 else
                  f"{count} meal vouchers worth {money(Decimal(meals.amount), r.currency)} each."),
              valid_hours=meals.valid_hours)
    if f.nights:
        nights = f"{f.nights} night{'s' if f.nights > 1 else ''}"
        g.add("hotel", "hotel", rules.hotel.amount_per_night * f.nights, r.currency, rules.hotel.source,
              f"Your new flight leaves on a later day, so {law} gives you a hotel for {nights}.",
              valid_hours=rules.hotel.valid_days * 24)
        g.add("transport", "transport", rules.transport.amount_per_night * f.nights, r.currency,
              rules.transport.source, f"{law} also covers your transport between the airport and the hotel.",
              valid_hours=rules.transport.valid_days * 24)
