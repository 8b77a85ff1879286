"""The words passengers read. Pure apart from loading the template files."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import airportsdata
import jinja2

Channel = Literal["sms", "email"]

REASONS = {
    "weather": "because of the weather",
    "technical": "because of a technical problem with the aircraft",
    "crew": "because the crew could not be there in time",
    "air_traffic_control": "because of air traffic control restrictions",
    "security": "for security reasons",
    "airport": "because of restrictions at the airport",
    "other": "",
}


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str


@cache
def _airports() -> dict[str, dict[str, Any]]:
    return airportsdata.load("IATA")


def city(code: str) -> str:
    airport = _airports().get(code)
    return airport["city"] if airport and airport.get("city") else code


def _local(iso: str, airport: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    tz = _airports().get(airport, {}).get("tz")
    return moment.astimezone(ZoneInfo(tz)) if tz else moment


def local_time(iso: str, airport: str) -> str:
    """'6:40 pm' at the airport's own clock."""
    t = _local(iso, airport)
    return f"{t.hour % 12 or 12}:{t.minute:02d} {'am' if t.hour < 12 else 'pm'}"


def local_date(iso: str, airport: str) -> str:
    """'Friday 8 February' at the airport's own clock."""
    t = _local(iso, airport)
    return f"{t:%A} {t.day} {t:%B}"


def long_date(iso: str) -> str:
    """'12 March 2025'."""
    t = datetime.fromisoformat(iso)
    return f"{t.day} {t:%B %Y}"


def money(amount: str | float, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$"}.get(currency, currency + " ")
    return f"{symbol}{float(amount):,.2f}".removesuffix(".00")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters |= {"city": city, "local_time": local_time, "local_date": local_date,
                    "money": money, "long_date": long_date, "reason_words": lambda r: REASONS.get(r, "")}
    return env


def render_notice(template: str, channel: Channel, locale: str, facts: dict[str, Any],
                  given_name: str, passenger_id: str | None = None) -> RenderedNotice:
    """Render one notice for one passenger (facts may cover the whole booking); an email template
    sets `subject`, an SMS has none."""
    tmpl = _environment().select_template(
        [f"{template}.{channel}.{locale}.j2", f"{template}.{channel}.en.j2"])
    module = tmpl.make_module({"facts": facts, "name": given_name, "passenger_id": passenger_id})
    body = "\n".join(line.rstrip() for line in str(module).strip().splitlines())
    return RenderedNotice(subject=getattr(module, "subject", ""), body=body)
