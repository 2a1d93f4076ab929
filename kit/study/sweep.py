"""Sweeps inside one notebook (teaching, quick looks): many in-process runs, one row of metrics each."""

from __future__ import annotations

import itertools
import sys
import time

import pandas as pd

from ..params import ParameterError
from ..run import run_experiment, validate_run
from .spec import approach_label


def sweep(
    base: dict, vary: dict[str, list], approaches: list, seeds: list[int] = (0,), progress: bool = True
) -> pd.DataFrame:
    """Run every approach x combination of `vary` x seed in-process; one row of metrics per run.

    `approaches` items are names or (name, approach_params) pairs. Every combination is validated
    before the first run, so a typo fails at once. For studies that must be kept and reported,
    use a study file and `crmkit run` instead: this is for exploring inside a notebook.
    """
    if isinstance(seeds, (str, bytes)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ParameterError("sweep.seeds", f"expected a list of integers >= 0, got {seeds!r}")
    for k, v in vary.items():
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            raise ParameterError(f"sweep.{k}", f"expected a list of values, got {v!r}")
    keys = list(vary)
    plans = []
    for appr in approaches:
        name, ap = (appr, {}) if isinstance(appr, str) else appr
        for combo in itertools.product(*(vary[k] for k in keys)):
            for seed in seeds:
                plans.append(
                    validate_run(
                        {**base, "approach": name, "approach_params": ap, **dict(zip(keys, combo)), "seed": seed},
                        where="sweep",
                    )
                )
    rows = []
    t0 = time.perf_counter()
    for i, p in enumerate(plans, 1):
        res = run_experiment(p)
        explicit = tuple(next((a[1] for a in approaches if not isinstance(a, str) and a[0] == p.approach), {}))
        rows.append(
            {
                "label": approach_label(p.approach, p.approach_params, explicit),
                "approach": p.approach,
                **{k: p.values[k] for k in keys},
                "seed": p.seed,
                **res.metrics,
            }
        )
        if progress:
            left = (time.perf_counter() - t0) / i * (len(plans) - i)
            print(f"\r{i}/{len(plans)} runs, about {left:.0f} s left   ", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return pd.DataFrame(rows)


def sweep_summary(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean over seeds of `metrics`, one row per `by` combination (aggregates only)."""
    return df.groupby(by, sort=False)[metrics].mean().reset_index()
