"""`make bench`: run every benchmark script, print their tables, and keep them in RESULTS.md.

Each bench_*.py runs in its own interpreter (so memory peaks are its own) and prints markdown.
RESULTS.md gets the tables with the date and the machine they were measured on.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "bench_population.py",
    "bench_segmenters.py",
    "bench_measures.py",
    "bench_papermill.py",
    "bench_study.py",
    "bench_scale.py",
]


def machine() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024**2:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    scripts = [HERE / s for s in ORDER if (HERE / s).exists()]
    scripts += sorted(p for p in HERE.glob("bench_*.py") if p.name not in ORDER)
    parts = [
        f"# Benchmark results\n\nMeasured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.\n"
        "Rerun with `make bench`.\n"
    ]
    failed = 0
    for s in scripts:
        print(f"running {s.name} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, str(s)], capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode != 0:
            failed += 1
            parts.append(f"## {s.name}: FAILED\n\n```\n{proc.stderr[-2000:]}\n```\n")
        else:
            parts.append(proc.stdout.strip() + "\n")
        print(parts[-1])
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print(f"written: {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
