"""ICAO designators → IATA ones, as of a date. Pure lookups over maintained data, no I/O beyond
reading the tables once.

Airports come from airportsdata (ICAO locations with their IATA codes). Airlines come from
OpenTravelData's curated airline list (https://github.com/opentraveldata/opentraveldata,
`opentraveldata/optd_airlines.csv`, CC BY 4.0), cut down to `data/airline_designators.csv`: each
ICAO three-letter designator with the IATA two-character designator it was paired with and the
dates the pairing held. IATA reassigns two-character codes (Polet's YQ, Tigerair's TR then TT), so
the date of the flight decides: a designator is taken only within the dates its pairing held, never
stretched beyond them. An operator who knows a pairing the table lacks adds it, with its dates,
in `REBOUND_AIRLINE_PAIRINGS` (`ICAO:IATA:from:to`, comma-separated; a date left empty is open),
and the refusals say so. Refresh the table with

    python -m services.disruption.designators PATH/TO/optd_airlines.csv
"""

import csv
import functools
import io
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import airportsdata

TABLE = Path(__file__).parent / "data" / "airline_designators.csv"


class UnknownDesignator(ValueError):
    """An ICAO code with no IATA counterpart: the message names it, so it must be refused."""


@dataclass(frozen=True)
class Pairing:
    iata: str
    name: str
    valid_from: date | None
    valid_to: date | None

    def holds_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)

    def dates(self) -> str:
        return f"from {self.valid_from or 'ever'} to {self.valid_to or 'now'}"


ADD_ONE = "if it held one, add the pairing with its dates to REBOUND_AIRLINE_PAIRINGS (ICAO:IATA:from:to)"
# The operator's own pairings (`use_pairings`, from configuration at start-up), beside the table's.
_operators: tuple[tuple[str, Pairing], ...] = ()


def parse_pairings(text: str) -> tuple[tuple[str, Pairing], ...]:
    """`ICAO:IATA:from:to`, comma-separated (`TOM:BY:2004-01-01:`); refused whole when malformed."""
    pairings = []
    for n, item in enumerate(filter(None, (i.strip() for i in text.split(","))), start=1):
        parts = item.split(":")
        if len(parts) != 4 or not re.fullmatch(r"[A-Z]{3}", parts[0]) or not re.fullmatch(r"[A-Z0-9]{2}", parts[1]):
            raise ValueError(f"REBOUND_AIRLINE_PAIRINGS: pairing {n} is not ICAO:IATA:from:to"
                             " (e.g. TOM:BY:2004-01-01:)")
        try:
            valid_from, valid_to = (date.fromisoformat(d) if d else None for d in parts[2:])
        except ValueError:
            raise ValueError(f"REBOUND_AIRLINE_PAIRINGS: pairing {n} has a date that is not YYYY-MM-DD") from None
        pairings.append((parts[0], Pairing(parts[1], "added by the operator", valid_from, valid_to)))
    return tuple(pairings)


def use_pairings(pairings: tuple[tuple[str, Pairing], ...]) -> None:
    """The operator's pairings, from configuration: taken beside the table's from now on."""
    global _operators
    _operators = pairings
    _airlines.cache_clear()


@functools.cache
def _airlines() -> dict[str, tuple[Pairing, ...]]:
    pairings: dict[str, list[Pairing]] = {}
    with TABLE.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            pairings.setdefault(row["icao"], []).append(Pairing(
                row["iata"], row["name"], date.fromisoformat(row["valid_from"]) if row["valid_from"] else None,
                date.fromisoformat(row["valid_to"]) if row["valid_to"] else None))
    for icao, pairing in _operators:
        pairings.setdefault(icao, []).append(pairing)
    return {icao: tuple(p) for icao, p in pairings.items()}


@functools.cache
def _airports() -> dict[str, airportsdata.Airport]:
    return airportsdata.load("ICAO")


def airline(code: str, on: date) -> str:
    """The IATA designator of an airline named by its ICAO (3 letters) or IATA (2) designator; an
    ICAO one only within the dates a pairing held on the flight's date."""
    if len(code) == 2:  # the airline's own designator: nothing to pair
        return code
    pairings = _airlines().get(code, ())
    if not pairings:
        raise UnknownDesignator(f"airline {code!r} has no IATA designator on record (ICAO designators are "
                                f"mapped with OpenTravelData's airline list): {ADD_ONE}")
    held = {p.iata for p in pairings if p.holds_on(on)}
    if len(held) == 1:
        return held.pop()
    if not held:
        # Never stretched: before a pairing began, or after it ended, the code may have been, or
        # become, another airline's.
        raise UnknownDesignator(f"airline {code!r} had no IATA designator on {on.isoformat()} ("
                                + "; ".join(f"{p.iata}, {p.name}, {p.dates()}" for p in pairings) + f"): {ADD_ONE}")
    raise UnknownDesignator(f"airline {code!r} maps to several IATA designators on {on.isoformat()} "
                            f"({', '.join(sorted(held))}): send the IATA designator")


def airport(code: str) -> str:
    """The IATA code of an airport named by its ICAO (4 letters) or IATA (3) code."""
    if len(code) == 3:
        return code
    known = _airports().get(code)
    iata = known["iata"] if known else None
    if not iata:
        raise UnknownDesignator(f"airport {code!r} has no IATA code on record")
    return iata


def extract(optd_csv: str) -> list[dict[str, str]]:
    """The rows of OpenTravelData's `optd_airlines.csv` that pair an ICAO and an IATA designator."""
    rows = []
    for row in csv.DictReader(io.StringIO(optd_csv), delimiter="^"):
        icao, iata = row["3char_code"].strip(), row["2char_code"].strip()
        if len(icao) == 3 and icao.isalpha() and len(iata) == 2 and iata.isalnum():
            rows.append({"icao": icao, "iata": iata, "valid_from": row["validity_from"],
                         "valid_to": row["validity_to"], "name": row["name"]})
    return sorted(rows, key=lambda r: (r["icao"], r["valid_from"], r["iata"]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    rows = extract(Path(argv[0]).read_text(encoding="utf-8"))
    with TABLE.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["icao", "iata", "valid_from", "valid_to", "name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} pairings written to {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
