"""What the harm cap costs in value and what it saves in harm, paired by world (not a speed benchmark).

For each seed (world) and cap, one kmeans run at the default settings; every capped run is compared
with the uncapped run of the same world. Prints, per cap, the mean paired difference over worlds of
value_policy, gain_share, harm_older, harm_low_income and offer_rate, with a 95% t interval.

    .venv/bin/python benchmarks/harm_cap_cost.py [--seeds 10] [--approach kmeans]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import stats

from kit.run import run_experiment, validate_run

CAPS = (20.0, 10.0, 5.0, 0.0)
METRICS = ("value_policy", "gain_share", "harm_older", "harm_low_income", "offer_rate")


def interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean of paired differences and its 95% t interval."""
    m = float(d.mean())
    half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return m, m - half, m + half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--approach", default="kmeans")
    args = ap.parse_args()
    rows = {}
    for cap in (math.inf, *CAPS):
        rows[cap] = []
        for seed in range(args.seeds):
            m = run_experiment(validate_run({"approach": args.approach, "seed": seed, "harm_cap": cap})).metrics
            rows[cap].append([m[k] for k in METRICS])
    base = np.array(rows[math.inf])
    print(
        f"{args.approach}, {args.seeds} worlds; uncapped means: "
        + ", ".join(f"{k} {v:.3f}" for k, v in zip(METRICS, base.mean(axis=0)))
    )
    print("| harm_cap | " + " | ".join(f"Δ {k} (95% CI)" for k in METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for cap in CAPS:
        d = np.array(rows[cap]) - base
        cells = [f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]" for m, lo, hi in (interval(d[:, j]) for j in range(len(METRICS)))]
        print(f"| {cap:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
