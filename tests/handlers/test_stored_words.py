"""What the services stored before a field was renamed is read after it: the migrations rewrite
disruptions kept as received (rebooking) and deliveries planned but not sent (notify)."""

import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from shared import db, notices
from shared.events import PassengerDisruption
from tests.handlers.airline import flight, leg

pytestmark = pytest.mark.handlers

ROOT = Path(__file__).resolve().parents[2]
CANCELLED = flight("101", "JFK", "BOS", 17)
BEFORE = {"type": "passenger.disrupted", "disruption_id": "d-1", "booking_ref": "OLD001", "passenger_ids": ["OLD001-1"],
          "flight": leg(CANCELLED).model_dump(mode="json"), "segments": [], "kind": "cancelled", "severity": "major",
          "reason": "weather", "delay_minutes": 0, "noticed_at": "2013-02-08T15:00:00Z"}


async def migrated_to(url: str, service: str, tmp_path: Path, last: str) -> str:
    """A schema of its own with the service's migrations up to `last`."""
    schema = f"{service}_{uuid.uuid4().hex[:8]}"
    (tmp_path / service).mkdir()
    for path in sorted((ROOT / "services" / service / "migrations").glob("*.sql")):
        if path.name <= last:
            shutil.copy(path, tmp_path / service / path.name)
    await db.migrate(url, schema, tmp_path / service)
    return schema


async def test_a_disruption_kept_before_reads_after(handler_database: str, tmp_path: Path):
    schema = await migrated_to(handler_database, "rebooking", tmp_path, "003")
    conn = await asyncpg.connect(handler_database, server_settings={"search_path": schema})
    await db.init_connection(conn)
    try:
        await conn.execute("INSERT INTO pending (disruption_id, booking_ref, disruption) VALUES ('d-1', 'OLD001', $1)",
                           BEFORE)
        await conn.execute("INSERT INTO rebookings (disruption_id, booking_ref, outcome, from_flight, seats, reason,"
                           " decided) VALUES ('d-1', 'OLD001', 'rebooked', 'f', 1, 'why', $1)", BEFORE)
        await db.migrate(handler_database, schema, ROOT / "services/rebooking/migrations")
        for stored in (await conn.fetchval("SELECT disruption FROM pending"),
                       await conn.fetchval("SELECT decided FROM rebookings")):
            d = PassengerDisruption.model_validate(stored)
            assert d.cause == "weather" and d.accepted_at is not None and d.accepted_at.hour == 15
    finally:
        await conn.execute(f"DROP SCHEMA {db.identifier(schema)} CASCADE")
        await conn.close()


async def test_a_first_notice_planned_before_renders_after(handler_database: str, tmp_path: Path):
    schema = await migrated_to(handler_database, "notify", tmp_path, "003")
    conn = await asyncpg.connect(handler_database, server_settings={"search_path": schema})
    await db.init_connection(conn)
    old = notices.facts_of(notices.FirstNoticeCancelled.model_validate(
        notices.flight_facts(leg(CANCELLED)) | {"cause": "weather", "delay_minutes": 0}))
    old["reason"] = old.pop("cause")  # as the services wrote it before
    try:
        await conn.execute("INSERT INTO deliveries (passenger_id, disruption_id, stage, channel, booking_ref, template,"
                           " facts, occurred_at) VALUES ('P1', 'd-1', 'first_notice', 'sms', 'OLD001',"
                           " 'first_notice_cancelled', $1, now())",
                           old)
        await db.migrate(handler_database, schema, ROOT / "services/notify/migrations")
        stored = await conn.fetchrow("SELECT template, facts FROM deliveries")
        notice = notices.read(stored["template"], stored["facts"])
        assert isinstance(notice, notices.FirstNoticeCancelled) and notice.cause == "weather"
    finally:
        await conn.execute(f"DROP SCHEMA {db.identifier(schema)} CASCADE")
        await conn.close()
