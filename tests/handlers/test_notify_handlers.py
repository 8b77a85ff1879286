"""Notify's handler on real PostgreSQL, each test rolled back: a notice becomes one delivery per
passenger per usable channel, and a passenger nobody can reach is reported, not forgotten."""

from datetime import UTC, datetime

import pytest

from services.notify import status
from services.notify.config import Config, NotifySettings
from shared import notices, topics
from shared.events import NoticeDelivered, NoticeRequested
from tests.handlers.airline import booking, contacts, flight, leg
from tests.handlers.world import event, handle, outbox_rows

pytestmark = pytest.mark.handlers

CANCELLED = flight("101", "JFK", "BOS", 17)


def first_notice(passenger_ids: list[str]) -> NoticeRequested:
    cancelled = notices.FirstNoticeCancelled.model_validate(
        notices.flight_facts(leg(CANCELLED)) | {"cause": "weather", "delay_minutes": 0})
    return notices.request(cancelled, disruption_id="d-1", booking_ref="NTFY01", passenger_ids=passenger_ids,
                           stage="first_notice", occurred_at=datetime.now(UTC), about=CANCELLED.flight_id)


async def test_a_notice_is_planned_on_each_chosen_channel_and_nobody_is_left_silent(connections):
    conn = connections["notify"]
    b = booking("NTFY01", CANCELLED, party=2)
    await contacts(conn, b.model_copy(update={"passengers": b.passengers[:1]}), ["sms", "email"])
    await handle(conn, "notify", topics.FIRST_NOTICES, event(first_notice(["NTFY01-1", "NTFY01-2"])))
    rows = await conn.fetch("SELECT passenger_id, channel, status FROM deliveries ORDER BY passenger_id, channel")
    assert [tuple(r) for r in rows] == [("NTFY01-1", "email", "pending"), ("NTFY01-1", "sms", "pending"),
                                        ("NTFY01-2", "none", "undeliverable")]
    [(topic, reported)] = await outbox_rows(conn)
    assert topic == topics.NOTICE_DELIVERIES and isinstance(reported.data, NoticeDelivered)
    assert (reported.data.passenger_id, reported.data.status) == ("NTFY01-2", "undeliverable")


async def test_a_newer_notice_about_the_same_flight_replaces_one_not_yet_sent(connections):
    conn = connections["notify"]
    await contacts(conn, booking("NTFY01", CANCELLED), ["sms"])
    await handle(conn, "notify", topics.FIRST_NOTICES, event(first_notice(["NTFY01-1"])))
    newer = first_notice(["NTFY01-1"]).model_copy(update={"disruption_id": "d-2"})
    await handle(conn, "notify", topics.FIRST_NOTICES, event(newer))
    rows = await conn.fetch("SELECT disruption_id, status FROM deliveries ORDER BY disruption_id")
    assert [tuple(r) for r in rows] == [("d-1", "superseded"), ("d-2", "pending")]
    reports = [e.data for _, e in await outbox_rows(conn)]
    assert [(r.disruption_id, r.status) for r in reports] == [("d-1", "superseded")]


async def test_two_bookings_passengers_of_the_same_id_are_two_people(connections):
    """A passenger id is unique only within its booking (Amadeus numbers each booking's passengers
    from 1): contacts are found, and deliveries kept once, by booking and passenger. Found here:
    by id alone, the second booking's passenger got the first's contact details, or nothing."""
    conn = connections["notify"]
    for ref, channel in (("NTFY01", "sms"), ("NTFY02", "email")):
        b = booking(ref, CANCELLED)
        await contacts(conn, b.model_copy(update={"passengers": [b.passengers[0].model_copy(
            update={"passenger_id": "1"})]}), [channel])
    for ref in ("NTFY01", "NTFY02"):
        notice = first_notice(["1"]).model_copy(update={"booking_ref": ref})
        await handle(conn, "notify", topics.FIRST_NOTICES, event(notice))
    rows = await conn.fetch("SELECT booking_ref, passenger_id, channel, status FROM deliveries ORDER BY booking_ref")
    assert [tuple(r) for r in rows] == [("NTFY01", "1", "sms", "pending"), ("NTFY02", "1", "email", "pending")]


async def test_a_report_on_a_text_not_yet_recorded_waits_for_it_and_then_counts(connections):
    """Twilio calls back within milliseconds of taking a text, while the sender is still recording
    its batch: a report on a provider id nobody has recorded yet is held, not dropped, and counts
    once the text is recorded (the undelivered text then goes by email). Found in CI: a passenger
    whose text was undelivered got no email, because the report came first. Twilio says a status
    callback is an HTTP request like any other, with no promise of when it arrives
    (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks)."""
    conn = connections["notify"]
    config = Config.of(NotifySettings(environment="test"))
    await contacts(conn, booking("NTFY01", CANCELLED, party=2), ["sms"])
    await handle(conn, "notify", topics.FIRST_NOTICES, event(first_notice(["NTFY01-1", "NTFY01-2"])))
    await conn.execute("UPDATE deliveries SET status = 'sending'")  # claimed; the provider has them

    await status.record_reports(conn, config.settings, [("SM-2", "delivered")], [("SM-1", "undelivered")])
    held = await conn.fetch("SELECT provider_id, state, failed FROM early_reports ORDER BY provider_id")
    assert [tuple(r) for r in held] == [("SM-1", "undelivered", True), ("SM-2", "delivered", False)]
    assert await status.sweep_early_reports(conn, config) == 0  # nothing recorded yet: still held
    assert await outbox_rows(conn) == []

    await conn.execute("UPDATE deliveries SET status = 'sent', provider_id = 'SM-' || right(passenger_id, 1)")
    assert await status.sweep_early_reports(conn, config) == 2
    rows = await conn.fetch("SELECT passenger_id, channel, status, provider_status, fallback_of IS NOT NULL"
                            " FROM deliveries ORDER BY passenger_id, channel")
    assert [tuple(r) for r in rows] == [("NTFY01-1", "email", "pending", None, True),
                                        ("NTFY01-1", "sms", "failed", "undelivered", False),
                                        ("NTFY01-2", "sms", "sent", "delivered", False)]
    assert await conn.fetchval("SELECT count(*) FROM early_reports") == 0
    [(_, told)] = await outbox_rows(conn)
    assert (told.data.passenger_id, told.data.status) == ("NTFY01-1", "failed")
    assert await status.sweep_early_reports(conn, config) == 0  # applied once


async def test_a_held_report_nobody_records_is_forgotten_after_a_day(connections):
    """Another sender on the same provider account: its reports are never ours."""
    conn = connections["notify"]
    await conn.execute("INSERT INTO early_reports (provider_id, state, failed, received_at)"
                       " VALUES ('SM-old', 'undelivered', true, now() - interval '25 hours'),"
                       " ('SM-new', 'undelivered', true, now())")
    assert await status.sweep_early_reports(conn, Config.of(NotifySettings(environment="test"))) == 0
    assert await conn.fetchval("SELECT array_agg(provider_id) FROM early_reports") == ["SM-new"]
