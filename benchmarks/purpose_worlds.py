"""What purpose limitation costs: kmeans and unaware with the income band hidden (the default, it was
collected for credit checks) against the same runs with the rule off, paired by world.

    .venv/bin/python benchmarks/purpose_worlds.py [N_WORLDS]
"""

import sys

import numpy as np
from scipy import stats

from kit.run import run_experiment, validate_run

n_worlds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
for approach in ("kmeans", "unaware", "tree"):
    diffs, viol = [], []
    for seed in range(n_worlds):
        on, off = (
            run_experiment(validate_run({"approach": approach, "seed": seed, "purpose_limitation": lim})).metrics
            for lim in (True, False)
        )
        diffs.append(on["gain_share"] - off["gain_share"])
        viol.append((on["purpose_violations"], off["purpose_violations"]))
    d = np.array(diffs)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    print(
        f"{approach}: gain share with the rule on - off, mean {d.mean():+.4f} (95% t interval {d.mean() - half:+.4f} to "
        f"{d.mean() + half:+.4f}) over {len(d)} worlds; purpose_violations on/off: {sorted(set(viol))}"
    )
