"""The audit's own logic: reading the providers' records, a passenger's outcome, and what counts
as a violation. An auditor that cannot find a fault proves nothing, so each check is shown one."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from bench import audit, scenario
from shared.events import BookingConfirmed, FlightScheduled, Passenger, flight_id

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def sent(passenger: str, stage: str = "first_notice", channel: str = "sms", seconds: float = 1.0,
         disruption: str = "d1", revision: int = 0) -> audit.Sent:
    return audit.Sent(disruption, passenger, stage, revision, channel, T0 + timedelta(seconds=seconds))


def test_a_key_is_read_from_each_providers_record():
    assert audit.parse_key("d-1:ABC123:ABC123-2:first_notice:0:sms", T0.isoformat()) == \
        audit.Sent("d-1", "ABC123-2", "first_notice", 0, "sms", T0)
    email = audit.parse_key("<aidx:9f:1:ABC123:2.1:entitlements:2:email@rebound.notify>", T0.isoformat())
    assert (email.disruption_id, email.passenger_id, email.stage, email.revision, email.channel) == \
        ("aidx:9f:1", "2.1", "entitlements", 2, "email")
    assert audit.parse_key(None, T0.isoformat()) is None
    assert audit.parse_key("<random@example.org>", T0.isoformat()) is None


def test_the_previous_releases_key_is_read_too():
    """During a rolling upgrade both releases send; the fault suite's rolling_upgrade found the
    previous release's notices (075e135:services/notify/sender.py's key) counted as missing."""
    assert audit.parse_key("8d2bd14b-b5e8.5NYNLM-1.first_notice.0.sms", T0.isoformat()) == \
        audit.Sent("8d2bd14b-b5e8", "5NYNLM-1", "first_notice", 0, "sms", T0)


@given(st.text(max_size=40))
def test_any_key_is_read_or_refused_without_crashing(key):
    audit.parse_key(key, T0.isoformat())


def test_outcome_is_the_latest_decision_that_acted():
    t = [T0 + timedelta(seconds=i) for i in range(4)]
    assert audit.final_outcome([("rebooked", t[0])], None) == ("rebooked", t[0])
    # Moved to a flight that was then only delayed: still rebooked.
    assert audit.final_outcome([("kept", t[1]), ("rebooked", t[0])], None) == ("rebooked", t[0])
    # Moved, then that flight was cancelled and no seat was left: refunded once the refund is granted.
    assert audit.final_outcome([("rebooked", t[0]), ("no_alternative", t[1])], t[3]) == ("refunded", t[3])
    assert audit.final_outcome([("returned", t[1])], t[2]) == ("refunded", t[2])
    assert audit.final_outcome([("returned", t[1])], None) == ("none", None)  # flown home, refund not yet granted
    assert audit.final_outcome([("rebooked", t[0]), ("no_alternative", t[1])], None) == ("none", None)
    assert audit.final_outcome([("kept", t[2])], None) == ("kept", t[2])
    assert audit.final_outcome([("needs_agent", t[2])], None) == ("needs_agent", t[2])
    assert audit.final_outcome([], None) == ("none", None)


def test_usable_channels_need_an_address_and_no_refusal():
    assert audit.usable_channels({"channels": ["sms", "email"], "phone": "+12125550100", "email": "a@b.example"}) \
        == ["sms", "email"]
    assert audit.usable_channels({"channels": ["push"], "opted_out": ["sms"]}) == ["push"]
    assert audit.usable_channels({"channels": ["sms"], "phone": None}) == []


def test_a_duplicate_and_a_missing_first_notice_are_found():
    contacts = {"P-1": {"channels": ["sms", "email"], "phone": "+1", "email": "e"},
                "P-2": {"channels": ["sms"], "phone": "+1"}}
    affected = {"P-1": "F1", "P-2": "F1"}
    clean = [sent("P-1"), sent("P-1", channel="email"), sent("P-2"), sent("P-2", stage="rebooking")]
    assert audit.notice_findings(clean, affected, contacts, set()) == \
        {"duplicate_notices": [], "first_notice_missing": []}
    doubled = audit.notice_findings(clean + [sent("P-2", seconds=9)], affected, contacts, set())
    assert doubled["duplicate_notices"] == [("d1", "P-2", "first_notice", 0, "sms")]
    # A second revision of a stage is a new notice, not a duplicate.
    assert not audit.notice_findings(clean + [sent("P-2", revision=1)], affected, contacts, set())["duplicate_notices"]
    missing = audit.notice_findings(clean[1:], affected, contacts, set())
    assert missing["first_notice_missing"] == [("P-1", "sms")]
    # The SMS provider failed and notify recorded the fallback: email carried it.
    assert not audit.notice_findings(clean[1:], affected, contacts, {("P-1", "sms")})["first_notice_missing"]
    # A text about a later disruption (a flight they were moved to) does not make up for this one.
    later = audit.notice_findings(clean[1:] + [sent("P-1", seconds=60, disruption="d2")], affected, contacts, set())
    assert later["first_notice_missing"] == [("P-1", "sms")]


def test_latency_runs_from_the_event_to_each_channels_first_first_notice():
    affected = {"P-1": "F1", "P-2": "F2"}
    sent_at = {"F1": T0, "F2": T0 + timedelta(seconds=10)}
    records = [sent("P-1", seconds=2), sent("P-1", seconds=5, disruption="d2"), sent("P-1", channel="email", seconds=3),
               sent("P-2", seconds=12.5), sent("P-2", stage="rebooking", seconds=20), sent("P-9", seconds=1),
               sent("P-2", channel="email", seconds=900, disruption="d3")]  # about a later flight: not this one
    assert sorted(audit.first_notice_latency_ms(records, affected, sent_at)) == [2000, 2500, 3000]


def test_leaks_are_the_passengers_own_details_only():
    known = audit.contact_strings([{"email": "abc123-1@example.com", "phone": "+12125550123"}])
    assert audit.leaked(b'{"to": "+12125550123"}', known) == [b"+12125550123"]
    assert audit.leaked(b'{"provider_id": "<d.P.first_notice.0.email@rebound.notify>"}', known) == []
    assert audit.leaked(b"mail abc123-1@example.com failed", known) == [b"abc123-1@example.com"]
    assert audit.leaked(b'"time": "2013-02-08T12:00:00+00:00", "n": +12125550199', known) == []


def test_a_grant_is_a_duplicate_twice_for_one_journey_or_under_a_journey_the_booking_lacks():
    """One meal per journey: a round trip's outbound and return are two journeys (C-173/07), so a
    meal for each is no duplicate; a meal filed under the flight the booking was moved to is."""
    day = date(2013, 2, 9)
    out = FlightScheduled(flight_id=flight_id("B6", "1", day, "JFK"), carrier="B6", number="1", origin="JFK",
                          destination="BOS", scheduled_departure=datetime(2013, 2, 9, 12, tzinfo=UTC),
                          scheduled_arrival=datetime(2013, 2, 9, 13, tzinfo=UTC), seats=100)
    back = out.model_copy(update={"flight_id": flight_id("B6", "2", day, "BOS"), "number": "2", "origin": "BOS",
                                  "destination": "JFK", "scheduled_departure": datetime(2013, 2, 9, 20, tzinfo=UTC),
                                  "scheduled_arrival": datetime(2013, 2, 9, 21, tzinfo=UTC)})
    trip = BookingConfirmed(booking_ref="RT0001", flight_ids=[out.flight_id, back.flight_id],
                            passengers=[Passenger(passenger_id="RT0001-1", fare=Decimal("200"))])
    s = scenario.Scenario(day, 1, 1, None, [out, back], [trip], [], [], 1)

    def meal(journey: str) -> dict:
        return {"booking_ref": "RT0001", "passenger_id": "RT0001-1", "regime": "AIRLINE", "kind": "meal",
                "disruption": f"RT0001/{journey}"}
    assert audit.duplicate_grants(s, [meal(out.flight_id), meal(back.flight_id)]) == []
    assert len(audit.duplicate_grants(s, [meal(out.flight_id), meal(out.flight_id)])) == 1
    assert len(audit.duplicate_grants(s, [meal(out.flight_id), meal("B6104/2013-02-09/JFK")])) == 1


def test_who_is_told_is_read_from_the_providers_logs_as_they_grow(tmp_path):
    """The replay's progress (bench/replay.py) counts told passengers from what each provider
    logged, reading only what was added since; one nobody can reach counts as told."""
    s = SimpleNamespace(affected={"AAA111-1": "AAA111", "AAA111-2": "AAA111", "BBB222-1": "BBB222",
                                  "CCC333-1": "CCC333"},
                        contacts=[{"passenger_id": "AAA111-1", "channels": ["sms"], "phone": "+12125550100"},
                                  {"passenger_id": "AAA111-2", "channels": ["email"], "email": "a@example.org"},
                                  {"passenger_id": "BBB222-1", "channels": ["push"]},
                                  {"passenger_id": "CCC333-1", "channels": ["sms"], "opted_out": ["sms"]}])
    told = audit.Told(tmp_path, s)
    assert told() == 1  # CCC333-1: nobody can reach them
    with (tmp_path / "sms.jsonl").open("a") as f:
        f.write(json.dumps({"idempotency_token": "d1:AAA111:AAA111-1:first_notice:0:sms", "to": "+1"}) + "\n")
        f.write(json.dumps({"idempotency_token": "d1:ZZZ999:ZZZ999-1:first_notice:0:sms"}) + "\n")  # not affected
    with (tmp_path / "mail.jsonl").open("a") as f:  # SendGrid's: the key is a custom argument
        f.write(json.dumps({"message_id": None, "custom_args": {
            "rebound_key": "d1:AAA111:AAA111-2:rebooking:0:email"}}) + "\n")
    line = json.dumps({"idempotency_key": "d1:BBB222:BBB222-1:first_notice:0:push"}) + "\n"
    with (tmp_path / "push.jsonl").open("a") as f:
        f.write(line[:20])  # still being written
    assert told() == 2
    with (tmp_path / "push.jsonl").open("a") as f:
        f.write(line[20:])
    with (tmp_path / "mail.jsonl").open("a") as f:  # SMTP's: the key in the Message-ID
        f.write(json.dumps({"message_id": "<d1:AAA111:AAA111-2:first_notice:0:email@rebound.notify>"}) + "\n")
    assert told() == 4
