"""Findings for a study on a researcher's own customer table: gain estimated off-policy, fairness
across the declared protected columns, and the same privacy findings as a generated study."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..records import OK
from .findings import privacy_findings
from .summaries import GAIN_WORDS, feasible_mask, gain_metric, pareto_front, protected_attrs

DATA_MIN_EXTRA_COST = {"tracing_advantage": 0.01, "reid_rate": 0.01, "unfairness_older": 0.02}


def data_efficiency(
    summary: pd.DataFrame, cost: str, min_extra: float | None = None, gain: str = "gain_share"
) -> pd.DataFrame:
    """Gain bought per unit of a cost, against mass (which has zero gain): gain_share / (cost − cost(mass)).

    Only feasible settings (`feasible_mask`) are ranked. Where the extra cost is below `min_extra`
    (default `DATA_MIN_EXTRA_COST[cost]`, else 0.005) it counts as no extra cost: `per_unit` is inf.
    """
    min_extra = DATA_MIN_EXTRA_COST.get(cost, 0.005) if min_extra is None else min_extra
    if f"{cost}_mean" not in summary or "mass" not in set(summary["label"]):
        return pd.DataFrame(columns=["label", "gain", "extra_cost", "per_unit"])
    base = float(summary.loc[summary["label"] == "mass", f"{cost}_mean"].iloc[0])
    s = summary[feasible_mask(summary) & (summary["label"] != "mass")]
    out = pd.DataFrame({"label": s["label"], "gain": s[f"{gain}_mean"], "extra_cost": s[f"{cost}_mean"] - base})
    out = out[np.isfinite(out["extra_cost"]) & np.isfinite(out["gain"])]
    out["per_unit"] = np.where(
        out["extra_cost"] >= min_extra, out["gain"] / out["extra_cost"].clip(lower=min_extra), np.inf
    )
    return out.sort_values(["per_unit", "gain"], ascending=False)


SEEDS_ON_A_TABLE = (
    "On a customer table a seed draws no new customers: it changes only the approaches' own randomness "
    "(k-means starts, the cross-fitting folds, the bootstrap resamples). Spread over seeds is how much a "
    "result depends on that randomness; how sure it is about the customers is each run's bootstrap "
    "interval over the table's customers."
)


def _customer_interval(runs: pd.DataFrame | None, label: str, gain: str, fmt) -> str:
    """The runs' own 95% bootstrap intervals over the table's customers for one setting's gain: their
    median ends over the seeds, and in how many seeds the interval lies above zero ('' without them)."""
    if runs is None or not {f"{gain}_lo", f"{gain}_hi", "label"} <= set(runs.columns):
        return ""
    r = runs[runs["label"] == label]
    if "status" in r.columns:
        r = r[r["status"] == OK]
    lo, hi = (pd.to_numeric(r[f"{gain}_{end}"], errors="coerce").dropna() for end in ("lo", "hi"))
    if lo.empty or hi.empty:
        return ""
    above = int((lo > 0).sum())
    return (
        f"; 95% bootstrap interval over the table's customers {fmt(lo.median())} to {fmt(hi.median())} "
        f"(median ends over {len(lo)} seed(s)), above zero in {above} of {len(lo)}"
    )


def _four_fifths(summary: pd.DataFrame) -> str | None:
    """Which settings fail the four-fifths rule (some declared protected column's DI outside 0.8-1.25)
    in every seed, and which in some seeds only; None when none fails."""
    if "four_fifths_fail_failed_seeds" not in summary.columns:
        return None
    failed = pd.to_numeric(summary["four_fifths_fail_failed_seeds"], errors="coerce").fillna(0).astype(int)
    every = [lab for lab, k, n in zip(summary["label"], failed, summary["runs"]) if k > 0 and k == n]
    some = [f"{lab} ({k} of {n})" for lab, k, n in zip(summary["label"], failed, summary["runs"]) if 0 < k < n]
    if not every and not some:
        return None
    parts = []
    if every:
        parts.append("in every seed: " + ", ".join(every))
    if some:
        parts.append("in some seeds only: " + ", ".join(some))
    return "Four-fifths rule (a protected column's DI outside 0.8–1.25), failed " + "; ".join(parts) + "."


def data_findings(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> list[str]:
    """Sentences written from the summary of a study on one customer table (and, if given, its runs:
    results.csv's rows, for each run's own bootstrap interval): best gain with its interval over
    the table's customers, what it costs, Pareto sets, the membership audit, the four-fifths rule.

    On a customer table the gain is ``gain_ope`` (off-policy, over mass) and the fairness cost is
    the first declared protected column's. Seeds are not worlds here (`SEEDS_ON_A_TABLE`): a range
    over seeds is the approaches' own randomness, and the customers' sampling uncertainty comes from
    the runs' bootstrap intervals."""
    if summary.empty:
        return ["No run finished successfully; see the failures below."]
    gain = gain_metric(summary.columns)
    words = GAIN_WORDS[gain]
    fmt = words["value"]
    attrs = protected_attrs(summary.columns)
    attr = "older" if "older" in attrs or not attrs else attrs[0]
    group = "older customers" if attr == "older" else f"the {attr} groups"
    out = []
    feasible = summary[feasible_mask(summary)].dropna(subset=[f"{gain}_mean"])
    if not feasible.empty:
        best = feasible.loc[feasible[f"{gain}_mean"].idxmax()]
        txt = f"Highest estimated gain among feasible settings: {best['label']}, {fmt(best[f'{gain}_mean'])} {words['of']}"
        txt += _customer_interval(runs, best["label"], gain, fmt)
        if best["runs"] > 1:
            txt += f"; over {best['runs']} seeds it ranges {words['range'](best[f'{gain}_min'], best[f'{gain}_max'])}"
        costs = []
        if "reid_rate_mean" in best:
            costs.append(f"re-identification {100 * best['reid_rate_mean']:.1f}% of customers")
        if "tracing_advantage_mean" in best:
            costs.append(f"membership tracing advantage {best['tracing_advantage_mean']:.3f}")
        if f"di_{attr}_mean" in best:
            costs.append(f"disparate impact for {group} {best[f'di_{attr}_mean']:.2f}")
        out.append(txt + (", at " + ", ".join(costs) if costs else "") + ".")
    for cost, what in (
        ("tracing_advantage", "membership tracing advantage"),
        ("reid_rate", "re-identification risk"),
        (f"unfairness_{attr}", f"unfairness to {group} |1 − DI|"),
    ):
        eff = data_efficiency(summary, cost, gain=gain)
        eff = eff[eff["gain"] > 0.01]
        if not eff.empty:
            top = eff.iloc[0]
            if math.isinf(top["per_unit"]):
                out.append(
                    f"{top['label']} gains {fmt(top['gain'])} {words['gains']} at no meaningful extra "
                    f"{what} over mass (less than +{DATA_MIN_EXTRA_COST.get(cost, 0.005):g})."
                )
            else:
                out.append(
                    f"Most gain per unit of {what} given up (vs mass): {top['label']}, "
                    f"{top['per_unit']:.2f} {words['unit']} per unit ({fmt(top['gain'])} gain for "
                    f"+{top['extra_cost']:.3f})."
                )
    for cost, what in (
        ("tracing_advantage", "gain against membership tracing advantage"),
        (f"unfairness_{attr}", f"gain against unfairness to {group}"),
    ):
        front = sorted(pareto_front(summary, gain, cost))
        if front:
            out.append(f"Pareto-efficient on {what}: " + ", ".join(front) + ".")
    if gain != "gain_share":
        out.append(
            "Gain here is estimated off-policy from the randomised campaign log (no truth, so no oracle and no "
            "gain share); privacy and fairness are measured as on the generator."
        )
    out.extend(privacy_findings(summary))
    if (fails := _four_fifths(summary)) is not None:
        out.append(fails)
    return out
