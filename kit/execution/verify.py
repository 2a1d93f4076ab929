"""`crmkit verify`: re-execute a study's runs and compare what they saved, exactly.

For each run: its files are first checked against its manifest (a truncated, edited or deleted
file is named), then the run is executed again in a scratch folder and compared with what is saved:
every metric (bit for bit; nan equals nan), the population fingerprint, and every table
(tables/*.csv, byte for byte). A run that cannot be checked (no manifest, unreadable files, a
failed run, a failed re-execution) counts as a failure, never as a success: the last line says
how many runs reproduced, differ, and could not be checked, and the exit status is 0 only when
every run checked reproduced.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..records import OK, from_jsonable
from ..study import Study
from .manifests import MSG_BAD_MANIFEST, check_run, code_identity, git_revision
from .runner import execute_run


@dataclass
class Verdict:
    """One run's verification: what differs, and what could not be checked (with why)."""

    run_id: str
    label: str
    seed: int
    checked: int = 0
    differ: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.checked == 0:
            return "unchecked"
        return "differs" if self.differ or self.problems else "reproduced"


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def _read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
        rec["metrics"] = from_jsonable(rec["metrics"])
        return rec
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _tables(run_dir: Path) -> dict[str, bytes]:
    folder = run_dir / "tables"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}


def compare(saved_dir: Path, fresh_dir: Path, verdict: Verdict) -> None:
    """Compare a saved run folder with a fresh execution of it; fill `verdict`."""
    before, after = _read_record(saved_dir / "metrics.json"), _read_record(fresh_dir / "metrics.json")
    if before is None:
        verdict.problems.append("metrics.json: not readable")
        return
    if after is None:
        verdict.problems.append("the re-execution wrote no readable metrics.json")
        return
    m0, m1 = before["metrics"], after["metrics"]
    verdict.differ += sorted(k for k in set(m0) | set(m1) if not _same(m0.get(k), m1.get(k)))
    verdict.checked += len(set(m0) | set(m1))
    verdict.checked += 1
    if before.get("population_fingerprint") != after.get("population_fingerprint"):
        verdict.differ.append("population_fingerprint")
    t0, t1 = _tables(saved_dir), _tables(fresh_dir)
    for name in sorted(set(t0) | set(t1)):
        verdict.checked += 1
        if t0.get(name) != t1.get(name):
            verdict.differ.append(f"tables/{name}" + ("" if name in t0 else " (missing)"))


def verify_study(study: Study, out: Path, sample: int | None = None, stream=None) -> list[Verdict]:
    """Verify the study's runs (the first `sample` that have a folder, or all); print a table."""
    out = Path(out)
    runs = study.runs
    if sample:
        runs = [r for r in runs if (out / "runs" / r.run_id).exists()][:sample]
    identity = code_identity(study.notebook)
    git = git_revision()
    verdicts = []
    print(f"{'run':18} {'setting':28} {'seed':>5} {'checked':>8} {'differ':>7}", file=stream)
    with tempfile.TemporaryDirectory(prefix="crmkit-verify-") as tmp:
        for spec in runs:
            v = Verdict(spec.run_id, spec.label, spec.params["seed"])
            run_dir = out / "runs" / spec.run_id
            state = check_run(run_dir)
            if state.state in ("missing", "failed"):
                v.problems.append("not run" if state.state == "missing" else "the run failed; nothing to compare")
            else:
                if state.state == "broken":
                    v.problems.append(state.detail)
                if state.detail != MSG_BAD_MANIFEST and (run_dir / "metrics.json").exists():
                    rec = execute_run(spec, str(study.notebook), tmp, git, study.name, identity)
                    if rec["status"] != OK:
                        v.problems.append(f"the re-execution failed: {str(rec['error']).splitlines()[0][:200]}")
                    else:
                        compare(run_dir, Path(tmp) / spec.run_id, v)
            verdicts.append(v)
            shown = ", ".join(v.differ + v.problems)
            differ = "-" if v.outcome == "unchecked" else str(len(v.differ) + len(v.problems))
            print(
                f"{spec.run_id:18} {spec.label[:28]:28} {v.seed:>5} {v.checked or '-':>8} {differ:>7}"
                + (f"  ({shown})" if shown else ""),
                file=stream,
            )
    n = len(verdicts)
    ok = sum(v.outcome == "reproduced" for v in verdicts)
    unchecked = sum(v.outcome == "unchecked" for v in verdicts)
    line = f"{ok} of {n} runs reproduced exactly"
    if n - ok - unchecked:
        line += f"; {n - ok - unchecked} differ"
    if unchecked:
        line += f"; {unchecked} could not be checked (counted as failures)"
    print(line, file=stream)
    return verdicts
