"""The wire's scalar types, shared by the events (shared/events.py) and the notices they carry
(shared/notices.py): times, dates and amounts as the contract writes them, and a notice's stage."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field


def _not_a_number(value: Any) -> Any:
    """A time on the wire is an ISO 8601 string: a bare number (seconds? milliseconds?) is refused,
    not guessed at."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a time is an ISO 8601 string such as 2013-02-08T15:00:00Z, not a number")
    return value


Instant = Annotated[datetime, BeforeValidator(_not_a_number)]


def _a_date_not_a_number(value: Any) -> Any:
    """A date on the wire is an ISO 8601 string, as the schema says: pydantic would read a number
    as a Unix time (found by the negative API tests: `"departure_date": 0` was accepted)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a date is an ISO 8601 string such as 2013-02-08, not a number")
    return value


Day = Annotated[date, BeforeValidator(_a_date_not_a_number)]

# A sum of money in major units: bounded in size and in decimals, so an amount like `1E+200000` is
# refused when it is read rather than costing seconds of CPU in every sum it meets.
Money = Annotated[Decimal, Field(ge=0, le=10 ** 9, decimal_places=6)]

# `desk`: a message an ops agent reviewed and sent to a flight's passengers.
Stage = Literal["first_notice", "rebooking", "choice", "entitlements", "desk"]
