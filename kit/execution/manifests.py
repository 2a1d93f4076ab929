"""A run's manifest and what makes a finished run trustworthy.

The manifest (``runs/<run_id>/manifest.json``) records when and on which code a run ran, whether it
finished, and, for every other file of the run folder, its size and sha256. A finished run is
trusted (skipped on resume, shown in the report) only when

- its manifest reads and says ``ok``,
- every file the manifest lists is there with the recorded size and hash (a truncated metrics.json,
  a deleted notebook, an edited tables/*.csv or population fingerprint are all caught here), and
- its code identity equals the current one: the sha256 of the kit's sources that decide a run's
  numbers (`IDENTITY_SOURCES`) and of the notebook's code cells (`code_identity`).

Anything else is re-executed; `check_run` says why, naming the file, so the runner, the report and
`crmkit verify` can tell the reader.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..records import OK, read_manifest

MANIFEST = "manifest.json"
KIT_ROOT = Path(__file__).resolve().parents[1]
# The kit's code that does not decide a run's numbers: how runs are executed, reported, listed,
# and the command line. Editing these does not make finished runs stale; anything else does.
NOT_IN_IDENTITY = ("execution", "report", "study", "cli.py")
MSG_CHANGED = "the {what} changed since it ran"
MSG_MISSING_FILE = "{file}: missing (the manifest lists it)"
MSG_SIZE = "{file}: {size:,} bytes, the manifest says {expected:,} (truncated or rewritten)"
MSG_HASH = "{file}: content differs from the sha256 in the manifest (edited after the run)"
MSG_BAD_MANIFEST = "manifest.json: not readable JSON"
MSG_NO_RECORDS = "manifest.json: lists no file hashes (written by an older kit)"


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


# --- Code identity ------------------------------------------------------------------------------


def identity_sources(root: Path = KIT_ROOT) -> list[Path]:
    """The kit's Python files whose content decides a run's numbers, in a fixed order."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in NOT_IN_IDENTITY and "__pycache__" not in rel.parts:
            out.append(path)
    return out


def kit_source_hash(root: Path = KIT_ROOT) -> str:
    """sha256 over the paths and contents of `identity_sources`."""
    h = hashlib.sha256()
    for path in identity_sources(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def notebook_code_hash(notebook: str | Path) -> str:
    """sha256 of the notebook's code cells in order (not its text cells, outputs or metadata)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = [c.get("source", "") for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    cells = ["".join(s) if isinstance(s, list) else s for s in cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def code_identity(notebook: str | Path, root: Path = KIT_ROOT) -> dict:
    """What, besides its parameters, decides a run's numbers: recorded in every manifest."""
    return {"kit_source": kit_source_hash(root), "notebook_code": notebook_code_hash(notebook)}


# --- Files of a finished run --------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_records(run_dir: Path) -> dict[str, dict]:
    """Size and sha256 of every file of a run folder but the manifest and logs, by relative POSIX path.

    Logs (kernel-stderr.log) are left out: they decide nothing, and a kernel that is slow to exit
    may still append a line after the manifest is written.
    """
    run_dir = Path(run_dir)
    return {
        p.relative_to(run_dir).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST and p.suffix != ".log"
    }


@dataclass(frozen=True)
class RunState:
    """What a run folder holds: `state` is ok, missing, failed, broken or changed; `detail` says why."""

    state: str
    detail: str = ""

    @property
    def trusted(self) -> bool:
        return self.state == OK


def check_run(run_dir: Path, identity: dict | None = None) -> RunState:
    """Whether a finished run can be trusted as it is (see the module's docstring).

    `identity`: the current `code_identity`; None skips that comparison (the report and verify
    judge the files; the runner also judges the code).
    """
    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST).exists():
        return RunState("missing", "not run yet" if not run_dir.exists() else "manifest.json: missing")
    m = read_manifest(run_dir)
    if not isinstance(m, dict):
        return RunState("broken", MSG_BAD_MANIFEST)
    if m.get("status") != OK:
        return RunState("failed", str(m.get("error") or "the run did not finish"))
    files = m.get("files")
    if not isinstance(files, dict) or "metrics.json" not in files:
        return RunState("broken", MSG_NO_RECORDS)
    for rel, rec in sorted(files.items()):
        path = run_dir / rel
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return RunState("broken", MSG_MISSING_FILE.format(file=rel))
        if not isinstance(rec, dict) or size != rec.get("size"):
            return RunState("broken", MSG_SIZE.format(file=rel, size=size, expected=_int(rec)))
        if _sha256(path) != rec.get("sha256"):
            return RunState("broken", MSG_HASH.format(file=rel))
    if identity is not None:
        saved = m.get("identity") or {}
        for key, what in (("kit_source", "kit's source"), ("notebook_code", "notebook's code")):
            if saved.get(key) != identity.get(key):
                return RunState("changed", MSG_CHANGED.format(what=what))
    return RunState(OK)


def _int(rec) -> int:
    try:
        return int(rec.get("size"))
    except (AttributeError, TypeError, ValueError):
        return -1


def is_done(run_dir: Path, identity: dict | None = None) -> bool:
    """True when the run finished successfully and its files agree with its manifest."""
    return check_run(run_dir, identity).trusted


__all__ = [
    "MANIFEST",
    "RunState",
    "check_run",
    "code_identity",
    "file_records",
    "git_revision",
    "identity_sources",
    "is_done",
    "kit_source_hash",
    "notebook_code_hash",
    "read_manifest",
]
