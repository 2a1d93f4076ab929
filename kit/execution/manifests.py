"""A run's manifest: when and on which code revision it ran, and whether it finished."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from ..records import OK, read_manifest


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_revision(cwd: Path | None = None) -> dict:
    """The code's git revision and whether the work tree had uncommitted changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cwd, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=10,
        )
        if rev.returncode != 0:
            return {"revision": None, "dirty": None}
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}


def is_done(run_dir: Path) -> bool:
    """True when the run finished successfully and its results are all there."""
    m = read_manifest(run_dir)
    return bool(m and m.get("status") == OK and (run_dir / "metrics.json").exists())
