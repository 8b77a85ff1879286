"""The US Department of Transportation's rules: refunds (14 CFR 260) and denied boarding (14 CFR 250).
Pure: no I/O."""

import functools
from datetime import date, datetime, timedelta
from decimal import Decimal

import holidays

from services.compensation import rules as rb
from services.compensation.facts import HOUR, Facts, Grants, hours, money, share
from shared import airports


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


def judge(f: Facts, r: rb.UsDot) -> Grants | None:
    if not f.countries & r.territory:
        return None
    rules, case = r.rules, f.case
    domestic = f.countries <= r.territory
    threshold = (rules.significant_change.domestic_hours if domestic
                 else rules.significant_change.international_hours) * HOUR
    if f.kind == "denied_boarding":
        g = Grants(r.regime, r.version, "departure", [])
        _denied_boarding(f, r, g, domestic)
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
    due, when = _refund_due(f, rules)
    g = Grants(r.regime, r.version, "route", [])
    g.add("refund", "refund", amount, fare.currency, f"{rules.refund.source}; {rules.refund_deadline.source}",
          f"{what}, so US rules refund the ticket, taxes and fees to your {fare.payment.replace('_', ' ')} "
          f"within {when}.", due_by=due, pay_to=f"original form of payment ({fare.payment.replace('_', ' ')})")
    return g


def _refund_due(f: Facts, rules: rb.UsDotRules) -> tuple[datetime, str]:
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
        changes.append(f"you would arrive {hours(f.arrival_delay)} late")
    if alt is not None and alt.departure <= f.disrupted.scheduled_departure - threshold:
        changes.append(f"the new flight leaves {hours(f.disrupted.scheduled_departure - alt.departure)} early")
    if alt is not None and ((alt.origin and alt.origin != f.origin)
                            or (alt.destination and alt.destination != f.destination)):
        changes.append("the new flight uses a different airport")
    if alt is not None and alt.connections is not None and alt.connections > len(f.case.itinerary) - 1:
        changes.append("the new trip has more connections")
    if f.kind == "downgrade":
        changes.append("you were moved to a lower class")
    return changes


def _denied_boarding(f: Facts, r: rb.UsDot, g: Grants, domestic: bool) -> None:
    """14 CFR 250.5: a passenger bumped from an oversold flight at a US airport, against their
    will, is paid a multiple of the one-way fare, by how late the alternative gets them there."""
    rules, case = r.rules.denied_boarding, f.case
    if f.volunteered or not case.presented or f.cause not in rules.causes \
            or airports.country_of(f.disrupted.origin) not in r.territory:
        return  # volunteers agree their own price (250.2b); a no-show is not bumped (250.6(a))
    limits = rules.domestic_hours if domestic else rules.international_hours
    late = f.arrival_delay
    if late is not None and late <= limits[0] * HOUR:
        return  # 250.6(d): the alternative arrives within an hour of the plan
    tier = 0 if late is not None and late < limits[1] * HOUR else 1
    fare = case.fare
    amount = share(f.rest_of_journey_fare, rules.percent[tier], fare.currency)
    capped = ""
    if fare.currency == "USD" and amount > rules.maximum[tier]:
        amount, capped = Decimal(rules.maximum[tier]), f", at most {money(Decimal(rules.maximum[tier]), 'USD')}"
    when = "no alternative" if late is None else f"an alternative arriving {hours(late)} late"
    g.add("compensation", "denied_boarding", amount, fare.currency, rules.source,
          f"You were bumped from an oversold flight against your will, with {when}, so US rules owe you "
          f"{rules.percent[tier]} % of your one-way fare{capped}, in cash on the day.",
          due_by=f.disrupted.scheduled_departure + timedelta(hours=rules.due_hours), pay_to="cash or check")
