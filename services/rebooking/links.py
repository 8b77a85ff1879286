"""Signed, expiring links to a booking's choice page. Pure: no I/O.

The link names the rebooking (disruption and booking) and when it stops working, with an HMAC of
both: nobody without the service's secret can make one, or stretch one's expiry."""

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime


class InvalidLink(Exception):
    """The link was not made by us, or was altered."""


class ExpiredLink(Exception):
    """The link was ours, but its time to answer has passed."""


@dataclass(frozen=True)
class Offer:
    disruption_id: str
    booking_ref: str
    expires: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(raw) != text:  # one token per offer: no other spelling of the same bytes
        raise ValueError("not canonical base64")
    return raw


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), b"rebound-choice-v1|" + payload, hashlib.sha256).digest()[:16]


def sign(secret: str, offer: Offer) -> str:
    """Short enough for a text message: the booking reference, the disruption id (a UUID) and the
    expiry packed in 26 bytes, and 128 bits of HMAC-SHA256."""
    payload = (offer.booking_ref.encode() + uuid.UUID(offer.disruption_id).bytes
               + int(offer.expires.timestamp()).to_bytes(5, "big"))
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(secret: str, token: str, now: datetime) -> Offer:
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (ValueError, binascii.Error) as exc:
        raise InvalidLink("this link is not one of ours") from exc
    if len(payload) != 27 or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidLink("this link is not one of ours")
    offer = Offer(str(uuid.UUID(bytes=payload[6:22])), payload[:6].decode(),
                  datetime.fromtimestamp(int.from_bytes(payload[22:], "big"), UTC))
    if now >= offer.expires:
        raise ExpiredLink(f"the time to choose ended at {offer.expires:%Y-%m-%d %H:%M} UTC")
    return offer
