"""Privacy measurements over worlds (issue 12): consent, k-anonymous audience files, membership audits.

Runs `run_experiment` in-process at 20,000 customers over worlds (seeds) 0..N-1, paired by world, and
prints per setting the mean (min-max) of the privacy metrics, kanon against kmeans at the same 20
starting segments, then the cost of the membership measurements per approach (one world).

    .venv/bin/python benchmarks/bench_privacy.py [--worlds 10] [--customers 20000]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from kit.run import build_population, fit_segmenter, pipeline, run_experiment, validate_run
from kit.segmenters import REGISTRY

SETTINGS = [  # (label, approach, approach_params, extra run parameters)
    ("mass", "mass", {}, {}),
    ("rfm", "rfm", {}, {}),
    ("kmeans", "kmeans", {}, {}),
    ("kmeans (ignoring consent)", "kmeans", {}, {"respect_consent": False}),
    ("kmeans(n_clusters=20)", "kmeans", {"n_clusters": 20}, {}),
    ("kanon(k=10)", "kanon", {"k": 10}, {}),
    ("kanon(k=100)", "kanon", {"k": 100}, {}),
    ("kanon(k=400)", "kanon", {"k": 400}, {}),
    ("dp_kmeans(epsilon=1)", "dp_kmeans", {"epsilon": 1.0}, {}),
]
METRICS = [
    "gain_share",
    "consent_violations",
    "reid_rate",
    "min_audience_class",
    "mia_audit_eps_lb",
    "tracing_advantage",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=10)
    ap.add_argument("--customers", type=int, default=20_000)
    args = ap.parse_args()
    rows = []
    for seed in range(args.worlds):
        for label, approach, params, extra in SETTINGS:
            p = validate_run(
                {"approach": approach, "approach_params": params, "n_customers": args.customers, "seed": seed, **extra}
            )
            m = run_experiment(p).metrics
            rows.append({"label": label, "seed": seed, **{k: m[k] for k in METRICS}})
        print(f"world {seed} done", flush=True)
    df = pd.DataFrame(rows)
    order = [s[0] for s in SETTINGS]
    agg = df.groupby("label", sort=False)[METRICS].agg(["mean", "min", "max"]).loc[order]
    pd.set_option("display.width", 200)
    print(f"\n{args.worlds} worlds x {args.customers} customers: mean (min, max) per setting")
    for label in order:
        cells = [
            f"{m} {agg.loc[label, (m, 'mean')]:.3f} ({agg.loc[label, (m, 'min')]:.3f}, {agg.loc[label, (m, 'max')]:.3f})"
            for m in METRICS
        ]
        print(f"  {label:27s} " + "; ".join(cells))
    wide = df.pivot(index="seed", columns="label")
    km = "kmeans(n_clusters=20)"
    print("\nkanon against kmeans at the same 20 starting segments, paired by world:")
    for k in (10, 100, 400):
        kl = f"kanon(k={k})"
        d_gain = wide[("gain_share", kl)] - wide[("gain_share", km)]
        d_reid = wide[("reid_rate", kl)] - wide[("reid_rate", km)]
        print(
            f"  k={k}: min_audience_class >= k in {int((wide[('min_audience_class', kl)] >= k).sum())}/{len(wide)} "
            f"worlds; reid_rate below kmeans's in {int((d_reid < 0).sum())}/{len(wide)} (mean diff {d_reid.mean():+.3f}); "
            f"gain share diff {d_gain.mean():+.3f} (min {d_gain.min():+.3f}, max {d_gain.max():+.3f})"
        )
    respecting = df[df["label"] != "kmeans (ignoring consent)"]
    print(f"\nconsent_violations in runs respecting consent: max {int(respecting['consent_violations'].max())}")
    dp = df[df["label"] == "dp_kmeans(epsilon=1)"]["mia_audit_eps_lb"]
    print(f"dp_kmeans(epsilon=1) mia_audit_eps_lb: max {dp.max():.3f} (must be <= 1)")
    print(f"kmeans mia_audit_eps_lb: mean {df[df['label'] == 'kmeans']['mia_audit_eps_lb'].mean():.3f} (must be >= 1)")

    print(f"\nCost of the membership measurements per run ({args.customers} customers, world 0, CPU seconds):")
    for name in REGISTRY:
        p = validate_run({"approach": name, "n_customers": args.customers, "seed": 0})
        pop = build_population(p)
        seg = fit_segmenter(p, pop)
        t0, c0 = time.perf_counter(), time.process_time()
        out = pipeline.membership(p, pop, seg)
        print(
            f"  {name:15s} {time.process_time() - c0:6.2f} s CPU ({time.perf_counter() - t0:6.2f} s wall), "
            f"{out['mia_audit_trials']} fits; eps_lb {out['mia_audit_eps_lb']:.2f}, tracing {out['tracing_advantage']:+.3f}"
        )


if __name__ == "__main__":
    main()
