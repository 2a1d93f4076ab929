"""The default study end to end (papermill runs, report), with --jobs 1 and --jobs 2.

Each repeat runs into a fresh temporary folder, so nothing is resumed. Target: <= 3 minutes on
2 cores. `--repeats` defaults to 1 because one repeat takes minutes; pass 3 for a median.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def time_study(study: str, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kit.cli", "run", study, "--out", tmp, "--jobs", str(jobs)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0


def main(study: str = "studies/default.yaml", repeats: int = 1) -> str:
    from kit.study import load_study

    n_runs = len(load_study(ROOT / study, ROOT).runs)
    rows = []
    for jobs in (1, 2):
        times = sorted(time_study(study, jobs) for _ in range(repeats))
        med = times[len(times) // 2]
        rows.append(
            {
                "jobs": jobs,
                "runs": n_runs,
                "median s": f"{med:.1f}",
                "s per run": f"{med / n_runs:.2f}",
                "repeats": repeats,
                "target": "<= 180 s" if jobs == 2 else "",
            }
        )
    return f"## Study `{study}` end to end\n\n" + table(
        rows, ["jobs", "runs", "median s", "s per run", "repeats", "target"]
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", default="studies/default.yaml")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    print(main(a.study, a.repeats))
