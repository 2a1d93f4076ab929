"""What a run leaves behind: JSON-safe metric records, atomic writes, versions.

Kept apart from `kit.run` so that the runner, the report and the CLI can read and write
results without importing the science stack (aif360 alone costs ~2 s at start-up).
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import secrets
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from . import __version__

# A run's status in its manifest.
OK, FAILED = "ok", "failed"
# Markers of the folders the kit owns (kit.execution.folders): a study's output folder, and a folder
# of study folders whose index.html (the list of studies) the kit may write.
STUDY_MARKER = ".crmkit-study"
REPORTS_MARKER = ".crmkit-reports"

# Packages whose versions every result records.
RECORDED_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "aif360", "papermill", "matplotlib", "pyarrow")


def jsonable(value):
    """JSON-safe copy: inf -> "inf", nan -> None, numpy scalars -> Python scalars."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def from_jsonable(value):
    """Inverse of `jsonable` for metric values: "inf" -> inf, None -> nan."""
    if isinstance(value, dict):
        return {k: from_jsonable(v) for k, v in value.items()}
    if value is None:
        return math.nan
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value


def write_atomic(path: str | Path, data: bytes | Callable[[Path], None], *, sync: bool = True) -> Path:
    """Write `data` (bytes, or a function that writes a given path) to a temporary name beside the
    target, then rename: readers never see half a file, and a failure leaves no temporary file.

    The temporary name is hidden, unique and on the same filesystem, so the rename is atomic.
    Bytes identical to the file already there are not written again: re-rendering a finished
    study changes nothing on disk, and works in a read-only folder.
    `sync` flushes bytes to the disk before the rename (fsync: 5-20 ms a file here), so that a
    power cut cannot leave an empty file under the final name; a crash of the process cannot
    either way. Files of a run being executed skip it (`kit.run.save_run`): the run's whole folder
    only counts once the runner has written its manifest.
    """
    path = Path(path)
    if not callable(data) and _same_content(path, data):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if callable(data):
            data(tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
                if sync:
                    f.flush()
                    os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.strerror is not None:
            # A failed write() (ENOSPC, EROFS) names no file; the caller's message should. An OSError
            # raised with a message and no errno keeps its message: a filename would replace it.
            exc.filename = str(path)
        raise
    return path


def _same_content(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def versions() -> dict:
    """Python, the kit and the recorded packages' versions (read once per process: the versions of
    the packages it imported, even if they are upgraded on disk while it runs; ~45 ms a call)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict:
    out = {"python": platform.python_version(), "crm-ethics-kit": __version__}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def load_metrics(path: str | Path) -> dict:
    """Read a run's metrics.json back, with inf and nan restored."""
    rec = json.loads(Path(path).read_text())
    rec["metrics"] = from_jsonable(rec["metrics"])
    return rec


def read_manifest(run_dir: Path) -> dict | None:
    """A run's manifest, or None when absent or unreadable (then the run is redone)."""
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
