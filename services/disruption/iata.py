"""IATA Type B traffic → flight events. Pure: no I/O.

The text is split into messages as networks deliver them (`telex`), and each is read by the
reader registered for its kind in `READERS`: movements (MVT, MVA, DIV: `movement`), ACARS OOOI
reports (`oooi`) and schedule changes (ASM, SSM: `schedule`). A message that cannot be read gets
a clear error naming its line; the others still read.

MVT times are UTC; an MVT date is the day of the month of scheduled departure (UTC), placed in
the month nearest the message's sending. The sending time comes from the Type X header, the ACARS
`DT` line or the origin line (`.JFKKKB6 081530`); without one, the event's time is its acceptance.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.disruption import movement, oooi, schedule, telex, times
from services.disruption.typeb import MessageError, Parsed, cause_of_delay_code, nearest_day_of_month
from shared.events import FlightEventData

__all__ = ["MessageError", "Parsed", "cause_of_delay_code", "nearest_day_of_month", "parse_text"]

# A reader: a message, when it arrived and when it says it was sent → its events, and notes on
# what it read past.
Read = Callable[[telex.Telex, datetime, datetime | None], tuple[list[FlightEventData], list[str]]]


@dataclass(frozen=True)
class Reader:
    read: Read
    # Named by an identifier line of its own; an OOOI report is known by its ACARS label instead.
    identified: bool = True


def _events(read: Callable[[telex.Telex, datetime, datetime | None], list[FlightEventData]]) -> Read:
    return lambda message, received_at, stamp: (read(message, received_at, stamp), [])


def _schedule(message: telex.Telex, received_at: datetime, stamp: datetime | None
              ) -> tuple[list[FlightEventData], list[str]]:
    reading = schedule.read(message, received_at, stamp)
    return reading.events, reading.notes


# Every Type B message Rebound reads, by its identifier: registered here and nowhere else (the
# splitter starts a message at these identifiers; a refusal names them).
READERS: dict[str, Reader] = {
    "MVT": Reader(_events(movement.read)), "MVA": Reader(_events(movement.read)),
    "DIV": Reader(_events(movement.read)),
    "ASM": Reader(_schedule), "SSM": Reader(_schedule),
    "OOOI": Reader(_events(oooi.read), identified=False),
}
IDENTIFIERS = tuple(identifier for identifier, reader in READERS.items() if reader.identified)


def parse_text(text: str, received_at: datetime) -> list[Parsed]:
    """Every message in `text`, each read on its own."""
    results = []
    for item in telex.split(text, IDENTIFIERS):
        if isinstance(item, telex.Unreadable):
            results.append(Parsed(item.first_line, [], MessageError(item.line, item.reason)))
            continue
        try:
            results.append(_read(item, received_at))
        except MessageError as exc:
            results.append(Parsed(item.first_line, [], exc, item.identifier))
    return results


def _read(message: telex.Telex, received_at: datetime) -> Parsed:
    stamp = telex.stamp_of(message, received_at.date())
    if stamp is not None and stamp > received_at + timedelta(minutes=5):
        stamp = None  # sent after it arrived: a stamp no clock agrees with is not taken as the time
    events, notes = READERS[message.identifier].read(message, received_at, stamp)
    if why := times.first_contradiction(events) or times.contradiction_between(events):
        raise MessageError(message.at, f"{message.identifier}: {why}")
    # The message's identity is its text, not its heading: the same message relayed to several
    # addresses, or sent again, is the same partner event.
    digest = hashlib.sha256(message.text.encode()).hexdigest()[:32]
    kind = message.identifier.lower()
    events = [e.model_copy(update={"partner_event_id": f"{kind}:{digest}:{n}"}) for n, e in enumerate(events)]
    return Parsed(message.first_line, events, None, message.identifier, notes)
