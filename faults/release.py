"""The previous release's source, built from git: what a rolling upgrade starts from.

The release is the one contracts/release.json was recorded from (the event contract's upgrade
check reads the same file), so the fault harness and the schema's upgrade tests run the very
code the contract check compares against."""

import asyncio
import fcntl
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELEASES = ROOT / ".local" / "releases"


def previous_release() -> str:
    return str(json.loads((ROOT / "contracts" / "release.json").read_text())["release"])


def source(commit: str | None = None) -> Path:
    """The release's tree, extracted once under .local/releases/<commit>; run its services with
    this checkout's virtualenv from there."""
    commit = commit or previous_release()
    target = RELEASES / commit
    RELEASES.mkdir(parents=True, exist_ok=True)
    with (RELEASES / f"{commit}.lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes or a harness extracting at once
        if (target / ".complete").exists():
            return target
        built = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], capture_output=True)
        if built.returncode:
            raise RuntimeError(f"the previous release {commit} is not in this clone's history (a shallow clone?"
                               f" git fetch --unshallow): {built.stderr.decode(errors='replace').strip()}")
        shutil.rmtree(target, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(built.stdout)) as tree:
            tree.extractall(target, filter="data")
        (target / ".complete").touch()
    return target


# The previous release's own migrate, run from its tree: its shared tables and its rules.
_MIGRATE = ("import asyncio, sys; from pathlib import Path; from shared import db; "
            "asyncio.run(db.migrate(sys.argv[1], sys.argv[2], Path('services', sys.argv[2], 'migrations')))")


async def migrate(database_url: str, service: str, tree: Path) -> None:
    """The service's schema as the release at `tree` leaves it when its replicas start."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", _MIGRATE, database_url, service, cwd=tree,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"the previous release's migrations for {service} failed:\n{output.decode()[-2000:]}")
