"""Airports that serve one city: a passenger can be moved between them (co-terminals)."""

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
