"""Off-policy evaluation: a policy's value estimated from a randomised campaign log, without truth.

Real customer tables have no true response probabilities, but many hold a randomised campaign log:
who got which action, with what probability (the propensity), and what they booked. That is enough
to estimate what any other policy would have earned on those customers:

- inverse propensity scoring (IPS; Horvitz & Thompson 1952): the mean over logged customers of
  ``w_i r_i``, with ``w_i = 1{A_i = pi(x_i)} / e_i`` and ``r_i`` the booked value net of the contact
  cost of the action received. Unbiased when the propensities are right and positive;
- self-normalised IPS (SNIPS; Swaminathan & Joachims 2015): ``sum w_i r_i / sum w_i``; slightly
  biased, lower variance;
- doubly robust (DR; Dudik, Langford & Li 2011): ``q(x_i, pi(x_i)) + w_i (r_i - q(x_i, A_i))`` with
  ``q`` an outcome model (here: the policy's own segment value estimates, fitted on *other*
  customers); unbiased if either the propensities or the model are right, and lower variance than
  IPS when the model is any good.

The headline estimate (``value_<name>_ope``) is DR. Intervals are percentile intervals over Poisson
bootstrap resamples of the logged customers (`bootstrap_cell_sums`, the same resampling as the gain
intervals), the outcome model and the policy held fixed. The customers a policy was fitted on must
not be the ones it is evaluated on: `fold_ids` deals the log into folds for cross-fitting (the caller
fits on all folds but one and evaluates on that one), so every logged customer is evaluated exactly
once, by a policy that never saw them. What is estimated is then the value of the approach trained
on (k - 1) / k of the log, applied to new customers from the same population.

Functions here are pure: arrays in, numbers out. The run pipeline does the fitting.
"""

from __future__ import annotations

import math

import numpy as np

from .gain import N_BOOT, _interval, bootstrap_cell_sums

ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dr")
HEADLINE = "dr"  # value_<name>_ope is this estimator
N_FOLDS = 5  # cross-fitting folds of the campaign log


def fold_ids(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded random fold (0..n_folds-1) for each of `n` logged customers, folds as equal as possible."""
    if n_folds < 2:
        raise ValueError(f"n_folds: expected an integer >= 2, got {n_folds!r}")
    folds = np.arange(n) % n_folds
    return folds[rng.permutation(n)]


def ope_terms(
    logged_action: np.ndarray,
    reward: np.ndarray,
    propensity: np.ndarray | float,
    target_action: np.ndarray,
    q_hat: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-customer terms of the three estimators for one target policy.

    logged_action, target_action: action codes (the log's and the policy's); reward: net value of
    what was logged (booked value minus the contact cost of the action received); propensity: the
    probability the log gave the action received (one number or one per customer), in (0, 1];
    q_hat: (customers x actions) outcome model, estimated net value of each action (None: zeros, so
    DR reduces to IPS). Returns ``w`` (importance weight), ``wr`` (w * reward) and ``dr``.
    """
    logged_action = np.asarray(logged_action, dtype=np.int64)
    target_action = np.asarray(target_action, dtype=np.int64)
    reward = np.asarray(reward, dtype=float)
    e = np.broadcast_to(np.asarray(propensity, dtype=float), reward.shape)
    if not ((e > 0) & (e <= 1)).all():
        raise ValueError("propensity: expected values in (0, 1]")
    w = (logged_action == target_action) / e
    wr = w * reward
    if q_hat is None:
        dr = wr
    else:
        q_hat = np.asarray(q_hat, dtype=float)
        rows = np.arange(len(reward))
        dr = q_hat[rows, target_action] + w * (reward - q_hat[rows, logged_action])
    return {"w": w, "wr": wr, "dr": dr}


def ope_point(terms: dict[str, np.ndarray]) -> dict[str, float]:
    """IPS, SNIPS and DR estimates from `ope_terms` (nan for an empty log; SNIPS nan if no match)."""
    n = len(terms["w"])
    if n == 0:
        return dict.fromkeys(ESTIMATORS, math.nan)
    sw = float(terms["w"].sum())
    return {
        "ips": float(terms["wr"].sum() / n),
        "snips": float(terms["wr"].sum() / sw) if sw > 0 else math.nan,
        "dr": float(terms["dr"].sum() / n),
    }


def ope_metrics(
    terms: dict[str, dict[str, np.ndarray]],
    rng: np.random.Generator,
    n_boot: int = N_BOOT,
    baseline: str = "mass",
    detail: tuple[str, ...] = ("policy",),
) -> dict[str, float]:
    """Flat metrics for every target policy in `terms` (name -> `ope_terms`), with bootstrap intervals.

    For each name: ``value_<name>_ope`` (DR) with ``_lo`` / ``_hi``; for the names in `detail`, also
    ``value_<name>_ips`` and ``value_<name>_snips``, each with ``_lo`` / ``_hi``. For every name but `baseline`, when the
    baseline is present: ``gain_<name>_ope`` (``gain_ope`` for "policy") = DR(name) - DR(baseline),
    and with an "oracle" too, ``gain_share_ope`` = gain_ope / gain_oracle_ope (nan unless the oracle's
    estimated gain is positive); intervals from the same resamples, shared by all policies, so
    differences are paired.
    """
    names = list(terms)
    n = len(next(iter(terms.values()))["w"]) if names else 0
    cols = [np.ones(n)]
    for name in names:
        cols += [terms[name]["w"], terms[name]["wr"], terms[name]["dr"]]
    sums = bootstrap_cell_sums(np.zeros(n, dtype=np.int64), np.column_stack(cols), 1, rng, n_boot)[:, 0]
    count = sums[:, 0]
    out: dict[str, float] = {}
    boot_dr = {}
    for j, name in enumerate(names):
        sw, swr, sdr = sums[:, 1 + 3 * j], sums[:, 2 + 3 * j], sums[:, 3 + 3 * j]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = {
                "ips": swr / count,
                "snips": np.where(sw > 0, swr / np.where(sw > 0, sw, 1), np.nan),
                "dr": sdr / count,
            }
        boot_dr[name] = reps["dr"]
        point = ope_point(terms[name])
        for est in ESTIMATORS if name in detail else (HEADLINE,):
            key = f"value_{name}_ope" if est == HEADLINE else f"value_{name}_{est}"
            lo, hi = _interval(reps[est])
            out.update({key: point[est], f"{key}_lo": lo, f"{key}_hi": hi})
    if baseline in terms:
        for name in names:
            if name == baseline:
                continue
            key = "gain_ope" if name == "policy" else f"gain_{name}_ope"
            lo, hi = _interval(boot_dr[name] - boot_dr[baseline])
            out.update({key: out[f"value_{name}_ope"] - out[f"value_{baseline}_ope"], f"{key}_lo": lo, f"{key}_hi": hi})
        if "policy" in terms and "oracle" in terms:
            d_pol, d_orc = boot_dr["policy"] - boot_dr[baseline], boot_dr["oracle"] - boot_dr[baseline]
            lo, hi = _interval(np.where(d_orc > 0, d_pol / np.where(d_orc > 0, d_orc, 1), np.nan))
            g_orc = out["value_oracle_ope"] - out[f"value_{baseline}_ope"]
            share = out["gain_ope"] / g_orc if g_orc > 0 else math.nan
            out.update({"gain_share_ope": share, "gain_share_ope_lo": lo, "gain_share_ope_hi": hi})
    return out
