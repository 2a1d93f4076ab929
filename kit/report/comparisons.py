"""Comparisons that hold across worlds: each setting against a reference setting, paired by world.

Each seed of a study draws a new world (a new population); every approach setting faces the same
customers in a world. Worlds differ far more than runs within a world do (over 40 worlds kmeans's
gain share has sd 0.15, while resampling customers within one world moves it by 0.002-0.014), so
the uncertainty of a comparison is the spread of its paired differences across worlds:

    d_w = metric(setting, world w) - metric(reference, world w),   w = 1..n
    diff_mean = mean(d),  diff_lo, diff_hi = diff_mean -/+ t_{0.975, n-1} * sd(d) / sqrt(n)

(a Student-t 95% interval over worlds; a world counts only when both runs finished and both values
are finite). A difference is claimed only when its interval excludes zero. Worlds are matched by
seed and by every other run parameter that varies in the study (`conditions`: population knobs and
policy settings), so a study that sweeps proxy strength compares settings within each strength.

Pure functions of a results table (one row per run: `label`, `seed`, `status`, parameters, metrics).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..records import OK

# comparisons.csv's columns (condition columns, when a study varies population or policy
# parameters, come between `setting` and `metric`).
COMPARISON_COLUMNS = ["setting", "metric", "reference", "n_worlds", "diff_mean", "diff_lo", "diff_hi"]
LEVEL = 0.95
INTERVAL_METHOD = "Student-t 95% interval over worlds"
UNKNOWN_REFERENCE = "reference {reference!r} is not a setting of this study; expected one of {labels}"


def t_interval(values, level: float = LEVEL) -> tuple[int, float, float, float]:
    """(n, mean, lo, hi) of the finite `values`: the mean and its Student-t interval.

    With fewer than two values the interval is (nan, nan); with zero spread it is the mean itself.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return n, mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return n, mean, mean - half, mean + half


def varying(results: pd.DataFrame, candidates) -> list[str]:
    """The columns among `candidates` that take more than one value in `results` (the conditions)."""
    return [c for c in candidates if c in results.columns and results[c].nunique(dropna=False) > 1]


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["status"] == OK] if "status" in results.columns else results


def paired_differences(
    results: pd.DataFrame, reference: str, metrics, conditions=(), level: float = LEVEL
) -> pd.DataFrame:
    """One row per setting x condition x metric: setting minus `reference`, paired by world.

    `reference` is a label of `results` (as results.csv names settings); `conditions` are run
    parameter columns within which worlds are matched (see `varying`). The reference itself gets
    rows too (difference 0 in every world it finished), so every setting is listed. Metrics missing
    from `results` are skipped; a metric with no world where both values are finite gets n_worlds 0
    and nan. Raises ValueError if `reference` is not a setting of `results`.
    """
    ok = _ok(results)
    labels = list(dict.fromkeys(results["label"]))
    if reference not in labels:
        raise ValueError(UNKNOWN_REFERENCE.format(reference=reference, labels=", ".join(labels)))
    conditions = [c for c in conditions if c in ok.columns]
    metrics = [m for m in metrics if m in ok.columns]
    rows = []
    groups = ok.groupby(conditions, sort=False, dropna=False) if conditions else [((), ok)]
    for cond, part in groups:
        cond = cond if isinstance(cond, tuple) else (cond,)
        ref = part[part["label"] == reference].set_index("seed")
        for label in labels:
            this = part[part["label"] == label].set_index("seed")
            if this.empty:
                continue
            seeds = this.index.intersection(ref.index)
            for m in metrics:
                a = pd.to_numeric(this.loc[seeds, m], errors="coerce").to_numpy(dtype=float)
                b = pd.to_numeric(ref.loc[seeds, m], errors="coerce").to_numpy(dtype=float)
                both = np.isfinite(a) & np.isfinite(b)
                n, mean, lo, hi = t_interval(a[both] - b[both], level)
                rows.append(
                    {
                        "setting": label,
                        **dict(zip(conditions, cond)),
                        "metric": m,
                        "reference": reference,
                        "n_worlds": n,
                        "diff_mean": mean,
                        "diff_lo": lo,
                        "diff_hi": hi,
                    }
                )
    cols = ["setting", *conditions, *COMPARISON_COLUMNS[1:]]
    return pd.DataFrame(rows, columns=cols)


def across_worlds(results: pd.DataFrame, metrics, conditions=(), level: float = LEVEL) -> pd.DataFrame:
    """Each setting's mean over worlds and its Student-t interval: `<m>_n`, `<m>_mean`, `<m>_lo`,
    `<m>_hi` per metric, one row per setting (x condition). This is the uncertainty of a setting's
    level across worlds; differences between settings are better judged paired
    (`paired_differences`), since worlds move all settings together."""
    ok = _ok(results)
    conditions = [c for c in conditions if c in ok.columns]
    rows = []
    for keys, g in ok.groupby(["label", *conditions], sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(["label", *conditions], keys))
        for m in metrics:
            if m in g.columns:
                n, mean, lo, hi = t_interval(pd.to_numeric(g[m], errors="coerce"), level)
                row.update({f"{m}_n": n, f"{m}_mean": mean, f"{m}_lo": lo, f"{m}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def distinguishable(row) -> bool:
    """True when a comparison's interval excludes zero (both bounds finite and on one side)."""
    lo, hi = float(row["diff_lo"]), float(row["diff_hi"])
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))
