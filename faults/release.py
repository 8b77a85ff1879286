"""The previous release's source, built from git: what a rolling upgrade starts from.

The release is the one contracts/release.json was recorded from (the event contract's upgrade
check reads the same file), so the fault harness and the schema's upgrade tests run the very
code the contract check compares against."""

import fcntl
import io
import json
import shutil
import subprocess
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
