"""Where one journey of a booking ends and the next begins, and what each flight's share of the
fare is. Pure: no I/O. Rebooking (which coupons to replace, release or refund) and compensation
(what the law judges, what a refund pays) must agree on both, so both live here.

A journey ends at a stop of more than 24 hours (the industry's stopover rule, which EU261's case
law follows for "final destination": Wegener C-537/17) or where the trip turns back towards where
it began: the outward and return flights of a round trip are two journeys (Emirates v Schenkel,
C-173/07), even when the return is the same day.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from shared.airports import CO_TERMINALS, great_circle_km, same_city

STOPOVER = timedelta(hours=24)

# (origin, destination, departure, arrival) of each flight, in flying order.
Stop = tuple[str, str, datetime, datetime]


def journey_spans(legs: Sequence[Stop],
                  same_place: Callable[[str, str], bool] = lambda a, b: same_city(a, b, CO_TERMINALS),
                  ) -> list[range]:
    """The journeys of an itinerary (flights sorted by departure), as index ranges."""
    spans: list[range] = []
    start = 0
    for i in range(1, len(legs) + 1):
        if i == len(legs) or legs[i][2] - legs[i - 1][3] > STOPOVER:
            spans += _split_at_turnaround(legs, start, i, same_place)
            start = i
    return spans


def _split_at_turnaround(legs: Sequence[Stop], start: int, end: int,
                         same_place: Callable[[str, str], bool]) -> list[range]:
    """A chain of flights that comes back to where it began is an outward and a return journey,
    divided at the point farthest from home."""
    home = legs[start][0]
    if end - start < 2 or not same_place(legs[end - 1][1], home):
        return [range(start, end)]
    turn = max(range(start, end - 1), key=lambda i: great_circle_km(home, legs[i][1]))
    return [range(start, turn + 1), range(turn + 1, end)]


def prorate(fare: Decimal, distances: Sequence[float], exponent: int = 2) -> list[Decimal]:
    """Each flight's share of one passenger's fare, in proportion to its distance: mileage
    proration, as the CJEU prices one flight of a ticket that shows no price per flight (Mennens,
    C-255/15: the fare times the flight's share of the distance the ticket covers). Shares are
    rounded down to the currency's minor unit and the units left over go to the longest flights
    first, so they add up to the fare exactly."""
    if not distances:
        return []
    unit = Decimal(1).scaleb(-exponent)
    km = [Decimal(max(d, 1.0)) for d in distances]
    total = sum(km)
    shares = [(fare * k / total).quantize(unit, rounding=ROUND_DOWN) for k in km]
    left = int((fare - sum(shares)) / unit)
    for i in sorted(range(len(km)), key=lambda i: (-km[i], i))[:left]:
        shares[i] += unit
    return shares
