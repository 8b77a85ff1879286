"""Notify's schema through a rolling upgrade from the previous release (contracts/release.json):
the expand half lets the previous release's SQL run beside this release's; the post-deploy half,
once every replica runs this release, makes a passenger id unique within its booking only.

The previous release's statements are its own, as it runs them (075e135:services/notify/contacts.py
put_contacts, 075e135:services/notify/handlers.py _store): the conflict targets are what matter."""

import uuid
from pathlib import Path

import asyncpg
import pytest

from faults import release
from services.notify.contacts import Contact, _store
from shared import db
from tests.conftest import Infrastructure, fresh_database

ROOT = Path(__file__).resolve().parents[2]
NOTIFY = ROOT / "services" / "notify" / "migrations"
CONTRACT = ["post_deploy/000_own_locks.sql", "post_deploy/005_contacts_by_booking.sql"]

PREVIOUS_CONTACT_UPSERT = """
    INSERT INTO contacts (passenger_id, booking_ref, given_name, email, phone, channels, opted_out, locale)
    VALUES ($1, $2, 'Ana', NULL, '+34600000001', ARRAY['sms'], ARRAY[]::text[], 'es')
    ON CONFLICT (passenger_id) DO UPDATE SET
        booking_ref = EXCLUDED.booking_ref, given_name = EXCLUDED.given_name, updated_at = now()"""
PREVIOUS_DELIVERY_PLAN = """
    INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref,
                            template, facts, occurred_at, about, status)
    VALUES ($1, 'd1', 'first', 1, 'sms', $2, 'cancelled', '{}'::jsonb, now(), 'AB123', 'pending')
    ON CONFLICT (passenger_id, disruption_id, stage, revision, channel) DO NOTHING
    RETURNING id"""
THIS_DELIVERY_PLAN = PREVIOUS_DELIVERY_PLAN.replace(
    "ON CONFLICT (passenger_id,", "ON CONFLICT (booking_ref, passenger_id,")


def contact(booking_ref: str, passenger_id: str = "1") -> Contact:
    return Contact(passenger_id=passenger_id, booking_ref=booking_ref, given_name="Ana", phone="+34600000001",
                   channels=["sms"])


@pytest.fixture
async def database(infrastructure: Infrastructure):
    async with fresh_database(infrastructure, f"rebound_rolling_{uuid.uuid4().hex[:10]}") as url:
        yield url


async def test_a_new_schema_takes_the_post_deploy_half_at_once(database: str) -> None:
    """No earlier release ever ran on it: nothing waits."""
    assert await db.migrate(database, "notify", NOTIFY) == []
    pool = await db.create_pool(database, "notify")
    try:
        await _store(pool, [contact("ABC123"), contact("XYZ789")])  # two bookings, each with a passenger "1"
        assert await pool.fetchval("SELECT count(*) FROM contacts WHERE passenger_id = '1'") == 2
    finally:
        await pool.close()


async def test_the_services_own_locks_keep_replicas_apart(database: str) -> None:
    """The outbox relay's lock goes to one replica at a time; keyed locks make the next holder wait."""
    await db.migrate(database, "notify", NOTIFY)
    one = await asyncpg.connect(database, server_settings={"search_path": "notify"})
    two = await asyncpg.connect(database, server_settings={"search_path": "notify"})
    try:
        async with one.transaction():
            assert await db.try_lock_relay(one)
            async with two.transaction():
                assert not await db.try_lock_relay(two)
            await db.lock(one, ["booking:ABC123", "booking:XYZ789"])
            async with two.transaction():
                await two.execute("SET LOCAL lock_timeout = '200ms'")
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await db.lock(two, ["booking:XYZ789"])
        async with two.transaction():
            await db.lock(two, ["booking:XYZ789"])  # free once the first transaction ended
            assert await db.try_lock_relay(two)
    finally:
        await one.close()
        await two.close()


async def test_both_releases_run_on_the_expanded_schema_and_the_post_deploy_half_waits(database: str) -> None:
    await release.migrate(database, "notify", release.source())  # the database as the previous release left it
    assert await db.migrate(database, "notify", NOTIFY) == CONTRACT, "a rolling upgrade must not contract"
    assert await db.migrate(database, "notify", NOTIFY) == CONTRACT, "nor a second replica of this release"
    pool = await db.create_pool(database, "notify")
    try:
        async with pool.acquire() as conn:
            # The previous release: its contact upsert and its delivery plan still find their keys.
            await conn.execute(PREVIOUS_CONTACT_UPSERT, "7", "ABC123")
            await conn.execute(PREVIOUS_CONTACT_UPSERT, "7", "ABC123")
            assert await conn.fetchval(PREVIOUS_DELIVERY_PLAN, "7", "ABC123") is not None
            assert await conn.fetchval(PREVIOUS_DELIVERY_PLAN, "7", "ABC123") is None  # once
            # This release beside it: the same delivery is not planned again, by either's key.
            assert await conn.fetchval(THIS_DELIVERY_PLAN, "7", "ABC123") is None
        await _store(pool, [contact("ABC123", "7")])
        # Until the post-deploy half, a passenger id held by another booking is refused, whole.
        with pytest.raises(asyncpg.UniqueViolationError):
            await _store(pool, [contact("ABC123", "8"), contact("XYZ789", "7")])
        assert await pool.fetchval("SELECT count(*) FROM contacts WHERE passenger_id = '8'") == 0

        assert await db.migrate(database, "notify", NOTIFY, post_deploy=True) == []
        await _store(pool, [contact("XYZ789", "7")])
        assert await pool.fetchval("SELECT count(*) FROM contacts WHERE passenger_id = '7'") == 2
        async with pool.acquire() as conn:
            assert await conn.fetchval(THIS_DELIVERY_PLAN, "7", "XYZ789") is not None
            assert await conn.fetchval(THIS_DELIVERY_PLAN, "7", "XYZ789") is None
            # Why the contract waits for the rollout's end: the previous release's key is gone.
            with pytest.raises(asyncpg.InvalidColumnReferenceError):
                await conn.execute(PREVIOUS_CONTACT_UPSERT, "7", "ABC123")
    finally:
        await pool.close()
