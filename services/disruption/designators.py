"""ICAO designators → IATA ones, as of a date. Pure lookups over maintained data, no I/O beyond
reading the tables once.

Airports come from airportsdata (ICAO locations with their IATA codes). Airlines come from
OpenTravelData's curated airline list (https://github.com/opentraveldata/opentraveldata,
`opentraveldata/optd_airlines.csv`, CC BY 4.0), cut down to `data/airline_designators.csv`: each
ICAO three-letter designator with the IATA two-character designator it was paired with and the
dates the pairing held. IATA reassigns two-character codes (Polet's YQ, Tigerair's TR then TT), so
the date of the flight decides. Refresh the table with

    python -m services.disruption.designators PATH/TO/optd_airlines.csv
"""

import csv
import functools
import io
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


@functools.cache
def _airlines() -> dict[str, tuple[Pairing, ...]]:
    pairings: dict[str, list[Pairing]] = {}
    with TABLE.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            pairings.setdefault(row["icao"], []).append(Pairing(
                row["iata"], row["name"], date.fromisoformat(row["valid_from"]) if row["valid_from"] else None,
                date.fromisoformat(row["valid_to"]) if row["valid_to"] else None))
    return {icao: tuple(p) for icao, p in pairings.items()}


@functools.cache
def _airports() -> dict[str, airportsdata.Airport]:
    return airportsdata.load("ICAO")


def airline(code: str, on: date) -> str:
    """The IATA designator of an airline named by its ICAO (3 letters) or IATA (2) designator."""
    if len(code) == 2:
        return code
    pairings = _airlines().get(code, ())
    if not pairings:
        raise UnknownDesignator(f"airline {code!r} has no IATA designator on record (ICAO designators are "
                                "mapped with OpenTravelData's airline list)")
    held = {p.iata for p in pairings if p.holds_on(on)}
    if len(held) == 1:
        return held.pop()
    if not held and len({p.iata for p in pairings}) == 1 and all(p.valid_to is None or on <= p.valid_to
                                                                  for p in pairings):
        # Recorded start dates are often a rebrand's (TUI Airways, once Thomson, both TOM/BY); an
        # ended pairing is not stretched: the code may since belong to another airline.
        return pairings[0].iata
    if not held:
        raise UnknownDesignator(f"airline {code!r} had no IATA designator on {on.isoformat()}")
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
