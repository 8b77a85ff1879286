"""What each kind of passenger notice says: one model per kind, named as its templates are
(services/notify/templates/<kind>.<channel>.<locale>.j2). The services that decide build these;
a notice request carries one as its `facts`, a union discriminated by `kind` (and, for readers of
releases before the union, the kind again as its `template`); notify reads it and renders it.

Times are instants (UTC on the wire; notify shows them on each airport's own clock). Secrets a
notice carries (a passenger's choice link, a voucher's code) travel sealed for notify."""

import re
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.wire import Instant, Money, Stage

if TYPE_CHECKING:  # the events carry these notices, and so import this module
    from shared.events import Leg, NoticeRequested


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Flight(Facts):
    """The flight the notice is about."""

    flight: str  # "B6 1001"
    origin: str
    destination: str
    departure: Instant
    arrival: Instant


def flight_facts(leg: "Leg", prefix: str = "") -> dict[str, object]:
    """What a notice says about a flight (`prefix`: which flight, e.g. `inbound_`)."""
    return {f"{prefix}flight": f"{leg.carrier} {leg.number}", f"{prefix}origin": leg.origin,
            f"{prefix}destination": leg.destination, f"{prefix}departure": leg.scheduled_departure,
            f"{prefix}arrival": leg.scheduled_arrival}


# --- first notices: the disruption service tells everyone on board at once -----------------------


class _FirstNotice(_Flight):
    cause: str  # a cause category (shared.events.Cause): the words for it are notify's
    delay_minutes: int


class FirstNoticeCancelled(_FirstNotice):
    kind: Literal["first_notice_cancelled"] = "first_notice_cancelled"


class FirstNoticeDelayed(_FirstNotice):
    kind: Literal["first_notice_delayed"] = "first_notice_delayed"
    estimated_departure: Instant


class FirstNoticeDiverted(_FirstNotice):
    kind: Literal["first_notice_diverted"] = "first_notice_diverted"
    diverted_to: str


class FirstNoticeRetimed(_FirstNotice):
    kind: Literal["first_notice_retimed"] = "first_notice_retimed"
    new_departure: Instant
    new_arrival: Instant


class FirstNoticeConnectionAtRisk(_FirstNotice):
    """About the onward flight, which the late inbound flight now lands too late for."""

    kind: Literal["first_notice_connection_at_risk"] = "first_notice_connection_at_risk"
    inbound_flight: str
    inbound_origin: str
    inbound_destination: str
    inbound_departure: Instant
    inbound_arrival: Instant
    estimated_arrival: Instant  # the inbound flight's


class Reinstated(_Flight):
    kind: Literal["flight_reinstated"] = "flight_reinstated"


# --- rebooking's decisions, and the passenger's answer ---------------------------------------------


class _Decision(_Flight):
    """About the disrupted flight; `why` is the decision's reason, for a person."""

    why: str


class _NewItinerary(Facts):
    new_flight: str  # "B6 1005" or "B6 1005 and B6 88"
    new_origin: str
    new_destination: str
    new_departure: Instant
    new_arrival: Instant


class Rebooked(_Decision, _NewItinerary):
    kind: Literal["rebooked"] = "rebooked"
    new_via: str | None = None
    cabin: str
    downgraded: bool
    choice_urls: dict[str, str]  # each passenger's own link, sealed for notify
    respond_by: Instant
    split: bool  # the party travels on different flights


class Returned(_Decision, _NewItinerary):
    """Stranded part of the way: flown back to where the journey began, and refunded."""

    kind: Literal["returned"] = "returned"
    new_via: str | None = None
    cabin: str
    downgraded: bool
    via: str  # where they are stranded
    to: str  # where they were going


class NoAlternative(_Decision):
    kind: Literal["no_alternative"] = "no_alternative"
    whole_trip: bool  # the return is refunded too
    via: str
    to: str


class NoOnward(_Decision):
    """A lost connection with no flight on: do not set out."""

    kind: Literal["no_onward"] = "no_onward"
    whole_trip: bool
    via: str
    to: str


class NeedsAgent(_Decision):
    kind: Literal["needs_agent"] = "needs_agent"


class Changed(_NewItinerary):
    """The passenger changed to another option on their choice page."""

    kind: Literal["changed"] = "changed"


# --- the ops desk: a message an agent reviewed and sent to a flight's passengers ---------------


DeskTopic = Literal["care_at_airport", "agents_at_desk", "next_update", "hotel_arranged"]
# What an agent may fill in: a place at the airport, in a few plain words. Never a link, an
# address or a number to call: passengers trust a message from the airline, so a message from the
# desk holds nothing a key in the wrong hands could send them to (phishing by the airline's voice).
PLACE = r"^[^\x00-\x1f\x7f<>{}]{1,60}$"
_LINK_OR_ADDRESS = re.compile(
    r"@|://|\bwww\b"  # an email address, a URL
    r"|[A-Za-z0-9-]\.[A-Za-z]{2,}\b"  # a domain name (example.com, bit.ly)
    r"|(?:\+?[0-9][ ().-]*){7,}")  # a phone number


class DeskMessage(_Flight):
    """One of the desk's templates, with the agent's place or time filled in: the words stay
    notify's (plain, apologetic, in the passenger's language), never an agent's free text."""

    kind: Literal["desk_message"] = "desk_message"
    topic: DeskTopic
    place: str | None = Field(default=None, pattern=PLACE)  # for care_at_airport, agents_at_desk, hotel_arranged

    @field_validator("place")
    @classmethod
    def _no_link_or_address(cls, place: str | None) -> str | None:
        if place is not None and _LINK_OR_ADDRESS.search(place):
            raise ValueError("a place at the airport, in words: no link, email address or phone number")
        return place
    at: Instant | None = None  # for next_update: when the next news will come

    @model_validator(mode="after")
    def _filled_in(self) -> "DeskMessage":
        needs = "at" if self.topic == "next_update" else "place"
        if getattr(self, needs) is None:
            raise ValueError(f"a {self.topic} message needs `{needs}`")
        return self


# --- what compensation owes --------------------------------------------------------------------


class Owed(Facts):
    """One entitlement, as the passenger reads it."""

    passenger_id: str
    regime: str
    kind: str  # compensation, refund, meal, hotel, transport, credit
    amount: Money
    added: Money
    currency: str
    reason: str
    due_by: datetime | None = None
    code: str | None = None  # sealed for notify
    expires_at: datetime | None = None


class Entitlements(Facts):
    kind: Literal["entitlements"] = "entitlements"
    grants: list[Owed]


Notice = (FirstNoticeCancelled | FirstNoticeDelayed | FirstNoticeDiverted | FirstNoticeRetimed
          | FirstNoticeConnectionAtRisk | Reinstated | Rebooked | Returned | NoAlternative | NoOnward
          | NeedsAgent | Changed | Entitlements | DeskMessage)
# Each kind's model by its name, derived from the union: a new kind is added there alone.
KINDS: dict[str, type[Notice]] = {model.model_fields["kind"].default: model for model in get_args(Notice)}


def facts_of(notice: Notice) -> dict[str, object]:
    """A notice's facts as notify stores them beside its `template` (the kind), which `read`
    takes back."""
    return notice.model_dump(mode="json", exclude={"kind"})


def read(kind: str, facts: dict[str, object]) -> Notice:
    """The notice a request's `template` and `facts` describe; ValueError for an unknown kind, and
    pydantic's ValidationError for facts that are not that kind's."""
    if kind not in KINDS:
        raise ValueError(f"no notice kind {kind!r}: {', '.join(sorted(KINDS))}")
    return KINDS[kind].model_validate(facts)


def request(notice: Notice, *, disruption_id: str, booking_ref: str, passenger_ids: list[str], stage: Stage,
            occurred_at: datetime, about: str | None = None, revision: int = 0) -> "NoticeRequested":
    """The request that asks notify to send `notice` to these passengers."""
    from shared.events import NoticeRequested  # here: the events import this module

    return NoticeRequested(disruption_id=disruption_id, booking_ref=booking_ref, passenger_ids=passenger_ids,
                           stage=stage, template=notice.kind, facts=notice, occurred_at=occurred_at,
                           about=about, revision=revision)
