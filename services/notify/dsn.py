"""Delivery status notifications (RFC 3464): the report a mail server sends back when it could
not deliver an email, read for the addresses that failed and the message that did. Pure: no I/O.

A report is a `multipart/report; report-type=delivery-status`: a human-readable part, a
`message/delivery-status` part (one block of per-message fields, then one block per recipient:
`Final-Recipient`, `Action`, `Status`, `Diagnostic-Code`, …) and, usually, the original message or
its headers (`message/rfc822`, `text/rfc822-headers`), whose Message-ID names what we sent."""

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32

_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_PARTS = ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers")


@dataclass(frozen=True)
class Failed:
    """A recipient the report says the message did not reach (`Action: failed`)."""

    recipient: str  # the address, lower case
    status: str  # RFC 3463's class.subject.detail, e.g. 5.1.1
    diagnostic: str | None

    @property
    def for_good(self) -> bool:
        """A permanent failure (class 5): the address itself is refused. A class-4 `failed` is a
        server that gave up retrying: the message is lost, the address may be fine."""
        return self.status.startswith("5.")


@dataclass(frozen=True)
class Report:
    message_id: str | None  # the original message's, angle brackets kept, as it was sent
    failed: list[Failed]


def read(raw: bytes) -> Report | None:
    """The report in a raw email, or None if the email is not a delivery status report."""
    message = BytesParser(policy=compat32).parsebytes(raw)
    if message.get_content_type() != "multipart/report" \
            or str(message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    blocks: list[Message] = []
    message_id = None
    for part in message.walk():
        kind = part.get_content_type()
        payload = part.get_payload()
        if kind in _STATUS_PARTS and isinstance(payload, list):
            blocks = [b for b in payload if isinstance(b, Message)]
        elif kind in _ORIGINAL_PARTS and message_id is None:
            message_id = _original_id(part)
    return Report(message_id, [f for f in (_failed(b) for b in blocks[1:]) if f])


def _failed(block: Message) -> Failed | None:
    if (block.get("Action") or "").strip().lower() != "failed":
        return None
    kind, _, address = (block.get("Final-Recipient") or block.get("Original-Recipient") or "").partition(";")
    if kind.strip().lower() != "rfc822" or "@" not in address:
        return None
    diagnostic = block.get("Diagnostic-Code")
    return Failed(address.strip().lower(), (block.get("Status") or "").split()[0] if block.get("Status") else "",
                  " ".join(diagnostic.split()) if diagnostic else None)


def _original_id(part: Message) -> str | None:
    payload = part.get_payload()
    headers: Message | None
    if isinstance(payload, list):  # message/rfc822: the message itself, parsed
        headers = payload[0] if payload and isinstance(payload[0], Message) else None
    else:  # text/rfc822-headers: the headers, as text
        raw = part.get_payload(decode=True)
        headers = HeaderParser(policy=compat32).parsestr(raw.decode("utf-8", "replace")
                                                         if isinstance(raw, bytes) else str(payload))
    found = headers.get("Message-ID") if headers is not None else None
    return str(found).strip() if found else None
