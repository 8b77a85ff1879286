"""IATA AIDX flight leg notifications (XML) → flight events. Pure: no I/O.

An `IATA_AIDX_FlightLegNotifRQ` (namespace http://www.iata.org/IATA/2007/00; alone or inside a
SOAP envelope) carries flight legs. Each `FlightLeg` names its leg in `LegIdentifier` — Airline
(IATA or ICAO designator), FlightNumber, OperationalSuffix, DepartureAirport, ArrivalAirport (IATA
or ICAO codes) and OriginDate — and says in `LegData` what happened. The leg's day is the UTC
date of its scheduled off-block time when the leg carries one (`SCT` `OFB`), else OriginDate, the
UTC date of the flight's departure (Avinor's Airport Data Dictionary, FlightOriginDate):
- `OperationalStatus` (or `PublicStatus`) cancelled → flight.cancelled; diverted, with the airport
  it is diverted to → flight.diverted;
- `OperationTime`s, qualified by `TimeType` (SCT scheduled, EST estimated, ACT actual, …) and
  `OperationQualifier` (OFB off-block, TKO take-off, TDN touchdown, ONB on-block): an actual
  off-block or take-off → flight.departed; an actual touchdown or on-block → flight.arrived;
  otherwise an estimated departure or arrival → flight.delayed.
Times must carry their zone (AIDX sends UTC). The XML is parsed with defusedxml, which refuses any
DTD, entity or external reference; the size is bounded before parsing.
"""

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from services.disruption import times, typeb
from services.disruption.typeb import MessageError, Parsed
from shared import validation
from shared.events import (
    Cause,
    DelayCode,
    FlightArrived,
    FlightCancelled,
    FlightDelayed,
    FlightDeparted,
    FlightDiverted,
    FlightEventData,
    FlightRef,
)

MAX_BYTES = 1024 * 1024
# AIDX's FlightLegNotifRQ nests six deep at most (FlightLeg/LegData/OperationTime/…); room to spare.
MAX_DEPTH = 32
ROOT = "IATA_AIDX_FlightLegNotifRQ"
# Leg status codes for a cancelled or a diverted leg, as AIDX senders write them.
CANCELLED = frozenset({"DX", "CX", "CNX", "CNL", "CAN", "CANCELLED", "CANCELED"})
DIVERTED = frozenset({"DV", "DIV", "DIVERTED"})


def parse_xml(body: bytes, received_at: datetime) -> list[Parsed]:
    """Every flight leg of the notification, each read on its own; or one error for the document."""
    notification = _notification(body)
    if isinstance(notification, Parsed):
        return [notification]
    legs = [e for e in notification if _name(e) == "FlightLeg"]
    if not legs:
        return [_refused(f"{ROOT} without a FlightLeg")]
    occurred_at = _time(notification.get("TimeStamp"))
    if occurred_at is not None and occurred_at > received_at + timedelta(minutes=5):
        occurred_at = None  # a time from the future is not taken: acceptance time stands in
    sequence = notification.get("SequenceNmbr")
    # xs:nonNegativeInteger, in ASCII digits: "²" and "٣" are digits to Python, not to XML Schema.
    if sequence is not None and not re.fullmatch(r" *[0-9]{1,18} *", sequence):
        return [_refused(f"SequenceNmbr {sequence[:20]!r} is not a whole number")]
    return [_read_leg(leg, position, occurred_at, int(sequence) if sequence else None)
            for position, leg in enumerate(legs, start=1)]


def _notification(body: bytes) -> Element | Parsed:
    """The document's notification element, or why there is none to read."""
    if len(body) > MAX_BYTES:
        return _refused(f"the document is over {MAX_BYTES // 1024} KiB")
    try:
        document = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        return _refused("a DTD, an entity or an external reference: AIDX needs none, and they are refused")
    except ParseError as exc:
        return _refused(f"not well-formed XML ({exc.msg if hasattr(exc, 'msg') else exc})")
    if _deeper_than(document, MAX_DEPTH):
        return _refused(f"elements nested more than {MAX_DEPTH} deep: AIDX needs fewer than ten")
    notification = next((e for e in document.iter() if _name(e) == ROOT), None)
    if notification is None:
        return _refused(f"no {ROOT} element (the document is {_name(document)[:40]!r})")
    return notification


def _read_leg(leg: Element, position: int, occurred_at: datetime | None, sequence: int | None) -> Parsed:
    """One flight leg's events, or why it cannot be read."""
    try:
        events, notes = _leg(leg, position, occurred_at, sequence)
    except MessageError as exc:
        return Parsed(position, [], exc, "AIDX")
    except ValidationError as exc:  # a value the event contract refuses, though the reader took it
        reason = validation.summary(validation.field_errors(exc.errors(), {}))
        return Parsed(position, [], MessageError(position, f"FlightLeg {position}: {reason}"), "AIDX")
    if why := times.first_contradiction(events):
        return Parsed(position, [], MessageError(position, f"FlightLeg {position}: {why}"), "AIDX")
    digest = hashlib.sha256(tostring(leg)).hexdigest()[:32]
    return Parsed(position, [e.model_copy(update={"partner_event_id": f"aidx:{digest}:{n}"})
                             for n, e in enumerate(events)], None, "AIDX", notes)


def _deeper_than(document: Element, most: int) -> bool:
    """Whether elements nest deeper than `most` (walked without recursion: Python's own XML
    writer recurses, and a document ten thousand deep would exhaust its stack)."""
    level = [document]
    for _ in range(most):
        level = [child for e in level for child in e]
        if not level:
            return False
    return True


def _refused(reason: str) -> Parsed:
    return Parsed(1, [], MessageError(1, reason), "AIDX")


def _name(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _child(parent: Element | None, name: str) -> Element | None:
    return None if parent is None else next((e for e in parent if _name(e) == name), None)


def _text(parent: Element | None, name: str) -> str:
    found = _child(parent, name)
    return (found.text or "").strip().upper() if found is not None else ""


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _leg(leg: Element, position: int, occurred_at: datetime | None,
         sequence: int | None) -> tuple[list[FlightEventData], list[str]]:
    def refuse(reason: str) -> MessageError:
        return MessageError(position, f"FlightLeg {position}: {reason}")

    data = _child(leg, "LegData")
    times = _operation_times(data, refuse)
    ref = _flight_named(leg, times, position, refuse)
    common = dict(partner_event_id="pending", flight=ref, occurred_at=occurred_at, sequence=sequence)
    events = _what_happened(common, data, times, position, refuse)
    notes = [] if events else [f"FlightLeg {position}: no status or actual or estimated time to act on"]
    return events, notes


def _flight_named(leg: Element, times: dict[tuple[str, str], datetime], position: int,
                  refuse: Callable[[str], MessageError]) -> FlightRef:
    """The flight leg's identifier, read and checked."""
    identifier = _child(leg, "LegIdentifier")
    if identifier is None:
        raise refuse("no LegIdentifier")
    airline, number = _text(identifier, "Airline"), _text(identifier, "FlightNumber")
    suffix, origin = _text(identifier, "OperationalSuffix"), _text(identifier, "DepartureAirport")
    if not re.fullmatch(r"[A-Z0-9]{2}|[A-Z]{3}", airline):
        raise refuse(f"Airline {airline[:10]!r} is not an IATA (2) or ICAO (3) airline designator")
    if not re.fullmatch(r"[0-9]{1,4}", number) or not re.fullmatch(r"[A-Z]?", suffix):
        raise refuse(f"FlightNumber {number[:10]!r} is not 1 to 4 digits (an operational suffix goes in "
                     "OperationalSuffix)")
    if not re.fullmatch(typeb.STATION, origin):
        raise refuse(f"DepartureAirport {origin[:10]!r} is not an IATA or ICAO airport code")
    try:
        origin_date = date.fromisoformat(_text(identifier, "OriginDate")[:10])  # a date, or a date and time
    except ValueError:
        raise refuse("OriginDate is not a date such as 2024-12-23") from None
    # OriginDate is the first leg's: a later leg of the flight may leave the next day.
    scheduled_off = times.get(("SCT", "OFB"))
    leg_date = scheduled_off.astimezone(UTC).date() if scheduled_off else origin_date
    try:
        return FlightRef(carrier=typeb.carrier(airline, leg_date, position), number=number + suffix,
                         departure_date=leg_date, date_basis="utc", origin=typeb.station(origin, position))
    except MessageError as exc:
        raise refuse(exc.reason) from None


def _what_happened(common: dict[str, Any], data: Element | None, times: dict[tuple[str, str], datetime],
                   position: int, refuse: Callable[[str], MessageError]) -> list[FlightEventData]:
    """The events a leg's status and times say: cancelled, diverted, or departed, arrived, delayed."""
    status = {(e.text or "").strip().upper() for e in (data if data is not None else [])
              if _name(e) in ("OperationalStatus", "PublicStatus")} - {""}
    if status & CANCELLED:
        return [FlightCancelled(**common, reason=_cause(data))]
    if status & DIVERTED:
        return [_diverted(common, data, times, position, refuse)]
    return _movements(common, data, times)


def _arrival_estimate(times: dict[tuple[str, str], datetime]) -> datetime | None:
    return times.get(("EST", "TDN")) or times.get(("EST", "ONB"))


def _diverted(common: dict[str, Any], data: Element | None, times: dict[tuple[str, str], datetime],
              position: int, refuse: Callable[[str], MessageError]) -> FlightDiverted:
    airport = _diversion_airport(data)
    if airport is None:
        raise refuse("diverted, but no diversion airport is given")
    try:
        new_destination = typeb.station(airport, position)
    except MessageError as exc:
        raise refuse(exc.reason) from None
    return FlightDiverted(**common, new_destination=new_destination, estimated_arrival=_arrival_estimate(times),
                          reason=_cause(data))


def _movements(common: dict[str, Any], data: Element | None, times: dict[tuple[str, str], datetime]
               ) -> list[FlightEventData]:
    """Off-block or take-off, touchdown or on-block; failing both, the estimates as a delay."""
    events: list[FlightEventData] = []
    off = times.get(("ACT", "OFB")) or times.get(("ACT", "TKO"))
    landed = times.get(("ACT", "TDN")) or times.get(("ACT", "ONB"))
    if off:
        events.append(FlightDeparted(**common, actual_departure=off, airborne_at=times.get(("ACT", "TKO")),
                                     estimated_arrival=_arrival_estimate(times)))
    if landed:
        events.append(FlightArrived(**common, actual_arrival=landed, on_block_at=times.get(("ACT", "ONB"))))
    departure_estimate = times.get(("EST", "OFB")) or times.get(("EST", "TKO"))
    if not events and (departure_estimate or _arrival_estimate(times)):
        events.append(FlightDelayed(**common, estimated_departure=departure_estimate,
                                    estimated_arrival=_arrival_estimate(times), reason=_cause(data)))
    return events


def _operation_times(data: Element | None, refuse: Callable[[str], MessageError]) -> dict[tuple[str, str], datetime]:
    """(TimeType, OperationQualifier) → time; the last one given wins, as senders repeat to update."""
    times: dict[tuple[str, str], datetime] = {}
    for element in data if data is not None else []:
        if _name(element) != "OperationTime" or not (element.text or "").strip():
            continue
        kind, qualifier = element.get("TimeType", "").upper(), element.get("OperationQualifier", "").upper()
        value = (element.text or "").strip()
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise refuse(f"OperationTime {kind} {qualifier} {value[:30]!r} is not a date and time") from None
        if parsed.tzinfo is None:
            raise refuse(f"OperationTime {kind} {qualifier} {value[:30]!r} has no zone: send UTC (Z)")
        times[(kind, qualifier)] = parsed
    return times


def _diversion_airport(data: Element | None) -> str | None:
    for element in data.iter() if data is not None else []:
        name = _name(element).upper()
        text = (element.text or "").strip().upper()
        if ("DIVER" in name or "DIVERT" in name) and re.fullmatch(typeb.STATION, text):
            return text
    return None


def _cause(data: Element | None) -> Cause:
    """A delay code (AHM 730) in a reason element, else words of a remark, else other."""
    for element in data.iter() if data is not None else []:
        if "REASON" in _name(element).upper():
            for value in (element.get("DelayCode"), element.get("Code"), element.text):
                if value and re.fullmatch(r"[0-9]{2}[A-Z]?", value.strip()):
                    return typeb.cause_of([DelayCode(code=value.strip())])
    remark = _text(data, "RemarkFreeText")
    return typeb.cause_in_text(remark) or "other"
