"""The compensation service's settings (REBOUND_* environment variables), parsed once into `Config`."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import model_validator

from services.compensation import rules
from shared import sealed
from shared.settings import Settings


def parse_limits(text: str) -> dict[str, Decimal]:
    """`USD=200,EUR=200`: the most goodwill one passenger may be given for one disruption, per
    currency; a currency not listed gets none."""
    limits = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        currency, _, amount = entry.partition("=")
        if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
            raise ValueError(f"goodwill limit {entry!r}: the currency must be an ISO 4217 code, like USD=200")
        try:
            limits[currency] = Decimal(amount)
        except ArithmeticError as exc:
            raise ValueError(f"goodwill limit {entry!r}: the amount must be a number") from exc
        if limits[currency] < 0:
            raise ValueError(f"goodwill limit {entry!r}: the amount must not be negative")
    return limits


class CompensationSettings(Settings):
    DEVELOPMENT_SECRETS = ("payment_api_key", "notice_sealing_key")
    OUTBOUND_URLS = ("payment_api_url",)
    # The port of the evaluate API and the desk's refunds and vouchers.
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
    # The payment provider's API key.
    payment_api_key: str = "sandbox-payments-key"
    # How long one payout request may take before it counts as failed and is retried.
    payment_timeout_seconds: float = 10.0
    # Notify's public key (`id:base64`): voucher codes are sealed for notify alone.
    notice_sealing_key: str = sealed.DEVELOPMENT_PUBLIC_KEY
    # A payout claimed by a worker that then dies is retried (same idempotency key) after this long.
    payout_lease_seconds: float = 60.0
    # Tries of one payout before it is recorded failed and an agent is asked.
    payout_max_attempts: int = 12
    # Payouts in flight at once.
    payout_concurrency: int = 8
    # The first wait before a failed payout is tried again, doubling each time.
    payout_backoff_seconds: float = 2.0
    # The longest wait between two tries of a payout.
    payout_backoff_max_seconds: float = 300.0
    # The most goodwill an ops agent may give one passenger for one disruption, per currency
    # (`USD=200,EUR=200`): a currency not listed gets none.
    goodwill_limits: str = "USD=200,EUR=200,GBP=175,CAD=250"

    @model_validator(mode="after")
    def _check_sealing_key_and_limits(self) -> "CompensationSettings":
        sealed.Sealer.parse(self.notice_sealing_key)
        parse_limits(self.goodwill_limits)
        return self


@dataclass(frozen=True)
class Config:
    settings: CompensationSettings
    book: rules.RuleBook
    sealer: sealed.Sealer  # seals voucher codes for notify
    goodwill_limits: dict[str, Decimal]

    @classmethod
    def of(cls, settings: CompensationSettings) -> "Config":
        return cls(settings, rules.load(settings.rules_dir), sealed.Sealer.parse(settings.notice_sealing_key),
                   parse_limits(settings.goodwill_limits))
