"""Airports that serve one city (co-terminals: a passenger can be moved between them), and the
time a passenger needs to change planes at each; where each airport is (country, zone, distance)."""

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import airportsdata

CO_TERMINALS: tuple[frozenset[str], ...] = (
    frozenset({"JFK", "LGA", "EWR"}),
    frozenset({"ORD", "MDW"}),
    frozenset({"IAD", "DCA", "BWI"}),
    frozenset({"SFO", "OAK", "SJC"}),
    frozenset({"LAX", "BUR", "LGB", "SNA", "ONT"}),
    frozenset({"MIA", "FLL"}),
    frozenset({"DFW", "DAL"}),
    frozenset({"IAH", "HOU"}),
)

CoTerminals = tuple[frozenset[str], ...]


def parse_co_terminals(text: str) -> CoTerminals:
    """`JFK+LGA+EWR;ORD+MDW` → groups of airports serving one city; empty: the built-in groups."""
    if not text.strip():
        return CO_TERMINALS
    groups = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        airports = frozenset(a.strip().upper() for a in item.split("+") if a.strip())
        if len(airports) < 2 or any(len(a) != 3 or not a.isalpha() for a in airports):
            raise ValueError(f"co-terminal group {item!r}: expected two or more airports, AAA+BBB")
        groups.append(airports)
    return tuple(groups)


def city_of(airport: str, groups: CoTerminals = CO_TERMINALS) -> frozenset[str]:
    for group in groups:
        if airport in group:
            return group
    return frozenset({airport})


def same_city(a: str, b: str, groups: CoTerminals = CO_TERMINALS) -> bool:
    return b in city_of(a, groups)


# Minimum connecting times (minutes) by airport, when the operator configures none.
DEFAULT_MINIMUM_CONNECTING_MINUTES = {"default": 60, "JFK": 90, "EWR": 75, "LGA": 60, "ATL": 55,
                                      "ORD": 75, "LHR": 90, "CDG": 90, "FRA": 45}


def parse_minimum_connecting(text: str) -> dict[str, int]:
    """`JFK=90,LGA=60,default=60` → a table; an airport not named uses `default`."""
    table = dict(DEFAULT_MINIMUM_CONNECTING_MINUTES)
    for item in filter(None, (part.strip() for part in text.split(","))):
        airport, _, value = item.partition("=")
        if not value.strip().isdigit():
            raise ValueError(f"minimum connecting time {item!r}: expected AIRPORT=MINUTES")
        table[airport.strip().upper() if airport.strip() != "default" else "default"] = int(value)
    return table


@dataclass(frozen=True)
class Connecting:
    """What a connection needs: each airport's minimum connecting time (minutes, with a `default`),
    and which airports serve one city (a passenger can be moved between them)."""

    minimum_minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MINIMUM_CONNECTING_MINUTES))
    co_terminals: CoTerminals = CO_TERMINALS

    def same_city(self, a: str, b: str) -> bool:
        return same_city(a, b, self.co_terminals)


@functools.cache
def _airports() -> dict[str, airportsdata.Airport]:
    return airportsdata.load("IATA")


def known(airport: str) -> bool:
    return airport in _airports()


def country_of(airport: str) -> str:
    """ISO 3166-1 alpha-2 country (or territory, e.g. RE for Réunion) of an IATA airport."""
    return _airports()[airport]["country"]


def zone_of(airport: str) -> ZoneInfo:
    return ZoneInfo(_airports()[airport]["tz"])


EARTH_RADIUS_KM = 6371.0  # the mean radius, as great-circle distances are usually reckoned


def great_circle_km(a: str, b: str) -> float:
    """Great-circle (haversine) distance between two IATA airports."""
    pa, pb = _airports()[a], _airports()[b]
    lat1, lon1, lat2, lon2 = map(math.radians, (pa["lat"], pa["lon"], pb["lat"], pb["lon"]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def city_name(airport: str) -> str:
    """The city an IATA airport serves, as passengers say it ("Boston" for BOS)."""
    return _airports()[airport].get("city") or airport
