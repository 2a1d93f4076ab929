"""How fast every approach fits and predicts, and how much memory it allocates, at 100k and 1M customers.

For each size a population of that many customers is generated once (95% of them in the campaign,
so the tree has responses to learn from) and every approach is fitted on all of them and then
predicts all of them: ``make_segmenter(name, random_state=0).fit(customers).predict(customers)``,
with default parameters. The time printed is the median of three runs; then one more run under
``tracemalloc`` gives the peak memory the fit and predict allocated (numpy buffers included; the
population itself is not counted). The last column checks the target of issue 4: fit + predict
<= 10 s at 100,000 customers and <= 60 s at 1,000,000.

    .venv/bin/python benchmarks/bench_segmenters.py [--sizes 100000 1000000] [--approaches kmeans gmm] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.population import make_population  # noqa: E402
from kit.segmenters import REGISTRY, make_segmenter  # noqa: E402

TARGET_S = {100_000: 10.0, 1_000_000: 60.0}


def fit_predict(name: str, customers) -> None:
    seg = make_segmenter(name, random_state=0).fit(customers)
    seg.predict(customers)


def measure(name: str, customers, repeats: int) -> tuple[float, float, float]:
    """(median seconds, min seconds, peak MiB) of fit + predict."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fit_predict(name, customers)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fit_predict(name, customers)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), min(times), peak / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--approaches", nargs="+", default=list(REGISTRY), choices=list(REGISTRY))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    print(
        f"fit + predict on the same customers, default parameters; median of {args.repeats} runs; "
        "peak = tracemalloc peak of one more run"
    )
    failed = 0
    for n in args.sizes:
        t = time.perf_counter()
        customers = make_population(n, history_share=0.95, random_state=0).customers
        print(f"\n{n:,} customers (population built in {time.perf_counter() - t:.1f} s)")
        print(f"{'approach':16} {'median s':>9} {'min s':>7} {'peak MiB':>9} {'target':>8}")
        for name in args.approaches:
            med, low, peak = measure(name, customers, args.repeats)
            limit = TARGET_S.get(n)
            verdict = "-" if limit is None else ("ok" if med <= limit else "MISSED")
            failed += verdict == "MISSED"
            print(f"{name:16} {med:9.2f} {low:7.2f} {peak:9.0f} {verdict:>8}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
