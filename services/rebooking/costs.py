"""What the airline says a disruption costs: the rebooking solver's objective. Pure: no I/O.

A `CostProfile` prices each way a disrupted passenger can end: carried on a new itinerary (its
arrival delay, by cabin and haul; each stop, airport change and cabin change; the money owed for
arriving that late), or not carried at all (by direction, cabin and haul, plus the fare refunded and
the compensation owed). The solver minimises the sum. A profile is data, named: `DEFAULT` is the
service's own (minutes of delay, weighted by priority); `bench.roadef` builds the ROADEF 2009
profile from an instance's `config.csv`, and `profile_from_json` reads one an operator configures.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared.events import CABINS, Cabin

Haul = Literal["domestic", "continental", "intercontinental"]
HAULS: tuple[Haul, ...] = ("domestic", "continental", "intercontinental")
Direction = Literal["outbound", "return"]


@dataclass(frozen=True)
class Money:
    """What is owed to a passenger for an outcome, by the trip's planned flying time: the first
    band whose `below_minutes` the trip is under applies (the last has none)."""

    # (planned flying minutes below, amount owed when the trip is not carried at all)
    not_carried: tuple[tuple[int | None, float], ...] = ()
    # (planned flying minutes below, arrival delay in minutes it must exceed, amount)
    delayed: tuple[tuple[int | None, int, float], ...] = ()
    # Care (a hotel night) once the delay exceeds this many minutes, and its amount.
    care_after_minutes: int | None = None
    care: float = 0.0
    # The ticket's price is refunded to a passenger not carried.
    refund_fare: bool = False

    def when_not_carried(self, planned_minutes: int, fare: float) -> float:
        owed = fare if self.refund_fare else 0.0
        return owed + next((amount for below, amount in self.not_carried if below is None or planned_minutes < below),
                           0.0)

    def when_late(self, planned_minutes: int, delay_minutes: int) -> float:
        band = next(((over, amount) for below, over, amount in self.delayed
                     if below is None or planned_minutes < below), None)
        owed = band[1] if band and delay_minutes > band[0] else 0.0
        if self.care_after_minutes is not None and delay_minutes > self.care_after_minutes:
            owed += self.care
        return owed


@dataclass(frozen=True)
class CostProfile:
    """The airline's costs for a disrupted passenger, in one currency's units (or in minutes, for
    a profile that counts time alone)."""

    name: str
    # Per passenger-minute of arrival delay, by the trip's booked cabin and haul; any pair not
    # listed costs `delay_default`.
    delay_per_minute: Mapping[tuple[Cabin, Haul], float] = field(default_factory=dict)
    delay_default: float = 1.0
    # Per passenger not carried, by direction, booked cabin and haul (else `not_carried_default`;
    # None: longer than any delay, so that as many as possible are carried).
    not_carried: Mapping[tuple[Direction, Cabin, Haul], float] = field(default_factory=dict)
    not_carried_default: float | None = None
    # A cabin lower than booked, per leg flown in it: by (booked, flown, the leg's haul).
    downgrade_per_leg: Mapping[tuple[Cabin, Cabin, Haul], float] = field(default_factory=dict)
    # A cabin other than booked, per cabin step, once per itinerary (seats a paying passenger
    # could have had, or a worse seat).
    cabin_step: float = 20.0
    upgrades: bool = True
    # Lower cabins only once the booked cabin (or better) is full everywhere.
    downgrade_last: bool = True
    stop: float = 30.0
    airport_change: float = 45.0
    money: Money = Money()
    # Weigh each trip by its priority (connections at risk, status tier, special service needs,
    # then booking order); off: every passenger counts the same.
    priorities: bool = True
    # Parties stay together unless their booking allows a split; `split_parties` allows it for
    # all, `partial_parties` lets part of a party be carried when not all can be.
    split_parties: bool = False
    partial_parties: bool = False
    # Units per currency unit in the solver's integer objective (100: cents).
    scale: int = 1

    def delay_cost(self, cabin: Cabin, haul: Haul, minutes: int) -> float:
        return self.delay_per_minute.get((cabin, haul), self.delay_default) * max(0, minutes)

    def downgrade_cost(self, booked: Cabin, flown: Cabin, haul: Haul) -> float:
        return self.downgrade_per_leg.get((booked, flown, haul), 0.0) if CABINS.index(flown) < CABINS.index(booked) \
            else 0.0

    def not_carried_cost(self, direction: Direction, cabin: Cabin, haul: Haul, unplaced_minutes: int) -> float:
        default = self.not_carried_default if self.not_carried_default is not None else float(unplaced_minutes)
        return self.not_carried.get((direction, cabin, haul), default)


# Today's weights: minutes of arrival delay, a stop 30, an airport change 45, a cabin step 20,
# weighted by priority; nobody left unplaced while a seat can be found.
DEFAULT = CostProfile("default")


def profile_from_json(text: str) -> CostProfile:
    """A profile an operator configures (REBOUND_COST_PROFILE_FILE): JSON with the fields of
    `CostProfile`, each table as a list of `[key…, value]` rows."""
    data: dict[str, Any] = json.loads(text)
    tables = {"delay_per_minute": 2, "not_carried": 3, "downgrade_per_leg": 3}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in CostProfile.__dataclass_fields__:
            raise ValueError(f"cost profile: unknown field {key!r}")
        if key in tables:
            values[key] = {tuple(row[:tables[key]]): float(row[tables[key]]) for row in value}
        elif key == "money":
            money: dict[str, Any] = {k: tuple(tuple(r) for r in v) if isinstance(v, list) else v
                                     for k, v in value.items()}
            values[key] = Money(**money)
        else:
            values[key] = value
    for (cabin, *rest) in [*values.get("delay_per_minute", {}), *values.get("downgrade_per_leg", {})]:
        if cabin not in CABINS or not all(r in CABINS + HAULS for r in rest):
            raise ValueError(f"cost profile: {[cabin, *rest]} names an unknown cabin or haul")
    return replace(DEFAULT, **values)
