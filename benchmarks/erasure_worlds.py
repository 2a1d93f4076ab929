"""Erasure requests over worlds (issue 18's done-when): with `erasure: none` the erased customers'
audit bound is at least that of `refit`, and refit's is consistent with zero for DP and non-DP
approaches alike; and what refitting costs, paired by world against keeping the release.

    .venv/bin/python benchmarks/erasure_worlds.py [--worlds 10] [--n 20000] [--rate 0.1]

Prints, per approach and erasure mode: the mean / min / max of `erasure_residual_eps_lb` over worlds,
and refit minus none, paired by world, for `value_policy` (true value per held-out customer, the same
customers and truth in both) and `gain_share` (against references that hold the same data), each
with its 95% Student-t interval over worlds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from kit.run import run_experiment, validate_run

APPROACHES = [("kmeans", {}), ("gmm", {}), ("dp_kmeans", {"epsilon": 1.0})]


def t_interval(d: np.ndarray) -> str:
    """mean (95% t interval lo to hi) of paired differences."""
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan
    return f"{d.mean():+.4f} ({d.mean() - half:+.4f} to {d.mean() + half:+.4f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=10)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=0.1)
    a = ap.parse_args()
    t0 = time.time()
    print(f"erasure_rate {a.rate}, {a.n} customers, worlds 0-{a.worlds - 1}")
    print("| approach | erasure | erasure_residual_eps_lb mean (min-max) | worlds where none >= refit |")
    print("|---|---|---|---|")
    costs = []
    for approach, ap_params in APPROACHES:
        m = {mode: [] for mode in ("refit", "none")}
        for seed in range(a.worlds):
            for mode in m:
                p = {"approach": approach, "approach_params": ap_params, "n_customers": a.n, "seed": seed}
                m[mode].append(run_experiment(validate_run({**p, "erasure_rate": a.rate, "erasure": mode})).metrics)
        b = {mode: np.array([r["erasure_residual_eps_lb"] for r in rs]) for mode, rs in m.items()}
        ok = int((b["none"] >= b["refit"]).sum())
        label = approach + (f"({', '.join(f'{k}={v}' for k, v in ap_params.items())})" if ap_params else "")
        for mode, v in b.items():
            print(f"| {label} | {mode} | {v.mean():.3f} ({v.min():.3f}-{v.max():.3f}) | {ok} of {a.worlds} |")
        dv = np.array([r["value_policy"] - k["value_policy"] for r, k in zip(m["refit"], m["none"])])
        dg = np.array([r["gain_share"] - k["gain_share"] for r, k in zip(m["refit"], m["none"])])
        costs.append((label, t_interval(dv), t_interval(dg)))
    print("\nRefit minus keeping the release, paired by world (95% t interval):")
    print("| approach | value_policy | gain_share |\n|---|---|---|")
    for label, dv, dg in costs:
        print(f"| {label} | {dv} | {dg} |")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
