"""Secrets a notice carries to the passenger — a choice link, a voucher code — sealed for notify
alone on their way there. Pure: no I/O.

Kafka topics are read by every service of its consumer group, kept for days and copied into
backups; what travels on them must be of no use to a reader. The service that makes the secret
seals it with notify's public key (libsodium's sealed box: X25519 and XSalsa20-Poly1305 under a
one-time key), so it can seal but never open; notify opens it when it renders the message, and
nowhere else. Each key has an id, so notify can hold the next key pair while the services still
seal with the current one."""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

PREFIX = "sealed:"

# The development pair (never in production): `kid:base64`.
DEVELOPMENT_PRIVATE_KEYS = "dev:ZGoGhgDA14MvBWf+ePv+mb3o+pW5iPZowXNrQWQ5s9I="
DEVELOPMENT_PUBLIC_KEY = "dev:XtBFuoRpsWAwydeSLUseqb/acY5IB01kggyLiwo9mV4="


class SealedError(ValueError):
    """A sealed value notify cannot open: another key, or altered."""


def _key(entry: str, what: str) -> tuple[str, bytes]:
    kid, _, encoded = entry.strip().partition(":")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raw = b""
    if not kid or ":" in encoded or len(raw) != 32:
        # Named without its value: it may be a private key.
        raise ValueError(f"a {what} is `key id:base64 of 32 bytes`")
    return kid, raw


@dataclass(frozen=True)
class Sealer:
    key_id: str
    public_key: PublicKey

    @classmethod
    def parse(cls, text: str) -> "Sealer":
        kid, raw = _key(text, "notice sealing key")
        return cls(kid, PublicKey(raw))

    def seal(self, secret: str) -> str:
        box = SealedBox(self.public_key).encrypt(secret.encode())
        return f"{PREFIX}{self.key_id}:{base64.urlsafe_b64encode(box).decode()}"


@dataclass(frozen=True)
class Opener:
    keys: dict[str, SealedBox]  # type: ignore[type-arg]  # PyNaCl's boxes are generic only in its stubs

    @classmethod
    def parse(cls, text: str) -> "Opener":
        """`kid:base64,…`: every key notify may be sent under (two while one replaces the other)."""
        pairs = [_key(entry, "notice opening key") for entry in text.split(",") if entry.strip()]
        if not pairs:
            raise ValueError("at least one notice opening key is needed")
        return cls({kid: SealedBox(PrivateKey(raw)) for kid, raw in pairs})

    def open(self, sealed: str) -> str:
        kid, _, encoded = sealed.removeprefix(PREFIX).partition(":")
        if kid not in self.keys:
            raise SealedError(f"sealed under key {kid[:16]!r}, which notify does not hold")
        try:
            return self.keys[kid].decrypt(base64.urlsafe_b64decode(encoded)).decode()
        except (CryptoError, binascii.Error, ValueError) as exc:
            raise SealedError("a sealed value does not open") from exc

    def open_all(self, value: Any) -> Any:
        """`value` with every sealed string in it opened, however deep."""
        if isinstance(value, str):
            return self.open(value) if value.startswith(PREFIX) else value
        if isinstance(value, dict):
            return {k: self.open_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open_all(v) for v in value]
        return value
