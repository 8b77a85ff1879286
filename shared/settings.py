"""Settings common to every service, read from REBOUND_* environment variables."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.airports import Connecting, parse_co_terminals, parse_minimum_connecting

DEVELOPMENT_API_KEY = "dev-only-key"
DEVELOPMENT_DATABASE_URL = "postgresql://rebound:rebound@127.0.0.1:15432/rebound"
# Every secret of ours outside development and test: 32 characters at least (a token_urlsafe(32)
# has 43), so none can be guessed or searched for.
MIN_SECRET_LENGTH = 32
# The jobs a bearer key can do. `ops-viewer` reads the ops console; `ops-agent` also acts on
# passengers from it (rebooks, refunds, vouchers, messages); `reservations` writes and erases
# passengers' contact details; `evaluator` asks what a case is owed; `monitoring` scrapes /metrics;
# `planner` previews what-if plans (and reads the console), never applies one: an agent does.
ROLES = ("ops-viewer", "ops-agent", "planner", "reservations", "evaluator", "monitoring")
# A job that includes another: an agent sees what a viewer sees, and previews plans too.
INCLUDES = {"ops-agent": ("ops-viewer", "planner"), "planner": ("ops-viewer",)}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBOUND_", extra="ignore")
    # Secrets whose defaults only suit development and the sandboxes: production refuses to start
    # unless each comes from the environment.
    DEVELOPMENT_SECRETS: ClassVar[tuple[str, ...]] = ()
    # Addresses of parties outside Rebound it calls or sends people to: https only in production.
    OUTBOUND_URLS: ClassVar[tuple[str, ...]] = ()
    # What production asks of the other settings, as the validators below enforce it (the settings
    # reference in the documentation shows it).
    PRODUCTION_REQUIRES: ClassVar[dict[str, str]] = {
        "environment": "unset is production", "database_url": "set; sslmode=verify-full",
        "kafka_security_protocol": "`SASL_SSL`", "kafka_username": "set", "kafka_password": "32+ characters",
        "api_keys": "set; each key `role:key`, 32+ characters",
    }

    def secrets_in_use(self) -> tuple[str, ...]:
        """The development secrets this configuration uses (a provider not chosen needs none)."""
        return self.DEVELOPMENT_SECRETS

    # Unset means production: development and test are said explicitly (the Makefile, the local
    # scripts and the test suite say them), so a deployment that forgets fails closed.
    environment: Literal["development", "test", "production"] = "production"
    # The brokers, `host:port,…`: every broker of a cluster, so a client starts with any one down.
    kafka_bootstrap: str = "127.0.0.1:19092"
    # PLAINTEXT on a developer's loopback only; production runs SASL_SSL, each service as its own
    # principal (deploy/kafka_access.py grants it its own topics and groups).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    # The SCRAM variant the brokers accept for SASL_SSL.
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    # The service's own Kafka principal (SASL_SSL): required in production.
    kafka_username: str = ""
    # That principal's password: 32 characters or more in production.
    kafka_password: str = ""
    kafka_ca_file: str = ""  # PEM of the CA that signed the brokers' certificates (default: the system's)
    # Create missing topics at start-up; off where the deployment creates them (its principals then
    # need no right to create anything).
    kafka_create_topics: bool = True
    # The service's own PostgreSQL role and database; production requires sslmode=verify-full.
    database_url: str = DEVELOPMENT_DATABASE_URL
    # A prefix on every topic and consumer group, so a test run never meets the demo's data.
    topic_prefix: str = ""
    # Partitions of each topic Rebound creates: room for that many replicas of a service.
    topic_partitions: int = 12
    # Copies of each topic Rebound creates: 3 on a three-broker cluster.
    topic_replication: int = 1
    # The address the HTTP server listens on (all interfaces in a container).
    http_host: str = "127.0.0.1"
    # Python's logging level for the service's JSON log lines.
    log_level: str = "INFO"
    # CPU priority on a shared machine (as `nice`): work that can wait a few seconds yields to
    # the first notices and the rebooking.
    nice: int = 0
    # First things first: while passengers wait for a first notice (the first-notice path's
    # consumers are behind), the rest of the work stands back, for at most this many seconds at a
    # time (shared/backlog.py); 0: never.
    yield_to_first_notices_s: float = Field(default=30.0, ge=0, le=300)
    # Bearer keys, `role:key` or `role@holder:key`, comma-separated (two for one role allow
    # rotation). The holder (an agent's name) is what the audit records as who acted; a key without
    # one is recorded by its role and position. A console key may be limited, as partner keys are,
    # to airlines and to stations: `ops-agent@Ana Ruiz/carriers=B6+AA/stations=JFK+BOS:key` sees and
    # acts on those airlines' flights from or to those airports only. A key without a role does every
    # job: development only.
    api_keys: str = DEVELOPMENT_API_KEY
    # Each ops console key's requests to /ops/api (and /v1/parked): a busy agent's pace, with room
    # for the page's bursts; past it, 429 with Retry-After.
    ops_requests_per_second: float = 20.0
    # The burst each ops console key may send above that rate.
    ops_burst: int = 100
    # `AIRPORT=MINUTES,…,default=MINUTES`, over the built-in table of minimum connecting times.
    minimum_connecting_times: str = ""
    # Airports serving one city, `JFK+LGA+EWR;ORD+MDW` (empty: the built-in groups).
    co_terminals: str = ""

    def access(self) -> "Access":
        """The bearer keys, by the job each does (parsed again at each call: the config keeps one)."""
        keys: list[Key] = []
        for n, entry in enumerate(filter(None, (e.strip() for e in self.api_keys.split(","))), start=1):
            named, _, key = entry.partition(":")
            head, *scopes = named.split("/")
            role, _, holder = head.partition("@")
            if role in ROLES and key:
                keys.append(Key(role, key, holder or f"{role} key {n}", **parse_key_scopes(scopes, n)))
            elif scopes:  # limits meant, and no secret after them: never an every-job key
                raise ValueError(f"REBOUND_API_KEYS: key {n} names limits but no key after them (role/limits:key)")
            else:
                keys.append(Key(None, entry, f"development key {n}"))
        return Access(tuple(keys))

    def connecting(self) -> Connecting:
        """Minimum connecting times and co-terminal airports (parsed again at each call)."""
        return Connecting(parse_minimum_connecting(self.minimum_connecting_times),
                          parse_co_terminals(self.co_terminals))

    @property
    def in_production(self) -> bool:
        return self.environment not in ("development", "test")

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> "Settings":
        self.connecting()
        self.access()
        if not self.in_production:
            return self
        problems = self._key_problems() + self._secret_problems() + self._transport_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _key_problems(self) -> list[str]:
        access = self.access()
        problems = []
        if DEVELOPMENT_API_KEY in access.all_keys:
            problems.append("REBOUND_API_KEYS must be set to real keys in production")
        if any(k.role is None for k in access.keys):
            problems.append(f"REBOUND_API_KEYS: in production each key names its one job ({', '.join(ROLES)}), "
                            "as role:key")
        # Named by position, never by value.
        return problems + [f"REBOUND_API_KEYS: key {n} is shorter than {MIN_SECRET_LENGTH} characters"
                           for n, k in enumerate(access.keys, start=1) if len(k.key) < MIN_SECRET_LENGTH]

    def _secret_problems(self) -> list[str]:
        defaults = type(self).model_fields
        unset = [name for name in (*self.secrets_in_use(), "database_url")
                 if getattr(self, name) == defaults[name].default]
        problems = ["in production these must be set, not left at their development defaults: "
                    + ", ".join(f"REBOUND_{name.upper()}" for name in unset)] if unset else []
        given = [name for name in self.secrets_in_use() if name not in unset]
        problems += [f"REBOUND_{name.upper()} is shorter than {MIN_SECRET_LENGTH} characters"
                     for name in given if len(getattr(self, name)) < MIN_SECRET_LENGTH]
        # The development key under another key id is still the development key.
        return problems + [f"REBOUND_{name.upper()} holds a development key's material (under any key id, it is "
                           "public)" for name in given
                           if key_material(getattr(self, name)) & key_material(defaults[name].default)]

    def _transport_problems(self) -> list[str]:
        problems = []
        if "sslmode=verify-full" not in urlsplit(self.database_url).query.split("&"):
            problems.append("REBOUND_DATABASE_URL must ask for sslmode=verify-full in production: the server's "
                            "certificate checked, its name included")
        if self.kafka_security_protocol != "SASL_SSL":
            problems.append("REBOUND_KAFKA_SECURITY_PROTOCOL must be SASL_SSL in production")
        else:
            if not self.kafka_username:
                problems.append("REBOUND_KAFKA_USERNAME must name the service's principal")
            if len(self.kafka_password) < MIN_SECRET_LENGTH:
                problems.append(f"REBOUND_KAFKA_PASSWORD is shorter than {MIN_SECRET_LENGTH} characters")
        # Choice links, providers' callbacks, messages and payments carry tokens, signatures and
        # passengers' details: never in clear.
        return problems + [f"REBOUND_{name.upper()} must be an https:// address in production"
                           for name in self.OUTBOUND_URLS
                           if (url := getattr(self, name)) is not None and not url.startswith("https://")]


def key_material(value: str) -> set[str]:
    """The secrets in a setting of `id:secret` entries (comma-separated), without their ids; a
    plain secret is its own material."""
    return {entry.partition(":")[2] or entry for entry in (e.strip() for e in value.split(",")) if entry}


_KEY_SCOPE = re.compile(r"(carriers|stations)=([A-Z0-9]{2,3}(?:\+[A-Z0-9]{2,3})*)")


def parse_key_scopes(scopes: list[str], n: int) -> dict[str, frozenset[str]]:
    """`carriers=B6+AA`, `stations=JFK+BOS` → the limits they name; refused, by the key's
    position only, when malformed (a typo must not widen a key to everything)."""
    limits = {}
    for scope in scopes:
        if not (m := _KEY_SCOPE.fullmatch(scope)) or m[1] in limits:
            raise ValueError(f"REBOUND_API_KEYS: key {n} has a scope that is not carriers=AA+BB or stations=JFK+BOS")
        limits[m[1]] = frozenset(m[2].split("+"))
    return limits


@dataclass(frozen=True)
class Key:
    """One bearer key: its job (None: every job, development only), who holds it, and the airlines
    and stations it is limited to (None: all)."""

    role: str | None
    key: str
    holder: str
    carriers: frozenset[str] | None = None
    stations: frozenset[str] | None = None

    def does(self, role: str) -> bool:
        return self.role is None or self.role == role or role in INCLUDES.get(self.role, ())

    def covers(self, carrier: str, airports: Iterable[str | None]) -> bool:
        """Whether a flight of `carrier` from, to or diverted to `airports` is this key's to see."""
        return ((self.carriers is None or carrier in self.carriers)
                and (self.stations is None or bool(self.stations & set(filter(None, airports)))))

    @property
    def scope(self) -> str:
        """What the key is limited to, in words."""
        parts = ([f"{'+'.join(sorted(self.carriers))} flights"] if self.carriers is not None else []) + \
            ([f"at {'+'.join(sorted(self.stations))}"] if self.stations is not None else [])
        return " ".join(parts) or "every flight"


@dataclass(frozen=True)
class Access:
    """The bearer keys and their jobs."""

    keys: tuple[Key, ...]

    @property
    def all_keys(self) -> list[str]:
        return [k.key for k in self.keys]

    def keys_for(self, role: str) -> list[Key]:
        return [k for k in self.keys if k.does(role)]


S = TypeVar("S", bound=Settings)


def load(settings_class: type[S]) -> S:
    """A service's settings from the environment. When they are wrong, say which and why, never
    the value given: it may be a secret, and startup errors end up in logs."""
    try:
        return settings_class()
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                    for e in exc.errors(include_input=False, include_url=False, include_context=False)]
        raise SystemExit(f"{settings_class.__name__} cannot start:\n  " + "\n  ".join(problems)) from None
