"""How fast `make_population` is, and how much memory it needs, at 100k and 1M customers.

Each size runs in its own subprocess, so the peak memory figure (the process's maximum resident set
size, from ``resource.getrusage``) belongs to that size alone. Inside it the population is generated
three times and the median time is printed; then it is saved and loaded back once (``load_population``
validates the whole schema, so its cost is printed too).

    .venv/bin/python benchmarks/bench_population.py [--sizes 100000 1000000] [--seed 0]

Target (issue 3): 1,000,000 customers in <= 2 s with <= 1.5 GB peak memory on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3


def _maxrss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(n: int, seed: int) -> dict:
    """Generate, save and load a population of `n` customers in this process; return the figures."""
    from kit.population import load_population, make_population, save_population

    baseline = _maxrss_mib()
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        pop = make_population(n, random_state=seed)
        times.append(time.perf_counter() - t0)
        del pop
    peak_generate = _maxrss_mib()
    pop = make_population(n, random_state=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pop.parquet"
        t0 = time.perf_counter()
        save_population(pop, path)
        t_save = time.perf_counter() - t0
        size = path.stat().st_size
        del pop
        t0 = time.perf_counter()
        load_population(path)
        t_load = time.perf_counter() - t0
    return {
        "n": n,
        "times": times,
        "median_s": sorted(times)[len(times) // 2],
        "baseline_mib": baseline,
        "peak_generate_mib": peak_generate,
        "save_s": t_save,
        "load_s": t_load,
        "file_mib": size / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure_one(args.child, args.seed)))
        return 0
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"{platform.platform()}; median of {REPEATS} generations, one subprocess per size"
    )
    print("load average before (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(
        f"{'customers':>10} {'generate s':>11} {'(all runs)':>22} {'peak RSS MiB':>13} {'imports MiB':>12} "
        f"{'save s':>7} {'load s':>7} {'file MiB':>9}"
    )
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        runs = " ".join(f"{t:.2f}" for t in r["times"])
        print(
            f"{n:>10,} {r['median_s']:>11.2f} {runs:>22} {r['peak_generate_mib']:>13.0f} "
            f"{r['baseline_mib']:>12.0f} {r['save_s']:>7.2f} {r['load_s']:>7.2f} {r['file_mib']:>9.1f}"
        )
    print("load average after (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
