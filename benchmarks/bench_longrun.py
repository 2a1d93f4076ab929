"""Cost of the multi-period trust simulation: a 12-period run against a single-period run.

Target: a 12-period run (horizon 12) at 20,000 customers costs <= 10x a single-period run (horizon 1),
both the whole `run_experiment` (population, fit, targeting, every measurement). One warm-up run
first (imports, aif360), then the median of 3 of each, alternating.

    .venv/bin/python benchmarks/bench_longrun.py [--approaches kmeans,mass,fair_kmeans] [--n 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import table

from kit.run import run_experiment, validate_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--approaches", default="kmeans,mass,unaware,fair_kmeans")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    run_experiment(validate_run({"approach": "kmeans", "n_customers": 2000}))  # warm-up
    rows = []
    for approach in args.approaches.split(","):
        times = {1: [], 12: []}
        for _ in range(args.repeats):
            for horizon in (1, 12):
                p = validate_run({"approach": approach, "n_customers": args.n, "horizon": horizon})
                t0 = time.perf_counter()
                run_experiment(p)
                times[horizon].append(time.perf_counter() - t0)
        one, twelve = statistics.median(times[1]), statistics.median(times[12])
        rows.append(
            {
                "approach": approach,
                "horizon 1 (s)": f"{one:.2f}",
                "horizon 12 (s)": f"{twelve:.2f}",
                "ratio": f"{twelve / one:.1f}",
                "target <= 10": "met" if twelve <= 10 * one else "MISSED",
            }
        )
    print(f"{args.n:,} customers, median of {args.repeats}")
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
