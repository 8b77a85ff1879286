"""Backups that restore, proven by restoring one: the drill (bench/restore_drill.py) on the tests'
own PostgreSQL, whose every WAL segment pgBackRest archives (deploy/local/pgbackrest.sh).

A sampled real day (8 February 2013) runs through the real services on real Kafka and
PostgreSQL in two halves; the backup is restored to a moment between them, into a fresh data
directory, and every outcome, grant, payout, notice and announcement acknowledged before that
moment must be there, as it was, with nothing from after it, and the audit of the first half
(bench/audit.py) must be clean on the restored copy. pgBackRest's own restore, with
PostgreSQL's recovery_target_time, is what is exercised: the drill checks its result, it does
not imitate it."""

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from bench import restore_drill
from shared.settings import Settings
from tests.conftest import ROOT, Infrastructure

pytestmark = pytest.mark.integration


async def test_a_point_in_time_restore_keeps_everything_acknowledged_and_nothing_after(
        infrastructure: Infrastructure, tmp_path: Path) -> None:
    base = Settings(kafka_bootstrap=infrastructure.kafka_bootstrap,
                    database_url=infrastructure.admin_database_url)
    results = await restore_drill.drill(base, date(2013, 2, 8), 2013, 4, tmp_path)

    tables = results["tables"]
    assert {name: t["lost"] for name, t in tables.items()} == dict.fromkeys(restore_drill.ACKNOWLEDGED, 0)
    assert {name: t["after_target"] for name, t in tables.items()} == dict.fromkeys(restore_drill.ACKNOWLEDGED, 0)
    # The drill acknowledged something of every kind before the target, and went on after it.
    assert all(t["acknowledged"] for t in tables.values()), tables
    assert results["written_after_target"]["outcomes"] > 0
    assert results["audit_live"]["clean"] and results["audit_restored"]["clean"], results
    assert results["clean"]


def test_a_backup_without_its_repository_is_refused_naming_it(tmp_path: Path) -> None:
    answer = subprocess.run([ROOT / "deploy/local/infra.sh", "backup"], capture_output=True, text=True,
                            env=os.environ | {"REBOUND_LOCAL_STATE": str(tmp_path)})
    assert answer.returncode == 1
    assert f"the backup repository {tmp_path}/pgbackrest-" in answer.stderr and "is missing" in answer.stderr


def test_a_restore_into_a_directory_in_use_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    answer = subprocess.run([ROOT / "deploy/local/infra.sh", "restore", "2013-02-08 12:00:00+00", str(tmp_path)],
                            capture_output=True, text=True)
    assert answer.returncode == 1
    assert f"{tmp_path} is not empty" in answer.stderr
