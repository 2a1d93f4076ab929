"""Fairness across protected groups: aif360's rates, a multi-group table, and segment balance.

The favourable outcome is "received an offer" (any contact action); the label for equal opportunity
and average odds is "an offer truly helps this customer" (some contact action's true net value beats
no contact). aif360 computes the headline rates; tests check them against fairlearn to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..population import true_net_values

# Protected attributes measured, with the group treated as unprivileged (aif360's convention:
# unprivileged value 1 in the encoded column).
FAIRNESS_ATTRS: dict[str, tuple[str, object]] = {
    "older": ("older", True),  # unprivileged: customers 65+
    "gender": ("gender", "female"),  # unprivileged: women
}


def fairness_metrics(offered: np.ndarray, helps: np.ndarray, unprivileged: np.ndarray, attr: str) -> dict:
    """aif360's SPD, DI, EOD and AOD for one binary protected attribute.

    offered: favourable outcome (prediction); helps: truth label; unprivileged: group mask.
    """
    return fairness_metrics_many(offered, helps, {attr: unprivileged})


def fairness_metrics_many(offered: np.ndarray, helps: np.ndarray, unprivileged: dict[str, np.ndarray]) -> dict:
    """`fairness_metrics` for several protected attributes from one aif360 dataset (built once: its
    construction, not the metrics, is what costs time on a million customers).

    spd = P(offer | unpriv) - P(offer | priv); di = P(offer | unpriv) / P(offer | priv);
    eod = TPR_unpriv - TPR_priv (TPR: offer rate among customers an offer truly helps);
    aod = ((FPR_unpriv - FPR_priv) + (TPR_unpriv - TPR_priv)) / 2.
    """
    # Imported here, not at module level: segmenters and the study runner import this package for
    # segment_balance and must not pay aif360's ~2 s import at start-up.
    from ._aif360 import BinaryLabelDataset, ClassificationMetric

    cols = {attr: np.asarray(mask, dtype=float) for attr, mask in unprivileged.items()}
    df = pd.DataFrame({**cols, "y": np.asarray(helps, dtype=float)})
    truth = BinaryLabelDataset(
        df=df, label_names=["y"], protected_attribute_names=list(cols), favorable_label=1.0, unfavorable_label=0.0
    )
    pred = truth.copy()  # shallow copy, then fresh labels: the truth's labels stay untouched
    pred.labels = np.asarray(offered, dtype=float).reshape(-1, 1)
    out = {}
    for attr in cols:
        # ClassificationMetric checks that both datasets agree apart from labels, comparing the
        # instance names (one string per customer) one by one: 0.5 s a metric at 1M customers.
        # The copy shares the very same list, so that comparison is skipped, the others kept.
        same_names = ("instance_names",) if pred.instance_names is truth.instance_names else ()
        with truth.temporarily_ignore(*same_names):
            m = ClassificationMetric(truth, pred, unprivileged_groups=[{attr: 1.0}], privileged_groups=[{attr: 0.0}])
        with np.errstate(divide="ignore", invalid="ignore"):
            out.update(
                {
                    f"spd_{attr}": float(m.statistical_parity_difference()),
                    f"di_{attr}": float(m.disparate_impact()),
                    f"eod_{attr}": float(m.equal_opportunity_difference()),
                    f"aod_{attr}": float(m.average_odds_difference()),
                }
            )
    return out


def segment_balance(labels: np.ndarray, group_mask: np.ndarray) -> float:
    """Balance of a segmentation with respect to a binary group (Chierichetti et al. 2017, "Fair
    Clustering Through Fairlets", NeurIPS): each non-empty segment's balance is min(r, 1/r), r being the
    ratio of its in-group to out-group counts (0 if it lacks either group); the segmentation's balance
    is the minimum over its segments. 1 = every segment is perfectly mixed; 0 = some segment holds
    only one group. nan for no customers.
    """
    labels = np.asarray(labels)
    group_mask = np.asarray(group_mask, dtype=bool)
    if labels.shape != group_mask.shape:
        raise ValueError(f"labels and group_mask must have the same shape, got {labels.shape} and {group_mask.shape}")
    if labels.size == 0:
        return math.nan
    _, seg = np.unique(labels, return_inverse=True)
    inside = np.bincount(seg, weights=group_mask.astype(float))
    outside = np.bincount(seg).astype(float) - inside
    lo, hi = np.minimum(inside, outside), np.maximum(inside, outside)
    return float((lo / hi).min())


def group_table(holdout: pd.DataFrame, decisions: pd.DataFrame, by: list[str], min_cell: int = 1) -> pd.DataFrame:
    """Offer rate, rate among those an offer truly helps, and value per customer, by group.

    Cells with fewer than `min_cell` customers are dropped (aggregates only, no small cells).
    """
    nv = true_net_values(holdout)
    act = decisions["action"].cat.codes.to_numpy()
    df = holdout[by].copy()
    df["offered"] = decisions["offered"].to_numpy()
    df["helps"] = nv[:, 1:].max(axis=1) > nv[:, 0]
    df["value"] = nv[np.arange(len(nv)), act]
    df["offered_if_helps"] = np.where(df["helps"], df["offered"], np.nan)
    g = df.groupby(by, observed=True)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "offer_rate": g["offered"].mean(),
            "offer_rate_if_helps": g["offered_if_helps"].mean(),
            "value_per_customer": g["value"].mean(),
        }
    )
    return out[out["customers"] >= min_cell].reset_index()


def fairness_table(
    holdout: pd.DataFrame, decisions: pd.DataFrame, by: list[str] | None = None, min_cell: int = 1
) -> pd.DataFrame:
    """Multi-group view (default: age band x gender): `group_table` plus each cell's disparate impact
    against the best-off cell shown, di_vs_best = offer_rate / max(offer_rate), and the same for the
    rate among customers an offer truly helps (tpr_ratio_vs_best). Cells under `min_cell` customers
    are dropped before the best-off cell is chosen, so a tiny cell never sets the reference."""
    t = group_table(holdout, decisions, by or ["age_band", "gender"], min_cell=min_cell)
    with np.errstate(divide="ignore", invalid="ignore"):
        best = t["offer_rate"].max() if len(t) else math.nan
        t["di_vs_best"] = t["offer_rate"] / best if best > 0 else math.nan
        best_tpr = t["offer_rate_if_helps"].max() if len(t) else math.nan
        t["tpr_ratio_vs_best"] = t["offer_rate_if_helps"] / best_tpr if best_tpr > 0 else math.nan
    return t


def offer_parity(offered: np.ndarray, column: pd.Series | np.ndarray) -> dict[str, float]:
    """Offer-rate parity across the groups of one protected column, without truth (a customer table).

    bool column: the True group is the unprivileged one (as ``older``): spd = P(offer | True) -
    P(offer | False), di = P(offer | True) / P(offer | False), the same as aif360's for that mask.
    Text column (any number of groups): spd = lowest group offer rate - highest, di = lowest / highest
    (the four-fifths rule across all groups). nan where the ratio is undefined (nobody offered).
    """
    offered = np.asarray(offered, dtype=bool)
    values = np.asarray(column)
    if values.dtype == bool:
        rates = [
            offered[values].mean() if values.any() else math.nan,
            offered[~values].mean() if (~values).any() else math.nan,
        ]
        lo, hi = rates
    else:
        codes, _ = pd.factorize(values)
        counts = np.bincount(codes)
        rate = np.bincount(codes, weights=offered.astype(float)) / np.where(counts > 0, counts, 1)
        rate = rate[counts > 0]
        lo, hi = (float(rate.min()), float(rate.max())) if len(rate) else (math.nan, math.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        di = float(lo / hi) if hi > 0 else math.nan
    return {"spd": float(lo - hi), "di": di}
