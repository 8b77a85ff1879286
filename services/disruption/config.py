"""The disruption service's settings (REBOUND_* environment variables), parsed once into `Config`."""

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from services.disruption import designators
from services.disruption.partners import (
    DEVELOPMENT_PARTNER_DIGEST,
    DEVELOPMENT_PARTNER_KEYS,
    PartnerKey,
    Partners,
    parse_partner_keys,
)
from shared.airports import Connecting
from shared.pacing import RateLimiter
from shared.settings import Settings


class DisruptionSettings(Settings):
    PRODUCTION_REQUIRES = {"partner_keys": "set; no development or history key"}
    # The port of the partner API and the ops console.
    http_port: int = 8001
    # What this process serves: `all`; `ingest`, partners' flight events and the service's
    # consumers, with no console; or `console`, the ops console alone (it reads and acts through
    # the database and relays to the other services; consumes nothing, so a busy board never
    # slows a first notice, and partner ingest shares no process with the agents' keys).
    serves: Literal["all", "ingest", "console"] = "all"
    # Partner signing keys as `partner:key_id:<sha256 hex of the secret>[:carriers=B6+AA]
    # [:airports=JFK+LGA][:history]`, comma-separated; a partner may hold two at once while it rotates.
    partner_keys: str = DEVELOPMENT_PARTNER_KEYS
    # How far a request's signed timestamp may be from Rebound's clock.
    signature_tolerance_seconds: int = 300
    # Each partner's requests per second, and the burst above it; past them, 429 with Retry-After.
    partner_rate_per_second: float = 50.0
    # The burst each partner may send above that rate.
    partner_burst: int = 200
    # The services the ops console's actions are relayed to (each checks the agent's key itself).
    rebooking_url: str = "http://127.0.0.1:8002"
    # Where the console's refunds, vouchers and evaluations go.
    compensation_url: str = "http://127.0.0.1:8003"
    # Where the console's message previews and desk messages go.
    notify_url: str = "http://127.0.0.1:8004"
    # A partner key with no `carriers=` scope may report on any airline's flights: production warns
    # of each at start-up, and refuses them where this is on.
    partner_keys_scoped_only: bool = False
    # The ops console's live streams: at most this many open for one key, and in all; each ends
    # after this long (the page connects again), so none is held for ever.
    console_streams_per_key: int = 3
    # Live streams open at once, across every key.
    console_streams_total: int = 50
    # How long a live stream lasts before the page connects again.
    console_stream_seconds: float = 900.0
    # Messages from the desk to one flight's passengers: at most this many an hour.
    desk_messages_per_flight_per_hour: int = 3
    # A what-if preview answers within this long with what it has, saying what is missing.
    what_if_seconds: float = Field(default=10.0, gt=0, le=120)
    # The rebooking solver's time in a preview, a limit (its rounds get `REBOUND_SOLVE_BUDGET_SECONDS`,
    # 3 s per round, as a target): what is not solved by then is placed greedily, and said.
    what_if_solve_seconds: float = Field(default=0.5, gt=0, le=30)
    # ICAO → IATA airline pairings the designator table lacks, with their dates, as
    # `ICAO:IATA:from:to` (YYYY-MM-DD, empty for open), comma-separated: `TOM:BY:2004-01-01:`.
    airline_pairings: str = ""

    @model_validator(mode="after")
    def _refuse_development_partner_keys(self) -> "DisruptionSettings":
        designators.parse_pairings(self.airline_pairings)  # refused at start-up, not at the first message
        keys = parse_partner_keys(self.partner_keys)
        if self.in_production and any(k.digest == DEVELOPMENT_PARTNER_DIGEST for k in keys.values()):
            raise ValueError("REBOUND_PARTNER_KEYS must not hold the development key in production")
        if self.in_production and any(k.history for k in keys.values()):
            raise ValueError("REBOUND_PARTNER_KEYS: a history (replay) key is for development and test, "
                             "not production")
        if self.in_production and self.partner_keys_scoped_only and (open_keys := unscoped(keys)):
            raise ValueError(f"REBOUND_PARTNER_KEYS: key {open_keys[0]!r} names no carriers= scope, and "
                             "REBOUND_PARTNER_KEYS_SCOPED_ONLY refuses such keys")
        return self


def unscoped(keys: dict[str, PartnerKey]) -> list[str]:
    """The ids of keys that may report on any airline's flights."""
    return sorted(k.key_id for k in keys.values() if k.carriers is None)


@dataclass(frozen=True)
class Config:
    settings: DisruptionSettings
    connecting: Connecting
    partners: Partners

    @classmethod
    def of(cls, settings: DisruptionSettings) -> "Config":
        return cls(settings, settings.connecting(), Partners(
            parse_partner_keys(settings.partner_keys), settings.signature_tolerance_seconds,
            RateLimiter(settings.partner_rate_per_second, settings.partner_burst)))
