"""How notices find passengers: which channels to use, when to fall back to another, when to stop
calling a provider that keeps failing, and which older notices a newer one replaces. Pure: no I/O."""

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

from shared.events import FlightNoticeRequested, NoticeRequested
from shared.notices import facts_of

CHANNELS = ("sms", "email", "push")


def reachable(channels: Sequence[str], opted_out: Sequence[str], email: str | None, phone: str | None
              ) -> list[str]:
    """The chosen channels that can carry a notice: an address on file and not refused.
    Push goes to the airline's app by passenger id, so it needs no address."""
    address = {"sms": phone, "email": email, "push": "app"}
    return [c for c in channels if address.get(c) and c not in opted_out]


def fallback_for(channel: str, channels: Sequence[str], opted_out: Sequence[str], email: str | None,
                 phone: str | None, already: Sequence[str]) -> str | None:
    """Another channel for a notice that cannot go by `channel`: the passenger's next preference,
    else any channel with an address on file they have not refused; never one the notice
    already goes by."""
    order = [*channels, *(c for c in CHANNELS if c not in channels and c != "push")]
    for other in reachable(order, opted_out, email, phone):
        if other != channel and other not in already:
            return other
    return None


def after_failure(attempts: int, max_attempts: int, waited: float, retry_for: float, other: str | None, *,
                  permanent: bool) -> str:
    """What becomes of a notice its provider did not take, after `attempts` tries over `waited`
    seconds: `retrying`, `fallen_back` (to `other`, the passenger's next channel, if any) or
    `failed`. A refusal for good goes by the other channel at once. A passing failure is tried
    again `max_attempts` times, then by the other channel; with none, it is waited out for
    `retry_for` seconds: a provider's outage is never counted against the passenger."""
    if permanent or attempts >= max_attempts:
        if other:
            return "fallen_back"
        if permanent or waited >= retry_for:
            return "failed"
    return "retrying"


@dataclass(frozen=True)
class Request:
    """One notice to one booking's passengers, as notify plans it: a `notice.requested`, or one
    addressee of a `flight.notice.requested`. `facts` are the notice's facts as stored (JSON),
    written out once for every booking told the same thing; `traceparent`, the trace its
    deliveries and their reports carry."""

    disruption_id: str
    booking_ref: str
    passenger_ids: Sequence[str]
    stage: str
    template: str
    facts: str
    occurred_at: datetime
    about: str | None
    revision: int
    traceparent: str | None

    @classmethod
    def of(cls, n: NoticeRequested, traceparent: str | None) -> Self:
        return cls(n.disruption_id, n.booking_ref, n.passenger_ids, n.stage, n.template, json.dumps(facts_of(n.facts)),
                   n.occurred_at, n.about, n.revision, traceparent)

    @classmethod
    def each(cls, n: FlightNoticeRequested, traceparent: str | None) -> Iterator[Self]:
        facts = json.dumps(facts_of(n.facts))
        for a in n.addressees:
            yield cls(a.disruption_id, a.booking_ref, a.passenger_ids, n.stage, n.facts.kind, facts, n.occurred_at,
                      n.about, n.revision, traceparent)


@dataclass(frozen=True)
class Contact:
    """What notify knows of how to reach one passenger."""

    channels: Sequence[str]
    opted_out: Sequence[str]
    email: str | None
    phone: str | None
    locale: str = "en"  # the language they are written to in (one not yet spoken: English)


@dataclass(frozen=True)
class Delivery:
    """One notice to one passenger by one channel, as planned: `notice` is the notice's place in
    the batch; channel `none` is a passenger nobody can reach, shown as such, never silent."""

    notice: int
    passenger_id: str
    channel: str
    status: str  # pending | superseded | undeliverable
    detail: str | None = None


STALE = "a newer notice about the same thing is already on its way"


def deliveries(passengers: Sequence[tuple[str, Sequence[str]]], contacts: dict[tuple[str, str], Contact],
               stale: set[tuple[int, str]]) -> list[Delivery]:
    """The deliveries for a batch of notices (each notice's booking and passengers, in order): one
    per usable channel, or one that says why none is; (notice, passenger) in `stale` has a newer
    notice. `contacts` are by booking and passenger: a passenger id is unique only in its booking."""
    planned = []
    for i, (booking_ref, passenger_ids) in enumerate(passengers):
        for passenger_id in passenger_ids:
            c = contacts.get((booking_ref, passenger_id))
            channels = reachable(c.channels, c.opted_out, c.email, c.phone) if c else []
            superseded = (i, passenger_id) in stale
            status, detail = ("superseded", STALE) if superseded else ("pending", None)
            planned += [Delivery(i, passenger_id, channel, status, detail) for channel in channels]
            if not channels:
                # Visible, not silent: an agent must reach this passenger another way.
                planned.append(Delivery(i, passenger_id, "none", "superseded" if superseded else "undeliverable",
                                        detail or "no usable contact details on file"))
    return planned


@dataclass
class CircuitBreaker:
    """Stops calling a provider after `threshold` failures in a row, for `cooldown` seconds; then
    lets one call through, and closes again if it succeeds (or opens for twice as long)."""

    threshold: int
    cooldown: float
    max_cooldown: float
    clock: Callable[[], float]
    failures: int = 0
    opened_at: float | None = None
    current_cooldown: float = field(default=0.0)
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.current_cooldown else "open"

    def allows(self) -> bool:
        """May a call go to the provider now? In half-open state, only one call at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def reopens_in(self) -> float:
        return 0.0 if self.opened_at is None else max(0.0, self.opened_at + self.current_cooldown - self.clock())

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.probing, self.current_cooldown = 0, None, False, 0.0

    def failed(self) -> None:
        self.failures += 1
        if self.probing:  # the probe failed: wait longer before the next one
            self.current_cooldown = min(self.max_cooldown, self.current_cooldown * 2)
            self.opened_at, self.probing = self.clock(), False
        elif self.opened_at is None and self.failures >= self.threshold:
            self.opened_at, self.current_cooldown = self.clock(), self.cooldown


@dataclass(frozen=True)
class Planned:
    """A delivery already planned for a passenger and channel, of the same stage and about the
    same thing as an incoming notice."""

    id: int
    passenger_id: str
    channel: str
    status: str
    occurred_at: datetime
    notice: tuple[str, int]  # (disruption, revision): the notice it belongs to


def supersede(planned: Sequence[Planned], occurred_at: datetime, notice: tuple[str, int]
              ) -> tuple[list[int], set[str]]:
    """What a newer notice replaces: the ids of older ones not yet sent, on any channel (pending,
    waiting to retry, or a fallback not yet gone; one being sent is past recall). And the
    passengers for whom this notice is itself stale: a newer one is already planned or gone."""
    replaced = [p.id for p in planned if p.notice != notice and p.occurred_at < occurred_at
                and p.status in ("pending", "retrying")]
    stale = {p.passenger_id for p in planned
             if p.notice != notice and p.occurred_at > occurred_at and p.status != "superseded"}
    return replaced, stale
