"""Offer-rate parity: the shared policy post-processed so two groups' offer rates meet a target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .policy import Policy, _decision_table, contact_eligible


def parity_ratio(offered: np.ndarray, group: np.ndarray) -> float:
    """Lower offer rate of the two groups divided by the higher (1 when neither group is offered anything)."""
    offered = np.asarray(offered, dtype=bool)
    group = np.asarray(group, dtype=bool)
    rates = [offered[group].mean(), offered[~group].mean()]
    return 1.0 if max(rates) == 0 else float(min(rates) / max(rates))


def _ratio(c_a: np.ndarray, n_a: int, c_b: np.ndarray, n_b: int) -> np.ndarray:
    """parity_ratio for offer counts (vectorised), computed exactly as parity_ratio computes it."""
    ra, rb = c_a / n_a, c_b / n_b
    hi = np.maximum(ra, rb)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hi == 0, 1.0, np.minimum(ra, rb) / hi)


def parity_counts(
    lift_a: np.ndarray, n_a: int, lift_b: np.ndarray, n_b: int, budget_n: int, target: float
) -> tuple[int, int]:
    """How many of each group to contact: maximise the summed estimated lift of the contacted (the
    best-lift eligible customers of each group), subject to at most `budget_n` contacts in all and
    min / max of the groups' offer rates >= `target`.

    `lift_a`, `lift_b`: estimated lifts of each group's eligible customers, sorted descending;
    `n_a`, `n_b`: the rates' denominators (each group's eligible customers, in `parity_decisions`). Exact: every count of group a is tried,
    with group b's best count in its feasible range (the prefix sums are concave, so the best is
    the number of positive lifts, clipped into the range).
    """
    s_a = np.r_[0.0, np.cumsum(lift_a)]
    s_b = np.r_[0.0, np.cumsum(lift_b)]
    c_a = np.arange(min(len(lift_a), budget_n) + 1)
    lo = np.ceil(target * c_a * n_b / n_a).astype(np.int64)
    hi = np.floor(c_a * n_b / (n_a * target)).astype(np.int64)
    hi = np.minimum(hi, np.minimum(len(lift_b), budget_n - c_a))
    lo = np.where((_ratio(c_a, n_a, lo, n_b) < target) & (lo < hi), lo + 1, lo)  # float rounding at the edge
    hi = np.where((_ratio(c_a, n_a, hi, n_b) < target) & (hi > lo), hi - 1, hi)
    c_b = np.clip(int((lift_b > 0).sum()), lo, np.maximum(hi, lo))
    ok = (lo <= hi) & (_ratio(c_a, n_a, c_b, n_b) >= target)
    value = np.where(ok, s_a[c_a] + s_b[np.minimum(c_b, len(lift_b))], -np.inf)
    j = int(np.argmax(value))  # c_a = 0, c_b = 0 is always feasible
    return int(c_a[j]), int(c_b[j])


def parity_decisions(
    values: np.ndarray,
    customers: pd.DataFrame,
    policy: Policy,
    group: np.ndarray,
    target: float,
    rng: np.random.Generator,
    before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The policy post-processed for parity: offer rates of `group` and the rest within `target` of
    each other, among the customers the policy may contact (`contact_eligible`), as fairness is measured.

    Same table as `assign_actions`. Within the same budget, who is contacted is re-chosen: each
    group's eligible customers (marketing consent, under the older customers' contact cap) in
    order of estimated lift, as many of each as `parity_counts` says. The rates' denominators are
    the eligible customers of each group: the customers the contact cap protects are not counted
    as a disparity to offset (counting them, parity over everyone pushed the older customers'
    offer rate among the eligible to 1.43x the younger's on average over 40 worlds). Customers with a non-positive
    estimated lift may be contacted when the group needs them to reach parity (their estimates may
    be what a biased history taught); customers `before` would have contacted but parity drops are
    marked blocked 'parity'.
    """
    n = len(customers)
    group = np.asarray(group, dtype=bool)
    contact_vals = values[:, 1:]
    best = contact_vals.argmax(axis=1) + 1
    lift = contact_vals.max(axis=1) - values[:, 0]
    wanted = lift > 0
    consent = customers["marketing_consent"].to_numpy(dtype=bool)
    eligible = contact_eligible(customers, policy)
    at_cap = consent & ~eligible
    budget_n = int(np.floor(policy.budget * n))
    tiebreak = rng.random(n)
    order = np.lexsort((tiebreak, -lift))
    in_a = order[eligible[order] & group[order]]
    in_b = order[eligible[order] & ~group[order]]
    n_a, n_b = int((group & eligible).sum()), int((~group & eligible).sum())
    chosen = np.zeros(n, dtype=bool)
    if n_a and n_b:
        c_a, c_b = parity_counts(lift[in_a], n_a, lift[in_b], n_b, budget_n, target)
        chosen[in_a[:c_a]] = True
        chosen[in_b[:c_b]] = True
    else:  # one group only: parity holds trivially; the plain policy
        chosen[order[(eligible & wanted)[order]][:budget_n]] = True
    prior = before["offered"].to_numpy(dtype=bool) if before is not None else np.zeros(n, dtype=bool)
    blocked = np.full(n, "", dtype=object)
    blocked[wanted & ~consent] = "no_consent"
    blocked[wanted & consent & at_cap] = "older_cap"
    blocked[eligible & wanted & ~chosen] = "budget"
    blocked[eligible & prior & ~chosen] = "parity"
    return _decision_table(chosen, best, lift, blocked, eligible, customers.index)
