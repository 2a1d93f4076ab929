"""Shared helpers of the benchmark scripts: timing (median of repeats) and peak memory."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time


def median_time(fn, repeats: int = 3) -> tuple[float, list[float]]:
    """Median wall time of `fn()` over `repeats` calls, and all the times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(code: str) -> dict:
    """Run `code` (which prints one JSON line last) in a fresh interpreter: memory peaks stay separate."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict], cols: list[str]) -> str:
    """A markdown table of `rows`."""
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n" for r in rows)
