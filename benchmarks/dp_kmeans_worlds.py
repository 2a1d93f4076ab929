"""dp_kmeans against kmeans over many worlds, paired by world: the done-when numbers of issue 12.

Each world (seed) is one run of each setting through the kit's in-process API
(`kit.run.pipeline.run_experiment`), with the default study's knobs at 20,000 customers: kmeans
and dp_kmeans at the same number of segments, dp_kmeans at epsilon 0.5, 1, 4, 16 and inf. It prints
mean gain share and gender attribute-inference lift per setting and checks:

1. dp_kmeans at epsilon = inf keeps >= 0.9 x kmeans's gain share (ratio of means over the worlds,
   and each world's ratio);
2. dp_kmeans's mean gain share does not fall as epsilon rises (a fall of at most 0.01 tolerated);
3. dp_kmeans's mean gender attribute-inference lift is at most kmeans's + 0.1, at every epsilon.

    .venv/bin/python benchmarks/dp_kmeans_worlds.py [--worlds 10] [--n-clusters 6]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.run.params import validate_run  # noqa: E402
from kit.run.pipeline import run_experiment  # noqa: E402

BASE = {"n_customers": 20_000, "proxy_strength": 0.5, "older_fatigue": 0.3, "older_contact_cap": 3}
EPSILONS = (0.5, 1.0, 4.0, 16.0, math.inf)
METRICS = ("gain_share", "attr_inference_lift_gender")


def run(seed: int, approach: str, **approach_params) -> dict:
    params = validate_run({"approach": approach, "approach_params": approach_params, "seed": seed, **BASE})
    m = run_experiment(params).metrics
    return {k: m[k] for k in METRICS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=10)
    ap.add_argument("--n-clusters", type=int, default=6)
    args = ap.parse_args()
    k = args.n_clusters
    settings = [("kmeans", {"n_clusters": k})] + [("dp_kmeans", {"n_clusters": k, "epsilon": e}) for e in EPSILONS]
    res = {i: [] for i in range(len(settings))}
    for seed in range(args.worlds):
        for i, (name, ap_) in enumerate(settings):
            res[i].append(run(seed, name, **ap_))
    arr = {i: {m: np.array([r[m] for r in rows]) for m in METRICS} for i, rows in res.items()}
    print(f"{args.worlds} worlds, {BASE['n_customers']} customers, k = {k}; mean (min-max) over worlds")
    print("| setting | gain share | gender lift |\n|---|---|---|")
    for i, (name, ap_) in enumerate(settings):
        label = name if name == "kmeans" else f"dp_kmeans(epsilon={ap_['epsilon']:g})"
        g, lift = arr[i]["gain_share"], arr[i]["attr_inference_lift_gender"]
        print(
            f"| {label} | {g.mean():.3f} ({g.min():.3f}-{g.max():.3f}) | {lift.mean():.3f} ({lift.min():.3f}-{lift.max():.3f}) |"
        )
    km_g, km_l = arr[0]["gain_share"], arr[0]["attr_inference_lift_gender"]
    inf_g = arr[len(settings) - 1]["gain_share"]
    ratio = inf_g.mean() / km_g.mean()
    per_world = inf_g / km_g
    print(
        f"1. gain share at epsilon inf / kmeans's: {ratio:.3f} (ratio of means; per world median "
        f"{np.median(per_world):.3f}, min {per_world.min():.3f}): {'ok' if ratio >= 0.9 else 'FAILS'} (>= 0.9)"
    )
    means = [arr[i]["gain_share"].mean() for i in range(1, len(settings))]
    worst = min(b - a for a, b in zip(means, means[1:]))
    print(
        "2. mean gain share over epsilon "
        + ", ".join(f"{e:g}: {m:.3f}" for e, m in zip(EPSILONS, means))
        + f"; largest fall {max(0.0, -worst):.3f}: {'ok' if worst >= -0.01 else 'FAILS'} (<= 0.01)"
    )
    lifts = [arr[i]["attr_inference_lift_gender"].mean() for i in range(1, len(settings))]
    excess = max(lifts) - km_l.mean()
    print(
        f"3. gender lift: kmeans {km_l.mean():.3f}, dp_kmeans "
        + ", ".join(f"{e:g}: {x:.3f}" for e, x in zip(EPSILONS, lifts))
        + f"; largest excess {excess:+.3f}: {'ok' if excess <= 0.1 else 'FAILS'} (<= +0.1)"
    )
    diffs = [arr[i]["attr_inference_lift_gender"] - km_l for i in range(1, len(settings))]
    print(
        "   paired by world, dp_kmeans - kmeans (mean +- standard error): "
        + ", ".join(f"{e:g}: {d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f}" for e, d in zip(EPSILONS, diffs))
    )


if __name__ == "__main__":
    main()
