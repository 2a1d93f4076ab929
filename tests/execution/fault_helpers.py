"""Fault injection for the study runner: start `crmkit run` as a real process, hurt it, and judge
what it left. Every process the runner starts inherits CRMKIT_FAULT_TAG, so an orphan is any
process still carrying the tag after its runner is gone (zygote-forked kernels included: their
/proc/<pid>/environ is the zygote's, which has the tag)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kit.execution.manifests import check_run
from kit.records import load_metrics
from kit.run import run_experiment, validate_run

ROOT = Path(__file__).resolve().parents[2]
TAG = "CRMKIT_FAULT_TAG"


def study_file(folder: Path, seeds=(1, 2), approaches="[mass, kmeans]", name="f", n=1000) -> Path:
    p = folder / f"{name}.yaml"
    p.write_text(
        f"name: {name}\nbase: {{n_customers: {n}}}\n"
        f"grid:\n  approach: {approaches}\nseeds: [{', '.join(map(str, seeds))}]\n"
    )
    return p


def _default_sigint() -> None:
    """In the runner's child before exec: Ctrl-C's default disposition, as a terminal job has. A test suite
    started in the background by a non-interactive shell (`make test &`) runs with SIGINT ignored, and an
    ignored signal stays ignored across exec: the runner would then never see the test's SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Runner:
    """`crmkit run STUDY --out OUT` in its own session (like a terminal job), tagged, logged."""

    def __init__(self, study: Path, out: Path, jobs: int = 2, extra: tuple = (), prefix: tuple = ()):
        self.tag = uuid.uuid4().hex
        self.log = out.parent / f"runner-{self.tag[:8]}.log"
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, TAG: self.tag}
        cmd = [*prefix, sys.executable, "-m", "kit.cli", "run", str(study), "--out", str(out), "--jobs", str(jobs)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*cmd, *extra],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_sigint,
            )
        self.pid = self.proc.pid

    def wait(self, timeout: float = 900) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment carries the tag (zombies excluded)."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(d.name))
        except OSError:
            continue
    return found


def wait_gone(tag: str, timeout: float = 20.0) -> list[int]:
    """Wait until no tagged process is left; return those still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill_all(tag: str) -> None:
    for pid in tagged(tag):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def wait_for(predicate, timeout: float = 600.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def finished_runs(out: Path) -> list[Path]:
    return [p.parent for p in (out / "runs").glob("*/manifest.json")] if (out / "runs").is_dir() else []


def leftovers(out: Path) -> list[str]:
    """Work folders, swapped-out folders and temporary files anywhere under `out`."""
    if not out.exists():
        return []
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.name.endswith((".work", ".old", ".tmp")) and p.name.startswith(".")
    )


def untrusted(out: Path) -> dict[str, str]:
    """Visible run folders that are not complete and intact: {run_id: why}."""
    bad = {}
    for run in (out / "runs").iterdir() if (out / "runs").is_dir() else []:
        if run.name.startswith("."):
            continue
        s = check_run(run)
        if not s.trusted:
            bad[run.name] = f"{s.state}: {s.detail}"
    return bad


def metrics_by_run(out: Path) -> dict[str, dict]:
    return {run.name: load_metrics(run / "metrics.json")["metrics"] for run in finished_runs(out)}


_reference: dict[str, dict] = {}


def reference_metrics(out: Path) -> dict[str, dict]:
    """What a clean in-process execution of each run in `out` gives (cached by parameters)."""
    ref = {}
    for run in finished_runs(out):
        params = load_metrics(run / "metrics.json")["params"]
        key = repr(sorted(params.items()))
        if key not in _reference:
            _reference[key] = run_experiment(validate_run(params)).metrics
        ref[run.name] = _reference[key]
    return ref


def same_metrics(a: dict, b: dict) -> bool:
    import math

    def eq(x, y):
        return (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)) or x == y

    return set(a) == set(b) and all(eq(a[k], b[k]) for k in a)


def namespace_prefix() -> tuple[str, ...] | None:
    """A command prefix that gives a private mount namespace (to mount a small tmpfs, or remount a
    folder read-only) without touching the machine's mounts: `unshare -m` as root, else
    `unshare -rm` (a user namespace). None if neither works here."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (("unshare", "-m"), ("unshare", "-rm")):
        if prefix == ("unshare", "-m") and os.geteuid() != 0:
            continue
        ok = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt || exit 1"], capture_output=True
        )
        if ok.returncode == 0:
            return prefix
    return None
