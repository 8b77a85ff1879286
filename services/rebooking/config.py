"""The rebooking service's settings (REBOUND_* environment variables), parsed once into `Config`."""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from services.rebooking import costs, domain, links
from shared import sealed
from shared.settings import MIN_SECRET_LENGTH, Settings

DEVELOPMENT_CHOICE_SECRET = "dev-only-choice-secret"


def parse_partners(text: str) -> dict[str, frozenset[str]]:
    """`UA=EV+OO+YV;DL=9E+EV` → which carriers' flights each carrier's passengers may be moved to."""
    table: dict[str, frozenset[str]] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        carrier, _, partners = item.partition("=")
        names = [p.strip().upper() for p in partners.split("+") if p.strip()]
        if not carrier.strip() or not names or any(len(n) != 2 for n in [carrier.strip(), *names]):
            raise ValueError(f"rebooking partners {item!r}: expected CARRIER=PARTNER+PARTNER")
        table[carrier.strip().upper()] = frozenset(names)
    return table


class RebookingSettings(Settings):
    DEVELOPMENT_SECRETS = ("choice_secret", "notice_sealing_key")
    OUTBOUND_URLS = ("public_url",)
    # The port of the choice page, its API and the desk's seat operations.
    http_port: int = 8002
    # Disruptions that arrive within this long of each other are assigned together, for at most
    # the longest wait while they keep coming.
    batch_window_ms: int = 300
    # The longest a disrupted booking waits for its round while disruptions keep coming.
    batch_max_wait_ms: int = 5000
    # Bookings assigned in one round at most; the rest wait for the next.
    assign_batch: int = 2000
    # CP-SAT's time for one round; past it, the greedy pass in priority order stands in.
    solve_budget_seconds: float = 3.0
    # How far after the original departure an alternative may leave.
    horizon_hours: int = 72
    # The longest wait at a connecting airport on an alternative with one stop.
    max_connection_hours: int = 6
    # The most legs an alternative may have (2: direct or one stop; up to 4 as itineraries are sold).
    max_legs: int = Field(default=2, ge=1, le=4)
    # The airline's cost profile, the solver's objective (services/rebooking/costs.py): a JSON file;
    # empty, the default profile (minutes of delay, weighted by priority).
    cost_profile_file: str = ""
    # Which carriers' flights each carrier's passengers may be moved to, `UA=EV+OO;DL=9E`;
    # empty: the carrier's own only.
    rebooking_partners: str = ""
    # The passenger's choice page: its public address, the links' keys (`id:secret,…`, the newest
    # first: it signs, the others still verify), how long they have.
    public_url: str = "http://127.0.0.1:8002"
    # The choice links' keys, `id:secret,…` (ids 0–255), newest first: it signs, the others still verify.
    choice_secret: str = DEVELOPMENT_CHOICE_SECRET
    # Notify's public key (`id:base64`): each passenger's link is sealed for notify alone.
    notice_sealing_key: str = sealed.DEVELOPMENT_PUBLIC_KEY
    # How long a passenger has to answer a rebooking (never past an hour before the new flight).
    answer_within_hours: float = 24
    # The shortest time to answer, however soon the new flight leaves.
    answer_at_least_minutes: float = 15
    # Other itineraries the choice page offers besides the one chosen.
    other_options_shown: int = 5
    # What silence by the deadline means. 14 CFR 260.6(b)(4): where the airline said so, no answer
    # to an offer counts as a refund request; otherwise the new booking stands.
    silence_counts_as: Literal["accepted", "refund_requested"] = "accepted"

    @model_validator(mode="after")
    def _check_partners_and_keys(self) -> "RebookingSettings":
        parse_partners(self.rebooking_partners)
        self.cost_profile()
        sealed.Sealer.parse(self.notice_sealing_key)
        secrets = links.parse_keys(self.choice_secret).values()
        if self.in_production and any(len(secret) < MIN_SECRET_LENGTH for secret in secrets):
            raise ValueError(f"REBOUND_CHOICE_SECRET: each key's secret must be {MIN_SECRET_LENGTH} characters or more")
        return self

    def cost_profile(self) -> costs.CostProfile:
        if not self.cost_profile_file:
            return costs.DEFAULT
        try:
            return costs.profile_from_json(Path(self.cost_profile_file).read_text())
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"REBOUND_COST_PROFILE_FILE {self.cost_profile_file}: {exc}") from None


@dataclass(frozen=True)
class Config:
    settings: RebookingSettings
    rules: domain.Rules
    choice_keys: dict[int, str]  # the links' keys by id, the newest first
    sealer: sealed.Sealer  # seals each passenger's link for notify

    @classmethod
    def of(cls, settings: RebookingSettings) -> "Config":
        connecting = settings.connecting()
        rules = domain.Rules(
            horizon=timedelta(hours=settings.horizon_hours),
            max_connection=timedelta(hours=settings.max_connection_hours),
            minimum_connecting=connecting.minimum_minutes, co_terminals=connecting.co_terminals,
            partners=parse_partners(settings.rebooking_partners), max_legs=settings.max_legs,
            profile=settings.cost_profile())
        return cls(settings, rules, links.parse_keys(settings.choice_secret),
                   sealed.Sealer.parse(settings.notice_sealing_key))
