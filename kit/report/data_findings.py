"""Findings for a study on a researcher's own customer table: gain estimated off-policy, fairness
across the declared protected columns, and the same privacy findings as a generated study."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .findings import privacy_findings
from .summaries import GAIN_WORDS, feasible_mask, fmt_number, gain_metric, pareto_front, protected_attrs

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


def data_findings(summary: pd.DataFrame) -> list[str]:
    """Sentences written from the summary: best gain, what it costs, Pareto sets, epsilon's price.

    On a customer table the gain is ``gain_ope`` (off-policy, over mass) and the fairness cost is
    the first declared protected column's."""
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
        txt = (
            f"Highest gain among feasible approaches: {best['label']}, reaching {fmt(best[f'{gain}_mean'])} "
            f"{words['of']} (range {words['range'](best[f'{gain}_min'], best[f'{gain}_max'])} over {best['runs']} seed(s))"
        )
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
    dp = summary[summary["approach"] == "dp_kmeans"]
    ref = summary[summary["label"].isin(["kmeans", "kmeans(n_clusters=6)"])]  # dp_kmeans's default k is 6
    if ref.empty:
        ref = summary[summary["approach"] == "kmeans"]
    if not dp.empty and not ref.empty and "epsilon_mean" in dp:
        g_ref = float(ref["gain_share_mean"].iloc[0])
        parts = [
            f"ε = {fmt_number(r['epsilon_mean'], 2)}: {100 * r['gain_share_mean']:.1f}%"
            for _, r in dp.sort_values("epsilon_mean").iterrows()
        ]
        out.append(
            "What ε costs: differentially private k-means reaches "
            + "; ".join(parts)
            + f" of the oracle's gain, against {100 * g_ref:.1f}% for non-private {ref['label'].iloc[0]}."
        )
    out.extend(privacy_findings(summary))
    fails = [r["label"] for _, r in summary.iterrows() if r.get("four_fifths_fail_max", 0) > 0]
    if fails:
        out.append("Failing the four-fifths rule in at least one seed: " + ", ".join(fails) + ".")
    return out
