"""What a retention window costs: gain share and what the release reveals, by retention_days, paired
by world (kmeans, 20,000 customers).

    .venv/bin/python benchmarks/retention_worlds.py [N_WORLDS]
"""

import sys

import numpy as np
import pandas as pd
from scipy import stats

from kit.run import run_experiment, validate_run

WINDOWS = (0, 730, 365, 90, 30)
METRICS = ("gain_share", "reid_rate", "attr_inference_lift_older", "attr_inference_lift_gender")
n_worlds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
rows = []
for seed in range(n_worlds):
    for w in WINDOWS:
        m = run_experiment(validate_run({"approach": "kmeans", "seed": seed, "retention_days": w})).metrics
        rows.append({"seed": seed, "retention_days": w, **{k: m[k] for k in METRICS}})
df = pd.DataFrame(rows)
summary = df.groupby("retention_days", sort=False)[list(METRICS)].agg(["mean", "std"]).round(4)
print(summary.to_string())
gain = df.pivot(index="seed", columns="retention_days", values="gain_share")
for longer, shorter in zip(WINDOWS[1:], WINDOWS[2:]):
    d = (gain[shorter] - gain[longer]).to_numpy()
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    print(
        f"gain share {shorter} d - {longer} d: mean {d.mean():+.4f} (95% t interval {d.mean() - half:+.4f} to "
        f"{d.mean() + half:+.4f}), worlds where it rose: {(d > 0).sum()} of {len(d)}"
    )
print(f"mean gain share by window (0 = all): {', '.join(f'{w}: {gain[w].mean():.4f}' for w in WINDOWS)}")
print("non-increasing as the window shrinks:", bool(np.all(np.diff([gain[w].mean() for w in WINDOWS[1:]]) <= 0)))
