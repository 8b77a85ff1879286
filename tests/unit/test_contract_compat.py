"""The event contract against the last release's, both ways, as a schema registry's FULL_TRANSITIVE
mode would check it (Confluent Schema Registry documentation, "Schema Evolution and
Compatibility": FULL means backward and forward). Replicas of two releases share topics during a
rolling upgrade: a break here is events dead-lettered there.

The last release's schemas are contracts/release.json (recorded at commit 075e135 by
`python -m shared.compat --release`); events written by a release before it are fixtures made
by that release's own code (tests/contracts/<type>@<commit>.json)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import jsonschema_rs
import pytest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.disruption import partner_events
from shared import compat, notices
from shared.events import Envelope, FlightCancelled, NoticeRequested, PassengerDisruption

FIXTURES = Path(__file__).resolve().parents[1] / "contracts"


def test_this_release_and_the_last_can_share_every_topic_both_ways():
    found = compat.breaks(json.loads(compat.RELEASE.read_text()), compat.current())
    accepted = compat.accepted()
    assert [b for b in found if b not in accepted] == []
    assert [b for b in accepted if b not in found] == [], "an accepted break that no longer happens: remove it"


def test_events_the_release_before_the_renames_wrote_are_still_read():
    """Commit 84c3637 renamed `reason` to `cause` and `noticed_at` to `accepted_at`; the release
    before it (44e4fc5) wrote this, with its own code, and it must not be dead-lettered."""
    envelope = Envelope.from_bytes((FIXTURES / "passenger.disrupted@44e4fc5.json").read_bytes())
    event = envelope.data
    assert isinstance(event, PassengerDisruption)
    assert (event.cause, event.accepted_at) == ("weather", datetime(2013, 2, 8, 9, 30, tzinfo=UTC))
    written = json.loads(Envelope.wrap(event, source="rebound/disruption", subject="ABC123").to_bytes())["data"]
    assert {"cause", "accepted_at"} <= written.keys() and not {"reason", "noticed_at"} & written.keys()


def test_a_reader_ignores_a_field_a_later_release_adds_but_a_partner_hears_of_it():
    raw = json.loads((FIXTURES / "passenger.disrupted@44e4fc5.json").read_text())
    raw["data"]["rebooking_priority"] = 3  # a field some later release may add
    assert Envelope.from_bytes(json.dumps(raw).encode()).data.booking_ref == "ABC123"
    cancelled = {"type": "flight.cancelled", "partner_event_id": "p-1", "reason": "weather", "cancelled_by": "ops",
                 "flight": {"carrier": "B6", "number": "1001", "departure_date": "2013-02-08", "origin": "JFK"}}
    with pytest.raises(partner_events.Unreadable, match="unknown field 'cancelled_by'"):
        partner_events.read({"content-type": "application/json"}, json.dumps(cancelled).encode())
    FlightCancelled.model_validate(cancelled)  # on a topic, from the airline's own systems: read


def test_a_notice_the_last_release_wrote_is_read_as_its_kind_and_one_written_now_is_read_by_it():
    """Notices became a union discriminated by kind (issue 37): the last release wrote the kind as
    `template` alone, with facts it did not type; this one writes the kind in the facts as well."""
    old = Envelope.from_bytes((FIXTURES / "notice.requested@075e135.json").read_bytes()).data
    assert isinstance(old, NoticeRequested) and isinstance(old.facts, notices.FirstNoticeDelayed)
    assert old.facts.delay_minutes == 45
    written = json.loads(Envelope.wrap(old, source="rebound/disruption", subject="ABC123").to_bytes())["data"]
    assert written["template"] == written["facts"]["kind"] == "first_notice_delayed"
    last_release = json.loads(compat.RELEASE.read_text())["types"]["notice.requested"]["validation"]
    assert jsonschema_rs.validator_for(last_release).is_valid(written)
    # ...and read as the last release's notify read it, by its template (its models took `kind`).
    assert notices.read(written["template"], written["facts"]) == old.facts


def test_a_notice_whose_facts_are_not_its_templates_kind_is_refused_where_it_is_read():
    raw = json.loads((FIXTURES / "notice.requested@075e135.json").read_text())
    raw["data"]["template"] = "first_notice_cancelled"
    raw["data"]["facts"]["kind"] = "first_notice_delayed"
    with pytest.raises(ValidationError, match="not the facts' kind"):
        Envelope.from_bytes(json.dumps(raw).encode())
    del raw["data"]["facts"]["estimated_departure"], raw["data"]["facts"]["kind"]
    raw["data"]["template"] = "first_notice_delayed"
    with pytest.raises(ValidationError, match="estimated_departure"):
        Envelope.from_bytes(json.dumps(raw).encode())


# --- the checker itself, on changes whose verdict the registry's rules give --------------------

class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    status: Literal["open", "closed"]


class Open(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    status: Literal["open", "closed"]


class OpenWithNote(Open):
    note: str | None = None


class ClosedWithNote(Closed):
    note: str | None = None


class WithRequiredNote(Open):
    note: str


class Wider(Open):
    status: Literal["open", "closed", "held"]  # type: ignore[assignment]


class Patterned(Open):
    id: str = Field(pattern=r"^[A-Z]{3}$")


def contract(model: type[BaseModel]) -> dict:
    adapter = TypeAdapter(model)
    return {"types": {"t": {"serialization": adapter.json_schema(mode="serialization"),
                            "validation": adapter.json_schema(mode="validation"), "topics": []}}}


@pytest.mark.parametrize(("old", "new", "verdict"), [
    (Open, Open, []),
    (Open, OpenWithNote, []),  # an optional field added: an old reader that ignores it is fine
    (Closed, ClosedWithNote, ["forward"]),  # …one that refuses unknown fields is not
    (Open, WithRequiredNote, ["backward"]),  # a required field added: old events lack it
    (OpenWithNote, Open, []),  # an optional field removed from a reader that ignores extras
    (ClosedWithNote, Closed, ["backward"]),  # …from one that refuses them
    (Open, Wider, ["forward"]),  # a value added to an enumeration: the old reader refuses it
    (Wider, Open, ["backward"]),  # one removed: the new reader refuses old events
    (Open, Patterned, ["backward"]),  # a pattern where any string was read
])
def test_the_checker_gives_the_registrys_verdict(old, new, verdict):
    found = compat.breaks(contract(old), contract(new))
    directions = sorted({"backward" if "new reader" in b else "forward" for b in found})
    assert directions == verdict, found


def test_a_new_type_on_a_topic_the_last_release_reads_is_a_break():
    old = {"types": {"flight.cancelled": contract(Open)["types"]["t"] | {"topics": ["flight-events"]}}}
    new = {"types": old["types"] | {"flight.teleported": contract(Open)["types"]["t"] | {"topics": ["flight-events"]}}}
    assert compat.breaks(old, new) == [
        "flight.teleported: (type): new on flight-events, whose readers in the last release dead-letter types they "
        "do not know: send it from the release after readers know it"]


def test_a_new_type_on_a_new_topic_is_no_break():
    """No reader of the last release reads a topic it did not know: what this release writes there
    waits for this release's readers (notify reads `flight-notices` from this release on)."""
    old = {"types": {"flight.cancelled": contract(Open)["types"]["t"] | {"topics": ["flight-events"]}}}
    new = {"types": old["types"] | {"flight.notice.requested": contract(Open)["types"]["t"]
                                    | {"topics": ["flight-notices"]}}}
    assert compat.breaks(old, new) == []


def test_a_value_refused_by_the_last_releases_model_would_be_refused_by_its_reader():
    """The checker's forward verdict agrees with the last release's own validation: a value outside
    the old enumeration is refused by the old model."""
    with pytest.raises(ValidationError):
        Open.model_validate(Wider(id="x", status="held").model_dump())
