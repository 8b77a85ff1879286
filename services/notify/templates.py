"""The words passengers read, in their language. Pure apart from loading the template files.

Templates are `<kind>.<channel>.<locale>.j2` (channel `sms` or `email`; app push uses the SMS
text); a locale without a template of its own falls back to English. Times are shown on the
airport's own clock, in the locale's way."""

import json
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

import babel.dates
import babel.numbers
import jinja2

from services.notify import replies
from shared import airports, notices

Channel = Literal["sms", "email"]
TEMPLATES = Path(__file__).parent / "templates"
LOCALES = ("en", "es", "fr", "de")

# Each cause category (shared.events.Cause) in words, as a notice says why.
CAUSES = {
    "en": {"weather": "because of the weather",
           "technical": "because of a technical problem with the aircraft",
           "crew": "because the crew could not be there in time",
           "air_traffic_control": "because of air traffic control restrictions",
           "security": "for security reasons",
           "airport": "because of restrictions at the airport"},
    "es": {"weather": "por el mal tiempo",
           "technical": "por un problema técnico del avión",
           "crew": "porque la tripulación no pudo llegar a tiempo",
           "air_traffic_control": "por restricciones del control aéreo",
           "security": "por motivos de seguridad",
           "airport": "por restricciones en el aeropuerto"},
    "fr": {"weather": "en raison de la météo",
           "technical": "en raison d'un problème technique sur l'avion",
           "crew": "car l'équipage n'a pas pu être là à temps",
           "air_traffic_control": "en raison de restrictions du contrôle aérien",
           "security": "pour des raisons de sécurité",
           "airport": "en raison de restrictions à l'aéroport"},
    "de": {"weather": "wegen des Wetters",
           "technical": "wegen eines technischen Problems am Flugzeug",
           "crew": "weil die Crew nicht rechtzeitig da sein konnte",
           "air_traffic_control": "wegen Einschränkungen der Flugsicherung",
           "security": "aus Sicherheitsgründen",
           "airport": "wegen Einschränkungen am Flughafen"},
}
CABINS = {"es": {"economy": "turista", "premium economy": "turista superior", "business": "business",
                 "first": "primera"},
          "fr": {"economy": "économique", "premium economy": "économique premium", "business": "affaires",
                 "first": "première"},
          "de": {"economy": "Economy", "premium economy": "Premium Economy", "business": "Business",
                 "first": "First"}}
# Dates as each language writes them (names from the Unicode CLDR, through Babel): a day and a
# date, and a date with its year.
_DAY = {"en": "EEEE d MMMM", "es": "EEEE d 'de' MMMM", "fr": "EEEE d MMMM", "de": "EEEE, d. MMMM"}
_SHORT = {"en": "EEE d MMM", "es": "EEE d MMM", "fr": "EEE d MMM", "de": "EEE, d. MMM"}
_LONG = {"en": "d MMMM y", "es": "d 'de' MMMM 'de' y", "fr": "d MMMM y", "de": "d. MMMM y"}

# GSM 03.38: the characters one 160-character SMS segment can carry (the extension table's
# characters take two).
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€")


# What notify renders: a notice the services ask for, or its own reply to a passenger.
Words = notices.Notice | replies.ConversationReply


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str


def city(code: str) -> str:
    try:
        return airports.city_name(code) or code
    except KeyError:
        return code


def _local(moment: datetime, airport: str) -> datetime:
    try:
        return moment.astimezone(airports.zone_of(airport))
    except KeyError:
        return moment


def _language(ctx: jinja2.runtime.Context) -> str:
    language = ctx.get("locale")
    return language if language in LOCALES else "en"


@jinja2.pass_context
def local_time(ctx: jinja2.runtime.Context, moment: datetime, airport: str) -> str:
    """'6:40 pm' (English), '18:40' (Spanish, French, German) at the airport's own clock."""
    t = _local(moment, airport)
    language = _language(ctx)
    if language == "en":
        return f"{t.hour % 12 or 12}:{t.minute:02d} {'am' if t.hour < 12 else 'pm'}"
    return f"{t.hour}:{t.minute:02d}" if language == "es" else f"{t.hour:02d}:{t.minute:02d}"


@jinja2.pass_context
def local_date(ctx: jinja2.runtime.Context, moment: datetime, airport: str) -> str:
    """'Friday 8 February', 'viernes 8 de febrero', 'vendredi 8 février', 'Freitag, 8. Februar'
    at the airport's own clock."""
    language = _language(ctx)
    return babel.dates.format_date(_local(moment, airport), _DAY[language], locale=language)


@jinja2.pass_context
def short_date(ctx: jinja2.runtime.Context, moment: datetime, airport: str) -> str:
    """'Sat 9 Feb', 'sáb 9 feb', 'sam. 9 févr.', 'Sa., 9. Feb.' at the airport's own clock: a
    text's list of flights."""
    language = _language(ctx)
    return babel.dates.format_date(_local(moment, airport), _SHORT[language], locale=language)


@jinja2.pass_context
def long_date(ctx: jinja2.runtime.Context, t: datetime) -> str:
    """'12 March 2025', '12 de marzo de 2025', '12 mars 2025', '12. März 2025'."""
    language = _language(ctx)
    return babel.dates.format_date(t, _LONG[language], locale=language)


@jinja2.pass_context
def cause_words(ctx: jinja2.runtime.Context, cause: str) -> str:
    return CAUSES.get(ctx.get("locale"), CAUSES["en"]).get(cause, "")


@jinja2.pass_context
def cabin_words(ctx: jinja2.runtime.Context, cabin: str) -> str:
    return CABINS.get(ctx.get("locale"), {}).get(cabin, cabin)


def money(amount: Decimal | str | float, currency: str, language: str = "en") -> str:
    """'$1,200', '€400' (English and Spanish); '400 €', '1.200,50 €' as French and German write
    them (the Unicode CLDR's, through Babel)."""
    if language in ("fr", "de"):
        text = babel.numbers.format_currency(Decimal(str(amount)), currency, locale=language)
        return text.replace(",00\u00a0", "\u00a0").replace("\u202f", " ").replace("\u00a0", " ")
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$"}.get(currency, currency + " ")
    return f"{symbol}{float(amount):,.2f}".removesuffix(".00")


@jinja2.pass_context
def _money(ctx: jinja2.runtime.Context, amount: Decimal | str | float, currency: str) -> str:
    return money(amount, currency, _language(ctx))


def gsm_safe(text: str) -> str:
    """The text in the SMS alphabet where it can be: accented letters the alphabet lacks lose
    their accent (á → a), as carriers' "smart encoding" does, so a Spanish text stays one
    160-character segment instead of 70-character ones. Other scripts are left alone."""
    out = []
    for ch in text:
        if ch in _GSM or ch in _GSM_EXTENDED:
            out.append(ch)
            continue
        plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        out.append(plain if plain and all(c in _GSM for c in plain) else
                   {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."}.get(ch, ch))
    return "".join(out)


def sms_segments(text: str) -> int:
    """How many segments a text takes: 160 GSM-7 characters in one (153 each when split), else
    70 UCS-2 code units (67 each when split)."""
    if all(ch in _GSM or ch in _GSM_EXTENDED for ch in text):
        units, single, multi = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text), 160, 153
    else:
        units, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters |= {"city": city, "local_time": local_time, "local_date": local_date, "short_date": short_date,
                    "long_date": long_date, "money": _money, "cause_words": cause_words, "cabin": cabin_words}
    return env


def render_notice(notice: Words, channel: Channel, locale: str, given_name: str,
                  passenger_id: str | None = None) -> RenderedNotice:
    """Render one notice for one passenger (a notice may cover the whole booking); an email
    template sets `subject`, an SMS has none. Sealed secrets must be opened before."""
    language = locale.split("-")[0]
    language = language if language in LOCALES else "en"
    try:
        tmpl = _environment().get_template(f"{notice.kind}.{channel}.{language}.j2")
    except jinja2.TemplateNotFound:
        language = "en"
        tmpl = _environment().get_template(f"{notice.kind}.{channel}.en.j2")
    # A rebooked passenger's own link to choose (one per passenger, already opened).
    choice_url = notice.choice_urls.get(passenger_id or "") if isinstance(notice, notices.Rebooked) else None
    if choice_url and language != "en":  # the page in the language the message is in
        choice_url += ("&" if "?" in choice_url else "?") + f"lang={language}"
    module = tmpl.make_module({"facts": notice, "name": given_name, "passenger_id": passenger_id,
                               "locale": language, "choice_url": choice_url})
    body = "\n".join(line.rstrip() for line in str(module).strip().splitlines())
    if channel == "sms":
        body = gsm_safe(body)
    return RenderedNotice(subject=getattr(module, "subject", ""), body=body)


# Where the passenger's name goes in a text rendered once for many passengers: a private-use
# character, which neither the templates nor `gsm_safe` touch.
NAME_HERE = "\ue000"


@cache
def _per_passenger(kind: str, channel: Channel, language: str) -> bool:
    """Whether a template says something of the passenger beyond their name (their own link)."""
    files = [TEMPLATES / f"{kind}.{channel}.{language}.j2", TEMPLATES / f"{kind}.{channel}.en.j2"]
    source = next((f.read_text() for f in files if f.exists()), "")
    return "passenger_id" in source or "choice_url" in source


class Renderer:
    """Renders many deliveries' notices, each distinct text once: a cancelled aircraft's first
    notices are a few texts (one per language and channel) with each passenger's name put in."""

    def __init__(self, read: Callable[[str, dict], Words]) -> None:
        """`read`: a notice from its kind and stored facts (opening what was sealed for notify)."""
        self._read = read
        self._texts: dict[tuple, RenderedNotice] = {}
        # Each distinct notice read (its sealed links opened) once, not once per passenger and
        # channel: a booking's rebooking notice holds every passenger's sealed link.
        self._notices: dict[tuple[str, str], Words] = {}

    def render(self, kind: str, facts: dict, channel: Channel, locale: str, given_name: str,
               passenger_id: str) -> RenderedNotice:
        language = locale.split("-")[0]
        own = _per_passenger(kind, channel, language if language in LOCALES else "en")
        said = json.dumps(facts, sort_keys=True, default=str)
        key = (kind, said, channel, locale, passenger_id if own else None)
        if key not in self._texts:
            if (kind, said) not in self._notices:
                self._notices[kind, said] = self._read(kind, facts)
            self._texts[key] = render_notice(self._notices[kind, said], channel, locale, NAME_HERE, passenger_id)
        text = self._texts[key]
        name = gsm_safe(given_name) if channel == "sms" else given_name
        return RenderedNotice(text.subject.replace(NAME_HERE, name), text.body.replace(NAME_HERE, name))
