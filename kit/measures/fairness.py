"""Fairness across protected groups: offer-rate parity among contact-eligible customers, equal
opportunity on beneficial offers, the age band x gender intersection, and segment balance.

Definitions (README "The measurements"; aif360 computes the binary-attribute rates, tests check them
against fairlearn to 1e-9):

- **eligible**: the policy may contact the customer (marketing consent, and not an older customer at
  the contact cap). Offer-rate parity is measured among eligible customers only: the cap is a
  wellbeing protection the policy applies to every approach alike, reported on its own
  (`cap_excluded_share`), not a disparity an approach creates. Measured over everyone, the cap alone
  gave mass (which treats everyone alike) a disparate impact of 0.35-0.84 for older customers.
- **offered**: contacted with any action but `none`.
- **helps** (the positive): some contact action's true net value beats no contact.
- **hit**: offered an action whose true net value beats no contact. An offer of an action worse than
  leaving the customer alone is not a hit, even for a customer some other action would help.

Rates, each within a group of eligible customers: selection rate P(offered); true positive rate
TPR = P(hit | helps); false positive rate FPR = P(offered | not helps) (any offer to a customer no
offer helps only costs them). spd = SR_u - SR_p; di = SR_u / SR_p; eod = TPR_u - TPR_p;
aod = ((FPR_u - FPR_p) + (TPR_u - TPR_p)) / 2 (u: unprivileged, p: privileged).
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
# The intersection measured across its cells (multi-group: worst cell against best cell).
INTERSECTION = ("age_band", "gender")
INTERSECTION_NAME = "age_gender"


def join_columns(frame: pd.DataFrame, columns, sep: str = " / ") -> np.ndarray:
    """Each row's values of `columns` as text joined by `sep` ("65-74 / female"), e.g. a customer's age
    band x gender cell: the same strings as a row-wise ``astype(str).agg(sep.join, axis=1)``, built
    column by column (row-wise, it took 0.7 s of a run's 2.1 s CPU at 20,000 customers)."""
    text = [frame[c].astype(str).to_numpy(dtype=object) for c in columns]
    out = text[0]
    for t in text[1:]:
        out = out + sep + t
    return out


def offer_beneficial(customers: pd.DataFrame, actions: np.ndarray) -> np.ndarray:
    """True where the customer got an action whose true net value beats no contact (a hit)."""
    nv = true_net_values(customers)
    actions = np.asarray(actions)
    return (actions > 0) & (nv[np.arange(len(nv)), actions] > nv[:, 0])


def cap_excluded_share(older: np.ndarray, contacts_90d: np.ndarray, older_contact_cap: int) -> float:
    """Share of older customers the contact cap excludes (contacts in 90 days >= cap); nan if none
    is older. A wellbeing protection, reported beside the parity it would otherwise distort."""
    older = np.asarray(older, dtype=bool)
    if not older.any():
        return math.nan
    return float((np.asarray(contacts_90d)[older] >= older_contact_cap).mean())


def fairness_metrics(
    offered: np.ndarray,
    hit: np.ndarray,
    helps: np.ndarray,
    unprivileged: np.ndarray,
    attr: str,
    eligible: np.ndarray | None = None,
) -> dict:
    """spd, di, eod and aod for one binary protected attribute (see the module docstring)."""
    return fairness_metrics_many(offered, hit, helps, {attr: unprivileged}, eligible)


def fairness_metrics_many(
    offered: np.ndarray,
    hit: np.ndarray,
    helps: np.ndarray,
    unprivileged: dict[str, np.ndarray],
    eligible: np.ndarray | None = None,
) -> dict:
    """`fairness_metrics` for several protected attributes, computed by aif360 from one dataset of
    the eligible customers (built once: its construction, not the metrics, costs time at 1M rows).

    offered: any contact; hit: offered an action that truly beats no contact; helps: the truth
    label; unprivileged: group masks; eligible: customers the policy may contact (default: all).
    """
    # Imported here, not at module level: segmenters and the study runner import this package for
    # segment_balance and must not pay aif360's ~2 s import at start-up.
    from ._aif360 import BinaryLabelDataset, ClassificationMetric

    keep = np.ones(len(offered), bool) if eligible is None else np.asarray(eligible, dtype=bool)
    cols = {attr: np.asarray(mask, dtype=float)[keep] for attr, mask in unprivileged.items()}
    df = pd.DataFrame({**cols, "y": np.asarray(helps, dtype=float)[keep]})
    truth = BinaryLabelDataset(
        df=df, label_names=["y"], protected_attribute_names=list(cols), favorable_label=1.0, unfavorable_label=0.0
    )
    preds = {}
    for name, labels in (("offered", offered), ("hit", hit)):
        pred = truth.copy()  # shallow copy, then fresh labels: the truth's labels stay untouched
        pred.labels = np.asarray(labels, dtype=float)[keep].reshape(-1, 1)
        preds[name] = pred
    out = {}
    for attr in cols:
        groups = {"unprivileged_groups": [{attr: 1.0}], "privileged_groups": [{attr: 0.0}]}
        m = {}
        for name, pred in preds.items():
            # ClassificationMetric checks that both datasets agree apart from labels, comparing the
            # instance names (one string per customer) one by one: 0.5 s a metric at 1M customers.
            # The copies share the very same list, so that comparison is skipped, the others kept.
            same_names = ("instance_names",) if pred.instance_names is truth.instance_names else ()
            with truth.temporarily_ignore(*same_names):
                m[name] = ClassificationMetric(truth, pred, **groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            tpr = float(m["hit"].true_positive_rate_difference())
            fpr = float(m["offered"].false_positive_rate_difference())
            out.update(
                {
                    f"spd_{attr}": float(m["offered"].statistical_parity_difference()),
                    f"di_{attr}": float(m["offered"].disparate_impact()),
                    f"eod_{attr}": tpr,
                    f"aod_{attr}": (fpr + tpr) / 2,
                }
            )
    return out


def intersection_metrics(
    cells: np.ndarray,
    offered: np.ndarray,
    hit: np.ndarray,
    helps: np.ndarray,
    eligible: np.ndarray | None = None,
    min_cell: int = 1,
    name: str = INTERSECTION_NAME,
) -> dict:
    """Multi-group parity across the cells of an intersection (e.g. age band x gender), among
    eligible customers: spd = lowest cell offer rate - highest, di = lowest / highest, eod = lowest
    cell TPR - highest. Cells with fewer than `min_cell` eligible customers (for eod: eligible
    customers an offer helps) are left out, so a tiny cell never sets the extremes. nan when fewer
    than two cells qualify."""
    keep = np.ones(len(offered), bool) if eligible is None else np.asarray(eligible, dtype=bool)
    df = pd.DataFrame(
        {
            "cell": np.asarray(cells)[keep],
            "o": np.asarray(offered, bool)[keep],
            "h": np.asarray(hit, bool)[keep],
            "y": np.asarray(helps, bool)[keep],
        }
    )
    g = df.groupby("cell", observed=True)
    sr = g["o"].mean()[g.size() >= min_cell]
    pos = df[df["y"]].groupby("cell", observed=True)
    tpr = pos["h"].mean()[pos.size() >= min_cell]
    nan = math.nan
    two_sr, two_tpr = len(sr) >= 2, len(tpr) >= 2
    return {
        f"spd_{name}": float(sr.min() - sr.max()) if two_sr else nan,
        f"di_{name}": float(sr.min() / sr.max()) if two_sr and sr.max() > 0 else nan,
        f"eod_{name}": float(tpr.min() - tpr.max()) if two_tpr else nan,
    }


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
    """Per group: customers, eligible customers, offer rate among the eligible (`offer_rate`) and
    among everyone (`offer_rate_all`), the hit rate among eligible customers an offer truly helps
    (`offer_rate_if_helps`, the TPR of equal opportunity), the share of the group's offers that
    truly do worse than no contact (`harmful_offer_share`), and value per customer.

    Cells with fewer than `min_cell` customers are dropped; a rate from fewer than `min_cell`
    customers (its denominator) is blanked (aggregates only, no small cells).
    """
    nv = true_net_values(holdout)
    act = decisions["action"].cat.codes.to_numpy()
    offered = decisions["offered"].to_numpy(dtype=bool)
    eligible = decisions["eligible"].to_numpy(dtype=bool) if "eligible" in decisions else np.ones(len(act), bool)
    hit = offered & (nv[np.arange(len(nv)), act] > nv[:, 0])
    helps = nv[:, 1:].max(axis=1) > nv[:, 0]
    df = holdout[by].copy()
    df["eligible"] = eligible
    df["offered_all"] = offered
    df["offered_elig"] = np.where(eligible, offered, np.nan)
    df["hit_if_helps"] = np.where(eligible & helps, hit, np.nan)
    df["harmful"] = np.where(offered, ~hit, np.nan)
    df["value"] = nv[np.arange(len(nv)), act]
    g = df.groupby(by, observed=True)
    counts = g[["offered_elig", "hit_if_helps", "harmful"]].count()
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "eligible": g["eligible"].sum().astype(int),
            "offer_rate": g["offered_elig"].mean().where(counts["offered_elig"] >= min_cell),
            "offer_rate_all": g["offered_all"].mean(),
            "offer_rate_if_helps": g["hit_if_helps"].mean().where(counts["hit_if_helps"] >= min_cell),
            "harmful_offer_share": g["harmful"].mean().where(counts["harmful"] >= min_cell),
            "value_per_customer": g["value"].mean(),
        }
    )
    return out[out["customers"] >= min_cell].reset_index()


def fairness_table(
    holdout: pd.DataFrame, decisions: pd.DataFrame, by: list[str] | None = None, min_cell: int = 1
) -> pd.DataFrame:
    """Multi-group view (default: age band x gender): `group_table` plus each cell's disparate impact
    against the best-off cell shown, di_vs_best = offer_rate / max(offer_rate) (among eligible
    customers), and the same for the hit rate among customers an offer truly helps
    (tpr_ratio_vs_best). Cells under `min_cell` are dropped or blanked before the best-off cell is
    chosen, so a tiny cell never sets the reference."""
    t = group_table(holdout, decisions, by or list(INTERSECTION), min_cell=min_cell)
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
