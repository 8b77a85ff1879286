"""Signed, expiring links to a booking's choice page, one per passenger. Pure: no I/O.

The link names the rebooking (disruption and booking), the passenger it was sent to, when it stops
working and the key that signed it, with an HMAC of all that: nobody without the service's secret
can make one, stretch one's expiry, or pass one off as another passenger's. The key id lets the
secret rotate: the newest key signs, and the ones before it still verify until their links expire.

Consent: the party was booked together and is rebooked together, so any passenger's link answers
for the whole booking (as the booking reference does at the airline's own desk); the answer
records whose link gave it, and a change or a refund is announced to every passenger on it."""

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
class ChoiceLink:
    disruption_id: str
    booking_ref: str
    passenger: int  # the passenger's place in the booking, 0 to 8
    expires: datetime


def parse_keys(text: str) -> dict[int, str]:
    """`id:secret,id:secret` (ids 0–255), newest first: the first signs, all verify. A bare secret
    is key 0."""
    keys: dict[int, str] = {}
    for number, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), start=1):
        kid, sep, secret = entry.partition(":")
        if not sep:
            kid, secret = "0", entry
        if not (kid.isdigit() and int(kid) < 256 and secret) or int(kid) in keys:
            raise ValueError(f"choice key {number}: expected a unique `id:secret` with an id of 0 to 255")
        keys[int(kid)] = secret
    if not keys:
        raise ValueError("a choice key is needed")
    return keys


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(raw) != text:  # one token per offer: no other spelling of the same bytes
        raise ValueError("not canonical base64")
    return raw


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), b"rebound-choice-v2|" + payload, hashlib.sha256).digest()[:16]


def sign(keys: dict[int, str], offer: ChoiceLink) -> str:
    """Short enough for a text message: the key id, the booking reference, the disruption id (a
    UUID), the passenger and the expiry packed in 29 bytes, and 128 bits of HMAC-SHA256."""
    kid, secret = next(iter(keys.items()))
    payload = (bytes([kid]) + offer.booking_ref.encode() + uuid.UUID(offer.disruption_id).bytes
               + bytes([offer.passenger]) + int(offer.expires.timestamp()).to_bytes(5, "big"))
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(keys: dict[int, str], token: str, now: datetime) -> ChoiceLink:
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (ValueError, binascii.Error) as exc:
        raise InvalidLink("this link is not one of ours") from exc
    if len(payload) != 29 or payload[0] not in keys or not hmac.compare_digest(mac, _mac(keys[payload[0]], payload)):
        raise InvalidLink("this link is not one of ours")
    offer = ChoiceLink(str(uuid.UUID(bytes=payload[7:23])), payload[1:7].decode(), payload[23],
                  datetime.fromtimestamp(int.from_bytes(payload[24:], "big"), UTC))
    if now >= offer.expires:
        raise ExpiredLink(f"the time to choose ended at {offer.expires:%Y-%m-%d %H:%M} UTC")
    return offer
