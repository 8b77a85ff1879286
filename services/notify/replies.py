"""What a passenger's reply says, and what we answer. Pure: no I/O.

A text is a keyword only when it is one, whole: `STOP`, `stop!`, ` Stop ` are; `stop texting me
about the refund` is a message for a person. That is how the messaging industry's opt-out
handling reads replies (Twilio's and Braze's defaults: "only the exact, single-word message",
case-insensitive), so what a carrier filters and what Rebound records agree. Opt-out and opt-in
keywords are the industry's in English (Twilio: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT,
REVOKE, OPTOUT; START, UNSTOP, YES; HELP, INFO) and AWS's French `ARRET`, with each language's
own beside them. The choice keywords are the choice page's three answers and a person."""

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from shared.notices import Facts
from shared.wire import Instant

# The stage of a reply's delivery: notify's own, never reported on `notice-deliveries`.
STAGE = "conversation"
Intent = Literal["opt_out", "opt_in", "help", "keep", "change", "refund", "agent", "option", "message"]
LANGUAGES = ("en", "es", "fr", "de")
# Other flights a text lists, numbered: three keep it within two SMS parts (the choice page
# shows them all).
MOST_OPTIONS = 3
# A text a person writes to a person: longer is an email's business (a text is at most ten parts).
MOST_TEXT = 1600

KEYWORDS: dict[Intent, dict[str, tuple[str, ...]]] = {
    "opt_out": {"en": ("STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                       "OPTOUT", "OPT OUT", "OPT-OUT"),
                "es": ("BAJA", "PARAR"),
                "fr": ("ARRET", "DESABONNER", "DESINSCRIRE"),
                "de": ("STOPP", "ABMELDEN", "ABBESTELLEN")},
    "opt_in": {"en": ("START", "UNSTOP", "YES"),
               "es": ("ALTA", "SI"),
               "fr": ("OUI", "REPRENDRE"),
               "de": ("JA", "ANMELDEN")},
    "help": {"en": ("HELP", "INFO"), "es": ("AYUDA",), "fr": ("AIDE",), "de": ("HILFE",)},
    "keep": {"en": ("KEEP", "OK", "ACCEPT"), "es": ("MANTENER", "ACEPTAR", "VALE"),
             "fr": ("GARDER", "ACCEPTER", "D'ACCORD"), "de": ("BEHALTEN", "ANNEHMEN")},
    "change": {"en": ("CHANGE", "OPTIONS", "OTHER"), "es": ("CAMBIAR", "OPCIONES", "OTRO"),
               "fr": ("CHANGER", "AUTRE"), "de": ("ANDERN", "OPTIONEN", "UMBUCHEN")},
    "refund": {"en": ("REFUND",), "es": ("REEMBOLSO", "DEVOLUCION"), "fr": ("REMBOURSEMENT", "REMBOURSER"),
               "de": ("ERSTATTUNG", "ERSTATTEN")},
    "agent": {"en": ("AGENT", "PERSON", "HUMAN", "CALL ME"), "es": ("AGENTE", "PERSONA"),
              "fr": ("CONSEILLER", "AGENT"), "de": ("MITARBEITER", "BERATER")},
}
# Opt-in words that are also a plain yes: from a number not opted out, they accept the offer.
YES = ("YES", "SI", "OUI", "JA")
_BY_WORD: dict[str, tuple[Intent, str]] = {}
for _intent, _words in KEYWORDS.items():
    for _language, _list in _words.items():
        for _word in _list:
            _BY_WORD.setdefault(_word, (_intent, _language))
_EDGES = re.compile(r"^[\s\"'.,;:!?¡¿()*-]+|[\s\"'.,;:!?¡¿()*-]+$")


@dataclass(frozen=True)
class Said:
    """What a reply was read as: its intent, the option it picks (`option`), and the language of
    its keyword, if it is one only that language has."""

    intent: Intent
    option: int | None = None
    language: str | None = None
    word: str = ""


def plain(text: str) -> str:
    """The text as keywords are compared: accents and case gone, the edges' punctuation and
    spaces trimmed, inner spaces single (`  Ärret! ` → `ARRET`)."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(_EDGES.sub("", stripped).upper().split())


def read(text: str) -> Said:
    """What a reply says."""
    word = plain(text)
    if word.isdigit() and len(word) == 1 and word != "0":
        return Said("option", option=int(word))
    if word in _BY_WORD:
        intent, language = _BY_WORD[word]
        return Said(intent, language=None if language == "en" else language, word=word)
    return Said("message")


# Where an email reply's quoted history begins: the mail clients' own markers.
_QUOTED = re.compile(r"^(>|On .{1,200} wrote:|Le .{1,200} a écrit|El .{1,200} escribió|Am .{1,200} schrieb"
                     r"|-{2,} ?Original Message|From: )", re.IGNORECASE)


def own_words(text: str) -> str:
    """An email reply without the message it quotes: what the passenger wrote above it."""
    lines = []
    for line in text.splitlines():
        if _QUOTED.match(line.strip()):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def read_email(text: str) -> Said:
    """What an email reply says: its own words read as a text's are; an opt-out or opt-in keyword
    is for a person (the industry's keywords are a text's, and an email's unsubscribe is its
    own link), and so is anything longer than one line."""
    said = read(own_words(text))
    return Said("message") if said.intent in ("opt_out", "opt_in") else said


def language_of(said: Said, known: str | None) -> str:
    """The language to answer in: the passenger's own where we know it and speak it, else the
    keyword's, else English."""
    for language in (known and known.split("-")[0], said.language):
        if language in LANGUAGES:
            return language
    return "en"


Topic = Literal[
    "opted_out",     # STOP: confirmed once, the last text the number gets
    "opted_in",      # START: texts again
    "help",          # HELP: what can be replied, and how to stop
    "received",      # a message for a person: when one will answer
    "unknown",       # a number or address we hold no booking for: a person will look
    "options",       # CHANGE: the other flights with seats, numbered
    "no_options",    # CHANGE with none: a person will look
    "kept",          # KEEP: the new flight stands
    "refunding",     # REFUND: the refund is under way
    "changing",      # a number: moved; the new plan follows
    "nothing_open",  # a choice with nothing to choose: a person will look
    "not_now",       # a choice the airline could not take now (answered already, expired, gone)
    "answer",        # an agent's own words
]


class Option(Facts):
    """Another flight, as a text offers it: the flights (`B6 1305`, or two joined by `+`),
    where it leaves from and when, and when it arrives where."""

    flights: str
    origin: str
    destination: str
    departure: Instant
    arrival: Instant


class ConversationReply(Facts):
    """What notify itself answers a passenger, rendered from `conversation_reply.<channel>.
    <language>.j2`. Never on a topic: it is made and read by notify alone."""

    kind: Literal["conversation_reply"] = "conversation_reply"
    topic: Topic
    answer_within: int | None = None  # minutes, where a person will answer
    options: list["Option"] = Field(default=[], max_length=MOST_OPTIONS)
    text: str | None = Field(default=None, max_length=MOST_TEXT)  # an agent's answer
    help_line: str | None = None  # where a person answers at once: the airline's phone line
    passenger_id: str | None = None  # whose contact names them, where we know them
    # The language to answer in where no contact says (a number we do not know).
    language: Literal["en", "es", "fr", "de"] = "en"


KINDS = {"conversation_reply": ConversationReply}


def read_facts(kind: str, facts: dict[str, object]) -> ConversationReply:
    return KINDS[kind].model_validate(facts)


def may_text_after_stop(kind: str, facts: dict[str, object]) -> bool:
    """A number that replied STOP gets one text more: the confirmation."""
    return kind == "conversation_reply" and facts.get("topic") == "opted_out"


@dataclass(frozen=True)
class Answer:
    """What notify does with a reply: the reply it sends (if any), whether a person must look
    (`for_agent`), the number's opt-out changed (`opt`), or the choice left to rebooking
    (`decide`: the same answer the choice page gives, by the same rules)."""

    topic: Topic | None
    for_agent: bool = False
    opt: Literal["out", "in"] | None = None
    decide: bool = False


def answer_for(said: Said, *, known: bool, opted_out: bool, confirmed_before: bool, has_choice: bool
               ) -> Answer:
    """What to answer a reply: every keyword but the choices, which rebooking decides. `known`:
    we hold a booking for the sender; `opted_out`: the number had replied STOP;
    `confirmed_before`: its opt-out was confirmed."""
    match said.intent:
        case "opt_out":
            # Confirmed once: a second STOP from a number already out gets nothing.
            return Answer(None if opted_out and confirmed_before else "opted_out", opt="out")
        case "opt_in":
            if opted_out:
                return Answer("opted_in", opt="in")
            if said.word in YES:  # a yes from a number not opted out: yes to the offer
                return answer_for(Said("keep"), known=known, opted_out=False, confirmed_before=False,
                                  has_choice=has_choice)
            return Answer("help")
        case "help":
            return Answer("help")
        case "agent" | "message":
            return Answer("received" if known else "unknown", for_agent=True)
        case _ if not known:
            return Answer("unknown", for_agent=True)
        case _ if not has_choice:
            return Answer("nothing_open", for_agent=True)
    return Answer(None, decide=True)
