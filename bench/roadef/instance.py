"""A ROADEF/EURO 2009 instance (Amadeus), read from its files.

The format (the challenge subject, as the instances and the two checkers' specifications in
`../shared/roadef2009/docs/` use it): one clock, no time zones; dates `dd/mm/yy`; fields separated by
spaces; every file ends with a line `#`. A time may carry a day offset (`00:10+1`: the next day).
A malformed line is refused with its file, line and field (`InstanceError`), never guessed at."""

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

CABINS = ("E", "B", "F")  # lowest to highest
TYPES = ("D", "C", "I")  # domestic, continental, intercontinental: the lowest to the highest


class InstanceError(ValueError):
    """A file of the instance that cannot be read: which file, line and field, and why."""

    def __init__(self, path: Path, line: int, what: str, why: str) -> None:
        super().__init__(f"{path}:{line}: {what}: {why}")


def data_root() -> Path:
    """Where the challenge data lies: REBOUND_ROADEF_DIR, or `../shared/roadef2009` beside the
    project (never in it: nothing of the data is committed)."""
    configured = os.environ.get("REBOUND_ROADEF_DIR")
    root = Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "roadef2009"
    if not root.is_dir():
        raise FileNotFoundError(
            f"the ROADEF 2009 data is not at {root}: lay ../shared/roadef2009 beside the project, "
            "or set REBOUND_ROADEF_DIR")
    return root


@dataclass(frozen=True)
class Leg:
    flight: str
    day: date
    cabin: str

    @property
    def key(self) -> tuple[str, date]:
        return self.flight, self.day


@dataclass(frozen=True)
class Itinerary:
    """A group of identical passengers and their journey (up to four legs), or `cancelled`."""

    id: str
    kind: str  # A: outbound (a one-way trip or a round trip's way out), R: inbound
    price: Decimal
    count: int
    legs: tuple[Leg, ...]
    cancelled: bool = False


@dataclass(frozen=True)
class Flight:
    """A flight as flown on one day: the original schedule's, or a recovered schedule's."""

    number: str
    day: date
    origin: str
    destination: str
    departure: datetime
    arrival: datetime
    tail: str | None = None

    @property
    def key(self) -> tuple[str, date]:
        return self.number, self.day

    @property
    def hours(self) -> int:
        """Its duration in hours, a part of an hour counting as one: how the official cost checker
        charged a flight's operating cost (§4.1.7–4.1.9), as its figures on the peer's schedules show
        (90 minutes are charged as 2 hours, 60 as 1)."""
        return -(-int((self.arrival - self.departure) / timedelta(minutes=1)) // 60)


@dataclass(frozen=True)
class Aircraft:
    tail: str
    model: str
    family: str
    configuration: str
    seats: dict[str, int]  # cabin → seats; -1: unlimited (a ground transfer)
    cost_per_hour: Decimal
    origin: str


@dataclass(frozen=True)
class Config:
    window_start: datetime
    window_end: datetime
    delay: dict[tuple[str, str], Decimal]  # (cabin, type) → per passenger-minute
    outbound_cancellation: dict[tuple[str, str], Decimal]
    inbound_cancellation: dict[tuple[str, str], Decimal]
    downgrade: dict[tuple[str, str, str], Decimal]  # (booked cabin, flown cabin, leg type) → per leg
    penalty_family: Decimal
    penalty_model: Decimal
    penalty_configuration: Decimal
    alpha: Decimal
    beta: Decimal
    gamma: Decimal


@dataclass
class Instance:
    name: str
    config: Config
    schedule: dict[tuple[str, date], Flight]  # the original schedule: rotations.csv on flights.csv
    leg_type: dict[tuple[str, str], str]  # (origin, destination) → D/C/I
    aircraft: dict[str, Aircraft]
    itineraries: list[Itinerary]
    positions: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # airport → (model, config, n)


class _Lines:
    """A file's data lines, each split in fields, up to its closing `#`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        if not self.path.is_file():
            raise InstanceError(self.path, 0, "file", "missing")
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rt", encoding="ascii", errors="strict") as lines:
            try:
                for number, line in enumerate(lines, 1):
                    text = line.strip()
                    if text == "#":
                        return
                    if text:
                        yield number, text.split()
            except UnicodeDecodeError as exc:
                raise InstanceError(self.path, 0, "encoding", f"not ASCII ({exc.reason})") from exc
        raise InstanceError(self.path, number if "number" in locals() else 0, "end", "no closing '#' line")

    def error(self, line: int, what: str, why: str) -> InstanceError:
        return InstanceError(self.path, line, what, why)

    def rows(self, fields: str) -> Iterator[tuple[int, list[str]]]:
        """The lines, each with exactly the fields named (space-separated in `fields`)."""
        width = len(fields.split())
        for n, f in self:
            if len(f) != width:
                raise self.error(n, "fields", f"{len(f)}, not {width} ({fields})")
            yield n, f


def _day(lines: _Lines, n: int, text: str) -> date:
    try:
        return datetime.strptime(text, "%d/%m/%y").date()
    except ValueError:
        raise lines.error(n, "date", f"{text!r} is not dd/mm/yy") from None


def _clock(lines: _Lines, n: int, text: str) -> timedelta:
    """`HH:MM`, with an optional day offset `+N`: the time after the day's midnight."""
    clock, _, offset = text.partition("+")
    try:
        hours, minutes = (int(p) for p in clock.split(":"))
        days = int(offset) if offset else 0
    except ValueError:
        raise lines.error(n, "time", f"{text!r} is not HH:MM[+d]") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60 and days >= 0):
        raise lines.error(n, "time", f"{text!r} is not a time of day")
    return timedelta(days=days, hours=hours, minutes=minutes)


def _money(lines: _Lines, n: int, what: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise lines.error(n, what, f"{text!r} is not a number") from None
    if not value.is_finite():
        raise lines.error(n, what, f"{text!r} is not a number")
    return value


def _count(lines: _Lines, n: int, what: str, text: str) -> int:
    if not text.lstrip("-").isdigit():
        raise lines.error(n, what, f"{text!r} is not a whole number")
    return int(text)


def _table(lines: _Lines, n: int, fields: list[str], width: int, what: str) -> dict[tuple[str, ...], Decimal]:
    """`key… value` repeated: config's cost tables (`F D 1.25 F C 1.25 …`)."""
    if len(fields) % width:
        raise lines.error(n, what, f"{len(fields)} fields, not groups of {width}")
    table = {}
    for i in range(0, len(fields), width):
        *key, value = fields[i:i + width]
        for k in key:
            if k not in CABINS + TYPES:
                raise lines.error(n, what, f"{k!r} is neither a cabin (F/B/E) nor a type (D/C/I)")
        table[tuple(key)] = _money(lines, n, what, value)
    return table


def read_config(path: Path) -> Config:
    lines = _Lines(path)
    rows = list(lines)
    if len(rows) != 7:
        raise lines.error(rows[-1][0] if rows else 1, "lines", f"{len(rows)} data lines, not 7")
    (n0, window), (n1, delay), (n2, out), (n3, inb), (n4, down), (n5, penalties), (n6, weights) = rows
    if len(window) != 4:
        raise lines.error(n0, "recovery window", "not 'dd/mm/yy HH:MM dd/mm/yy HH:MM'")
    start = datetime.combine(_day(lines, n0, window[0]), datetime.min.time()) + _clock(lines, n0, window[1])
    end = datetime.combine(_day(lines, n0, window[2]), datetime.min.time()) + _clock(lines, n0, window[3])
    if len(penalties) != 3 or len(weights) != 3:
        raise lines.error(n5 if len(penalties) != 3 else n6, "penalties/weights", "not three numbers")
    family, model, configuration = (_money(lines, n5, "penalty", p) for p in penalties)
    alpha, beta, gamma = (_money(lines, n6, "weight", w) for w in weights)
    return Config(
        start, end, _table(lines, n1, delay, 3, "delay cost"),  # type: ignore[arg-type]
        _table(lines, n2, out, 3, "outbound cancellation cost"),  # type: ignore[arg-type]
        _table(lines, n3, inb, 3, "inbound cancellation cost"),  # type: ignore[arg-type]
        _table(lines, n4, down, 4, "downgrading cost"),  # type: ignore[arg-type]
        family, model, configuration, alpha, beta, gamma)


def _times(lines: _Lines, n: int, day: date, departure: str, arrival: str) -> tuple[datetime, datetime]:
    midnight = datetime.combine(day, datetime.min.time())
    leaves, lands = midnight + _clock(lines, n, departure), midnight + _clock(lines, n, arrival)
    if lands < leaves:
        raise lines.error(n, "arrival", f"{arrival} is before the departure {departure}")
    return leaves, lands


def read_daily_flights(path: Path) -> dict[str, tuple[str, str, str, str]]:
    """flights.csv: number → (origin, destination, departure, arrival), the times as written."""
    lines = _Lines(path)
    flights = {}
    for n, f in lines.rows("number origin destination departure arrival linked"):
        _clock(lines, n, f[3]), _clock(lines, n, f[4])
        flights[f[0]] = (f[1], f[2], f[3], f[4])
    return flights


def read_schedule(rotations: Path, daily: dict[str, tuple[str, str, str, str]]) -> dict[tuple[str, date], Flight]:
    """rotations.csv: each flight of the original schedule on its day, with its aircraft."""
    lines = _Lines(rotations)
    schedule = {}
    for n, f in lines.rows("flight date aircraft"):
        if f[0] not in daily:
            raise lines.error(n, "flight", f"{f[0]} is not in flights.csv")
        origin, destination, dep, arr = daily[f[0]]
        day = _day(lines, n, f[1])
        schedule[(f[0], day)] = Flight(f[0], day, origin, destination, *_times(lines, n, day, dep, arr), f[2])
    return schedule


def read_recovered(path: Path) -> dict[tuple[str, date], Flight]:
    """sol_rotations.csv: the flights a recovered schedule operates (those it cancels are absent)."""
    lines = _Lines(path)
    flown = {}
    for n, f in lines.rows("flight origin destination departure arrival linked date aircraft"):
        day = _day(lines, n, f[6])
        if f[7] != "cancelled":
            flown[(f[0], day)] = Flight(f[0], day, f[1], f[2], *_times(lines, n, day, f[3], f[4]), f[7])
    return flown


def read_disruptions(path: Path) -> dict[tuple[str, date], int | None]:
    """alt_flights.csv: each disrupted flight's delay in minutes, or None: cancelled (-1)."""
    lines = _Lines(path)
    found: dict[tuple[str, date], int | None] = {}
    for n, f in lines.rows("flight date delay"):
        delay = _count(lines, n, "delay", f[2])
        if delay < -1:
            raise lines.error(n, "delay", f"{delay}: minutes, or -1 for cancelled")
        found[(f[0], _day(lines, n, f[1]))] = None if delay == -1 else delay
    return found


def disrupted_schedule(instance: Instance, folder: Path) -> dict[tuple[str, date], Flight]:
    """The original schedule as the disruptions leave it: each delay applied, each cancelled
    flight gone (no recovery of the aircraft side)."""
    found = {}
    disruptions = read_disruptions(folder / "alt_flights.csv")
    for key, f in instance.schedule.items():
        if key in disruptions and disruptions[key] is None:
            continue
        shift = timedelta(minutes=disruptions.get(key) or 0)
        found[key] = Flight(f.number, f.day, f.origin, f.destination, f.departure + shift, f.arrival + shift, f.tail)
    return found


def read_itineraries(path: Path) -> list[Itinerary]:
    """itineraries.csv, or a solution's sol_itineraries.csv (where a line may end `cancelled`)."""
    lines = _Lines(path)
    found = []
    for n, f in lines:
        if len(f) < 4 or f[1] not in ("A", "R"):
            raise lines.error(n, "itinerary", "not 'id A|R price passengers legs…'")
        rest = f[4:]
        cancelled = bool(rest) and rest[-1] == "cancelled"
        if cancelled:
            rest = rest[:-1]
        if len(rest) % 3 or "cancelled" in rest:
            raise lines.error(n, "legs", "not 'flight dd/mm/yy cabin' repeated (or a leg after 'cancelled')")
        legs = []
        for i in range(0, len(rest), 3):
            if rest[i + 2] not in CABINS:
                raise lines.error(n, "cabin", f"{rest[i + 2]!r} is not F, B or E")
            legs.append(Leg(rest[i], _day(lines, n, rest[i + 1]), rest[i + 2]))
        count = _count(lines, n, "passengers", f[3])
        if count < 0:
            raise lines.error(n, "passengers", f"{count} is negative")
        found.append(Itinerary(f[0], f[1], _money(lines, n, "price", f[2]), count, tuple(legs), cancelled))
    return found


def read_aircraft(path: Path) -> dict[str, Aircraft]:
    lines = _Lines(path)
    fleet = {}
    for n, f in lines.rows("tail model family F/B/E range cost/h turn transit origin maintenance"):
        try:
            first, business, economy = (int(s) for s in f[3].split("/"))
        except ValueError:
            raise lines.error(n, "seats", f"{f[3]!r} is not F/B/E") from None
        fleet[f[0]] = Aircraft(f[0], f[1], f[2], f[3], {"F": first, "B": business, "E": economy},
                               _money(lines, n, "cost per hour", f[5]), f[8])
    return fleet


def read_leg_types(path: Path) -> dict[tuple[str, str], str]:
    lines = _Lines(path)
    types = {}
    for n, f in lines:
        if len(f) != 4 or f[3] not in TYPES:
            raise lines.error(n, "fields", "not 'origin destination distance D|C|I'")
        types[(f[0], f[1])] = f[3]
    return types


def read_positions(path: Path) -> dict[str, list[tuple[str, str, int]]]:
    """position.csv: the aircraft each airport needs at the end of the window, by model and seats.
    Each line ends with its own `#`: the file has no separate closing line."""
    wanted: dict[str, list[tuple[str, str, int]]] = {}
    if not path.is_file():
        raise InstanceError(path, 0, "file", "missing")
    for n, line in enumerate(path.read_text("ascii").splitlines(), 1):
        f = line.split()
        if not f or f == ["#"]:
            continue
        if f[-1] != "#" or (len(f) - 2) % 3:
            raise InstanceError(path, n, "fields", "not 'airport (model F/B/E count)… #'")
        wanted[f[0]] = [(f[i], f[i + 1], _count(_Lines(path), n, "count", f[i + 2])) for i in range(1, len(f) - 1, 3)]
    return wanted


def read_instance(folder: Path) -> Instance:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no instance at {folder}")
    daily = read_daily_flights(folder / "flights.csv")
    return Instance(
        folder.name, read_config(folder / "config.csv"), read_schedule(folder / "rotations.csv", daily),
        read_leg_types(folder / "dist.csv"), read_aircraft(folder / "aircraft.csv"),
        read_itineraries(folder / "itineraries.csv"), read_positions(folder / "position.csv"))
