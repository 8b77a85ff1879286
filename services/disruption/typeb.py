"""What every Type B reader shares: the error that names a line, designators, dates, times and
causes. Pure: no I/O."""

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from services.disruption import designators
from shared.events import Cause, DelayCode, FlightEventData

if TYPE_CHECKING:
    from services.disruption.telex import Line

MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}

# A flight designator: an IATA airline designator (two characters) or an ICAO one (three letters,
# told apart because an IATA designator is followed at once by the flight number's digits), the
# number and an operational suffix. Some senders put a space after the airline designator. Type B
# text is ASCII: every pattern is compiled with re.ASCII, so \d is 0-9.
DESIGNATOR = r"(?P<carrier>[A-Z]{3}(?= ?\d)|[A-Z0-9]{2}) ?(?P<number>\d{1,4}[A-Z]?)"
STATION = r"[A-Z]{3,4}"


class MessageError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Parsed:
    """One message (a Type B message, or an AIDX flight leg): where it starts in what was sent —
    its first line, or the leg's position — and its events or its error."""

    line: int
    events: list[FlightEventData]
    error: MessageError | None = None
    kind: str | None = None
    notes: list[str] = field(default_factory=list)


def carrier(code: str, on: date, line: int) -> str:
    """The IATA designator for an airline named by its IATA or ICAO designator."""
    try:
        return designators.airline(code, on)
    except designators.UnknownDesignator as exc:
        raise MessageError(line, str(exc)) from None


def station(code: str, line: int) -> str:
    """The IATA code for an airport named by its IATA or ICAO code."""
    try:
        return designators.airport(code)
    except designators.UnknownDesignator as exc:
        raise MessageError(line, str(exc)) from None


# --- dates and times ----------------------------------------------------------------------------


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def nearest_day_of_month(day: int, near: date, line: int = 0) -> date:
    """The date with this day of the month closest to `near` (this, the last or the next month)."""
    candidates = []
    for shift in (-1, 0, 1):
        month_index = near.year * 12 + near.month - 1 + shift
        if d := _date(month_index // 12, month_index % 12 + 1, day):
            candidates.append(d)
    if not candidates:
        raise MessageError(line, f"day {day:02d} is not a day of the month")
    return min(candidates, key=lambda d: abs(d - near))


_DATE = re.compile(r"(\d{1,2})([A-Z]{3})?(\d{2})?", re.ASCII)


def date_of(token: str, near: date, line: int) -> date:
    """`ddMMMyy`, `ddMMM` (the year nearest `near`) or `dd` (the month nearest `near`)."""
    parts = _DATE.fullmatch(token)
    if parts is None:
        raise MessageError(line, f"date {token!r}: expected ddMMMyy, ddMMM or dd")
    if parts[2] is None:
        return nearest_day_of_month(int(parts[1]), near, line)
    day, month = int(parts[1]), MONTHS.get(parts[2])
    if month is None:
        raise MessageError(line, f"date {token!r}: unknown month {parts[2]!r}")
    years = [2000 + int(parts[3])] if parts[3] else [near.year - 1, near.year, near.year + 1]
    candidates = [d for y in years if (d := _date(y, month, day))]
    if not candidates:
        raise MessageError(line, f"date {token!r} does not exist")
    return min(candidates, key=lambda d: abs(d - near))


def hhmm(token: str, line: int) -> time:
    hours, minutes = int(token[:2]), int(token[2:4])
    if hours > 23 or minutes > 59:
        raise MessageError(line, f"time {token!r} is not a valid hhmm")
    return time(hours, minutes)


def movement_time_after(token: str, flight_date: date, after: datetime, line: int) -> datetime:
    """A movement time that follows `after` in the same message (a take-off its off-block, an
    arrival estimate its departure): `ddhhmm` as given; `hhmm`, a time without a day, on the first
    day that keeps the message's order, whatever the flight's date."""
    if len(token) == 6:
        return day_time(token, flight_date, line)
    on_the_day = datetime.combine(after.astimezone(UTC).date(), hhmm(token, line), tzinfo=UTC)
    return on_the_day if on_the_day >= after else on_the_day + timedelta(days=1)


def day_time(token: str, near: date, line: int) -> datetime:
    """`ddhhmm` in UTC: that day of the month nearest `near`."""
    day = nearest_day_of_month(int(token[:2]), near, line)
    return datetime.combine(day, hhmm(token[2:], line), tzinfo=UTC)


def movement_time(token: str, flight_date: date, near: datetime, line: int) -> datetime:
    """A movement time in UTC: `ddhhmm`, or `hhmm` on the flight's date — or the day after, when the
    movement crossed midnight (judged against `near`: the receipt, or the departure it follows)."""
    if len(token) == 6:
        return day_time(token, flight_date, line)
    same_day = datetime.combine(flight_date, hhmm(token, line), tzinfo=UTC)
    next_day = same_day + timedelta(days=1)
    if abs(near - same_day) > timedelta(hours=36):
        return same_day  # received long after: no way to tell, so the scheduled day
    return min((same_day, next_day), key=lambda t: abs(t - near) if t >= near - timedelta(hours=12)
               else timedelta.max)


# --- causes -------------------------------------------------------------------------------------


def cause_of_delay_code(code: str) -> Cause:
    """The cause category of an IATA delay code (AHM 730)."""
    n = int(code[:2])
    if 71 <= n <= 79:
        return "weather"
    if 81 <= n <= 84:
        return "air_traffic_control"
    if n == 85:
        return "security"
    if 86 <= n <= 89:
        return "airport"
    if 41 <= n <= 58:
        return "technical"
    if 63 <= n <= 68:
        return "crew"
    return "other"


def cause_of(codes: list[DelayCode]) -> Cause:
    return cause_of_delay_code(codes[0].code) if codes else "other"


# Words in supplementary information that name a cause.
_CAUSE_WORDS: dict[str, Cause] = {
    "WEATHER": "weather", "WX": "weather", "SNOW": "weather", "STORM": "weather", "FOG": "weather",
    "ICE": "weather", "DEICING": "weather", "DE-ICING": "weather", "WIND": "weather", "THUNDER": "weather",
    "TECH": "technical", "TECHNICAL": "technical", "AOG": "technical", "ENGINE": "technical",
    "MAINT": "technical", "DEFECT": "technical", "CREW": "crew",
    "ATC": "air_traffic_control", "ATFM": "air_traffic_control", "SLOT": "air_traffic_control",
    "SECURITY": "security", "STRIKE": "other",
}
# SSIM chapter 5 schedule change reasons, after an ASM/SSM action identifier (`CNL WEAT`).
REASON_CODES: dict[str, Cause] = {
    "WEAT": "weather", "TECH": "technical", "EQUI": "technical", "CREW": "crew",
    "ATCC": "air_traffic_control", "CONG": "air_traffic_control", "AIRS": "airport", "AIRP": "airport",
    "SECU": "security", "INDU": "other", "COMM": "other", "OPER": "other", "ROUT": "other", "SEAS": "other",
}


def cause_in_text(text: str) -> Cause | None:
    """The first cause a line of free text names, if any (`SI SNOWSTORM AT JFK` → weather)."""
    for word, cause in _CAUSE_WORDS.items():
        if re.search(rf"\b{re.escape(word)}", text):
            return cause
    return None


def supplementary(lines: list["Line"]) -> tuple[list["Line"], Cause | None]:
    """The lines before `SI`, and the first cause its free text names: SI and every line after it
    are supplementary information (`FR 50500` there is fuel, not a forced return)."""
    for i, line in enumerate(lines):
        if line.text == "SI" or line.text.startswith("SI "):
            return lines[:i], next((cause for later in lines[i:] if (cause := cause_in_text(later.text))), None)
    return lines, None
