"""Privacy loss of what an approach releases: k-anonymity of the audience file, re-identification,
attribute inference, and the statistics the membership audits (`kit.measures.audit`) share.

The attacks are deliberately simple and fully specified, so a number means the same thing for
every approach: they measure what *this* attacker learns from the release, a lower bound on what
a cleverer one could.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..vocabulary import QUASI_IDENTIFIERS

ALPHA = 0.05  # two-sided: 95% confidence intervals


def min_segment_size(sizes: pd.Series | np.ndarray) -> int:
    """Smallest released segment, counting only segments that hold anyone."""
    sizes = np.asarray(sizes)
    sizes = sizes[sizes > 0]
    return int(sizes.min()) if len(sizes) else 0


# --- Re-identification ----------------------------------------------------------------------


def combined_codes(frame: pd.DataFrame, columns, extra: np.ndarray | None = None) -> np.ndarray:
    """One non-negative integer per row that is equal exactly when the rows agree on every column (and
    on `extra`): mixed-radix codes, re-factorised only if they would grow past 2**40."""
    parts = [_codes(frame[c]) for c in columns]
    if extra is not None:
        parts.append(_codes(pd.Series(np.asarray(extra))))
    code = np.zeros(len(frame), dtype=np.int64)
    size = 1  # codes are < size
    for p in parts:
        radix = int(p.max(initial=0)) + 1
        if size * radix > 2**40:
            code = pd.factorize(code)[0].astype(np.int64)
            size = int(code.max(initial=0)) + 1
        code = code * radix + p
        size *= radix
    return code


def _codes(col: pd.Series) -> np.ndarray:
    """Non-negative integer codes of a column's values (categorical codes when it has them)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        if (codes >= 0).all():
            return codes
    return pd.factorize(col.to_numpy(), use_na_sentinel=False)[0].astype(np.int64)


def unique_share(codes: np.ndarray) -> float:
    """Share of rows whose code no other row shares."""
    if not len(codes):
        return math.nan
    counts = np.bincount(codes)
    return float((counts[codes] == 1).mean())


def audience_privacy(released_qis: pd.DataFrame, labels: np.ndarray) -> dict:
    """k-anonymity of an audience file (each customer's quasi-identifiers as released + segment label):

    - ``reid_rate``: share of its customers unique in it (no one else has the same released
      quasi-identifiers and label), the sample uniqueness k-anonymity guards against (Sweeney 2002);
    - ``reid_rate_base``: the same on the released quasi-identifiers alone (what the label adds);
    - ``min_audience_class``: customers in its smallest (quasi-identifiers + label) class: the file is
      k-anonymous for every k up to this.
    """
    cols = list(released_qis.columns)
    codes = combined_codes(released_qis, cols, np.asarray(labels))
    counts = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    return {
        "reid_rate": unique_share(codes),
        "reid_rate_base": unique_share(combined_codes(released_qis, cols)),
        "min_audience_class": int(counts[counts > 0].min()) if len(codes) else 0,
    }


# --- Membership inference: shared statistics (the attacks are in `audit`) ---------------------


def best_threshold(scores: np.ndarray, is_member: np.ndarray) -> dict:
    """The threshold t maximising TPR - FPR for the rule "member if score >= t" (exact: every distinct
    score is tried, plus t = +inf, which flags no one and has advantage 0).

    Returns advantage, tpr, fpr and the counts behind them (tp, fp, members, non_members).
    """
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(is_member, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("is_member: needs at least one member and one non-member")
    order = np.argsort(-scores, kind="stable")
    s, yy = scores[order], y[order]
    tp = np.cumsum(yy)
    fp = np.cumsum(~yy)
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # a threshold flags all rows with an equal score
    tp = np.r_[0, tp[last_of_tie]]
    fp = np.r_[0, fp[last_of_tie]]
    adv = tp / n_pos - fp / n_neg
    j = int(np.argmax(adv))  # first maximum: the strictest threshold among the best
    return {
        "advantage": float(adv[j]),
        "tpr": tp[j] / n_pos,
        "fpr": fp[j] / n_neg,
        "tp": int(tp[j]),
        "fp": int(fp[j]),
        "members": n_pos,
        "non_members": n_neg,
    }


def clopper_pearson(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) binomial interval for k successes in n trials (Clopper & Pearson 1934)."""
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.isf(alpha / 2, k + 1, n - k))
    return lo, hi


def epsilon_lower_bound(fp: int, non_members: int, fn: int, members: int, alpha: float = ALPHA) -> float:
    """Empirical epsilon lower bound from an attack's error counts (Jagielski, Ullman & Oprea 2020,
    "Auditing Differentially Private Machine Learning: How Private is Private SGD?", NeurIPS).

    An epsilon-DP release forces FPR + e^eps FNR >= 1 and FNR + e^eps FPR >= 1, so
    eps >= max(log((1 - FNR) / FPR), log((1 - FPR) / FNR)). With Clopper-Pearson upper bounds
    FPR_hi, FNR_hi (the pessimistic side for the attacker), the bound holds with confidence
    1 - alpha; it is floored at 0 and is inf only if both upper bounds are 0 (impossible for n > 0).
    """
    fpr_hi = clopper_pearson(fp, non_members, alpha)[1]
    fnr_hi = clopper_pearson(fn, members, alpha)[1]
    with np.errstate(divide="ignore"):
        a = math.log((1 - fnr_hi) / fpr_hi) if fnr_hi < 1 else -math.inf
        b = math.log((1 - fpr_hi) / fnr_hi) if fpr_hi < 1 else -math.inf
    return max(a, b, 0.0)


# --- Attribute inference ------------------------------------------------------------------------

# What the attacker sees besides the segment label, per target: the quasi-identifiers minus the
# target and anything that reveals it exactly (age band gives `older` away).
ATTR_INFERENCE_QI: dict[str, tuple[str, ...]] = {
    "older": tuple(c for c in QUASI_IDENTIFIERS if c not in ("age_band",)),
    "gender": tuple(c for c in QUASI_IDENTIFIERS if c != "gender"),
}


def wilson_interval(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson score interval for a proportion k / n (Wilson 1927)."""
    if n == 0:
        return math.nan, math.nan
    z = float(stats.norm.isf(alpha / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def majority_predict(
    train_keys: np.ndarray, train_y: np.ndarray, test_keys: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Predict a binary target for each test row as the majority value among training rows with the same
    key; where the key was never seen in training, or its rows split evenly, use `fallback`."""
    both = np.r_[train_keys, test_keys]
    if both.dtype.kind in "iu" and (not len(both) or (both.min() >= 0 and both.max() < 4 * len(both) + 1024)):
        inv, n_keys = both.astype(np.int64), int(both.max(initial=0)) + 1  # already small codes
    else:
        keys, inv = np.unique(both, return_inverse=True)
        n_keys = len(keys)
    tr, te = inv[: len(train_keys)], inv[len(train_keys) :]
    ones = np.bincount(tr, weights=np.asarray(train_y, dtype=float), minlength=n_keys)
    total = np.bincount(tr, minlength=n_keys).astype(float)
    zeros = total - ones
    pred = np.asarray(fallback, dtype=bool).copy()
    pred[ones[te] > zeros[te]] = True
    pred[zeros[te] > ones[te]] = False
    return pred


def attribute_inference(
    train: pd.DataFrame,
    train_labels: np.ndarray,
    test: pd.DataFrame,
    test_labels: np.ndarray,
    target: str,
    positive,
    qi: tuple[str, ...],
) -> dict:
    """How much the segment label adds to the quasi-identifiers for guessing a protected attribute.

    The attacker learns, from the training (campaign) customers with their segment labels, the majority
    value of ``target == positive`` in each (segment, QI) cell, backing off to the QI-only cell and then
    to the overall majority where a cell is unseen or split. The baseline does the same from the QIs
    alone. On the test (held-out) customers, r = accuracy, and the risk as anonymeter defines it
    (Giomi et al. 2023) is lift = (r_attack - r_base) / (1 - r_base); Wilson 95% interval on r_attack.
    """
    y_tr = train[target].to_numpy() == positive
    y_te = test[target].to_numpy() == positive
    both = pd.concat([train[list(qi)], test[list(qi)]])
    labels = np.r_[np.asarray(train_labels), np.asarray(test_labels)]
    qi_code = combined_codes(both, qi)
    seg_code = combined_codes(both, qi, labels)
    n_tr = len(train)
    overall = np.full(len(test), y_tr.mean() > 0.5 if len(y_tr) else False)
    base = majority_predict(qi_code[:n_tr], y_tr, qi_code[n_tr:], overall)
    attack = majority_predict(seg_code[:n_tr], y_tr, seg_code[n_tr:], base)
    k_attack, k_base, n = int((attack == y_te).sum()), int((base == y_te).sum()), len(test)
    r_attack, r_base = (k_attack / n, k_base / n) if n else (math.nan, math.nan)
    lift = (r_attack - r_base) / (1 - r_base) if n and r_base < 1 else math.nan
    lo, hi = wilson_interval(k_attack, n)
    return {"r_attack": r_attack, "r_base": r_base, "lift": lift, "r_attack_lo": lo, "r_attack_hi": hi}
