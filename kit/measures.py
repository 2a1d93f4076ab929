"""Measurements of a run, on the held-out customers: gain, privacy loss, fairness, ethics checks.

Gain is computed against the generator's truth (expected values, no sampling noise). Fairness
rates are computed with aif360, the favourable outcome being "received an offer"; the label for
equal opportunity is "an offer truly helps this customer" (some contact action's true net value
beats no contact). Every function takes computed tables and returns plain numbers or tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._aif360 import BinaryLabelDataset, ClassificationMetric
from .population import true_net_values

# Protected attributes measured, with the group treated as unprivileged (aif360's convention:
# unprivileged value 1 in the encoded column).
FAIRNESS_ATTRS: dict[str, tuple[str, object]] = {
    "older": ("older", True),  # unprivileged: customers 65+
    "gender": ("gender", "female"),  # unprivileged: women
}

FOUR_FIFTHS = 0.8


def policy_value(customers: pd.DataFrame, actions: np.ndarray) -> float:
    """Expected net value per customer of giving each customer `actions` (action codes), under the truth."""
    nv = true_net_values(customers)
    return float(nv[np.arange(len(nv)), actions].mean())


def gain_share(v_policy: float, v_mass: float, v_oracle: float) -> float:
    """(V(policy) - V(mass)) / (V(oracle) - V(mass)): 0 = no better than mass, 1 = the oracle."""
    denom = v_oracle - v_mass
    if denom <= 0:
        return math.nan
    return (v_policy - v_mass) / denom


def truly_helps(customers: pd.DataFrame) -> np.ndarray:
    """True where some contact action's true net value beats leaving the customer alone."""
    nv = true_net_values(customers)
    return nv[:, 1:].max(axis=1) > nv[:, 0]


def fairness_metrics(offered: np.ndarray, helps: np.ndarray, unprivileged: np.ndarray, attr: str) -> dict:
    """aif360's SPD, DI, EOD and AOD for one binary protected attribute.

    offered: favourable outcome (prediction); helps: truth label; unprivileged: group mask.
    """
    df = pd.DataFrame(
        {
            attr: unprivileged.astype(float),
            "y": helps.astype(float),
        }
    )
    truth = BinaryLabelDataset(
        df=df, label_names=["y"], protected_attribute_names=[attr], favorable_label=1.0, unfavorable_label=0.0
    )
    pred = truth.copy(deepcopy=True)
    pred.labels = offered.astype(float).reshape(-1, 1)
    m = ClassificationMetric(
        truth, pred, unprivileged_groups=[{attr: 1.0}], privileged_groups=[{attr: 0.0}]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            f"spd_{attr}": float(m.statistical_parity_difference()),
            f"di_{attr}": float(m.disparate_impact()),
            f"eod_{attr}": float(m.equal_opportunity_difference()),
            f"aod_{attr}": float(m.average_odds_difference()),
        }


def segment_balance(labels: np.ndarray, group_mask: np.ndarray) -> float:
    """Balance of a segmentation with respect to a binary group (Chierichetti, Kumar, Lattanzi &
    Vassilvitskii 2017, "Fair Clustering Through Fairlets", NeurIPS).

    A non-empty segment's balance is min(r, 1/r), r being the ratio of its in-group to out-group
    counts (0 when it lacks either group); the segmentation's balance is the minimum over its
    segments. 1: every segment perfectly mixed; 0: some segment holds one group only. With every
    label equal this is the population's own balance. nan for no customers.
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


def min_segment_size(sizes: pd.Series | np.ndarray) -> int:
    """Smallest released segment, counting only segments that hold anyone."""
    sizes = np.asarray(sizes)
    sizes = sizes[sizes > 0]
    return int(sizes.min()) if len(sizes) else 0


def ethics_checks(
    holdout: pd.DataFrame,
    decisions: pd.DataFrame,
    profiled: np.ndarray,
    descriptions: dict[int, str],
    n_segments: int,
    older_contact_cap: int,
    fairness: dict,
) -> dict:
    """Counts of breaches; 0 is a pass."""
    no_consent = ~holdout["profiling_consent"].to_numpy(dtype=bool)
    older = holdout["older"].to_numpy(dtype=bool)
    over_cap = holdout["contacts_90d"].to_numpy() >= older_contact_cap
    di = [v for k, v in fairness.items() if k.startswith("di_")]
    return {
        "consent_violations": int((profiled & no_consent).sum()),
        "fatigue_violations": int((decisions["offered"].to_numpy() & older & over_cap).sum()),
        "undescribed_segments": int(sum(1 for s in range(n_segments) if not str(descriptions.get(s, "")).strip())),
        "four_fifths_fail": int(sum(1 for v in di if not (v >= FOUR_FIFTHS))),
    }


def group_table(holdout: pd.DataFrame, decisions: pd.DataFrame, by: list[str], min_cell: int = 1) -> pd.DataFrame:
    """Offer rate, rate among those an offer truly helps, and value per customer, by group.

    Cells with fewer than `min_cell` customers are dropped (aggregates only, no small cells).
    """
    nv = true_net_values(holdout)
    act = decisions["action"].cat.codes.to_numpy()
    df = holdout[by].copy()
    df["offered"] = decisions["offered"].to_numpy()
    df["helps"] = truly_helps(holdout)
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
