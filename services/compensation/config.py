"""The compensation service's settings (REBOUND_* environment variables), parsed once into `Config`."""

from dataclasses import dataclass
from pathlib import Path

from pydantic import model_validator

from services.compensation import rules
from shared import sealed
from shared.settings import Settings


class CompensationSettings(Settings):
    DEVELOPMENT_SECRETS = ("payment_api_key", "notice_sealing_key")
    http_port: int = 8003
    # Refunds are due in days, not seconds: on a shared machine, compensation yields the CPU to
    # the first notices and the rebooking during a burst. Measured on 8 February 2013 at burst on
    # two cores, at normal priority it made first notices' p99 108 s instead of 72 s and finished
    # the outcomes no sooner (238 s against 221 s); where it has cores of its own, set 0.
    nice: int = 10
    # The rule files (TOML), one or more versions per regime; the shipped ones by default.
    rules_dir: Path = rules.HERE
    # The payment provider that pays refunds and compensation back to the original form of payment.
    payment_api_url: str = "http://127.0.0.1:8091"
    payment_api_key: str = "sandbox-payments-key"
    payment_timeout_seconds: float = 10.0
    # Notify's public key (`id:base64`): voucher codes are sealed for notify alone.
    notice_sealing_key: str = sealed.DEVELOPMENT_PUBLIC_KEY
    # A payout claimed by a worker that then dies is retried (same idempotency key) after this long.
    payout_lease_seconds: float = 60.0
    payout_max_attempts: int = 12
    payout_concurrency: int = 8
    payout_backoff_seconds: float = 2.0
    payout_backoff_max_seconds: float = 300.0

    @model_validator(mode="after")
    def _check_sealing_key(self) -> "CompensationSettings":
        sealed.Sealer.parse(self.notice_sealing_key)
        return self


@dataclass(frozen=True)
class Config:
    settings: CompensationSettings
    book: rules.RuleBook
    sealer: sealed.Sealer  # seals voucher codes for notify

    @classmethod
    def of(cls, settings: CompensationSettings) -> "Config":
        return cls(settings, rules.load(settings.rules_dir), sealed.Sealer.parse(settings.notice_sealing_key))
