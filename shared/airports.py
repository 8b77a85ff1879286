"""Airports that serve one city (co-terminals: a passenger can be moved between them), and the
time a passenger needs to change planes at each."""

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

def city_of(airport: str) -> frozenset[str]:
    for group in CO_TERMINALS:
        if airport in group:
            return group
    return frozenset({airport})


def same_city(a: str, b: str) -> bool:
    return b in city_of(a)


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
