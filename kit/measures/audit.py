"""Membership audits of what an approach releases: a canary audit and a tracing attack.

Two attackers, two threat models, two numbers:

- **Canary audit** (`canary_audit`, metric ``mia_audit_eps_lb``), in the manner of Jagielski, Ullman &
  Oprea (2020) and Nasr et al. (2021): the threat model of differential privacy itself. The auditor
  knows every customer the approach is fitted on but one, the canary, and sees one release. Over
  repeated trials, each with fresh randomness for the approach, it fits with and without the
  canary and guesses from the release alone which it was; the Clopper-Pearson bounds on its
  error rates give a lower bound on epsilon that holds with 95% confidence. An epsilon-DP
  release can never show more than epsilon (up to that 5%); an exact release shows the most the
  number of trials can show.
- **Tracing attack** (`tracing_attack`, metric ``tracing_advantage``), after Homer et al. (2008) and
  Dwork, Smith, Steinke, Ullman & Vadhan (2015): a realistic attacker who knows nothing of the
  training data, only a reference sample of the population, the released segment profiles and a
  candidate's record. It scores how far the candidate's segment profile is pulled towards the
  candidate. Its advantage is calibrated against a null (the same attack between two samples of
  non-members), so 0 means the profiles say nothing about who was in them.

The canary's distinguisher reads the released segment sizes: they sum to the number of customers
fitted, so adding one moves them by exactly one, which an attacker who knows the rest subtracts;
only noise (dp_kmeans's noisy sizes) hides it. The tracing attack reads the released profiles'
feature means, whose columns are the approach's own feature table (`Segmenter.features`): rfm's
raw recency, frequency and monetary columns are attacked like kmeans's standardised features.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from .privacy import ALPHA, best_threshold, epsilon_lower_bound

# Trials per side (with / without the canary) unless told otherwise: with a perfect distinguisher
# 14 + 14 trials prove epsilon >= 1.20 at 95% confidence (the ceiling `audit_ceiling` states).
AUDIT_TRIALS = 14
# The audit fits on a seeded sample of at most this many of the customers the run fitted on: epsilon
# is a bound over every pair of neighbouring datasets, so a bound proved on a part of the data bounds
# the mechanism just as well, and the audit's cost stays flat however many customers a run has.
# 1,000 rather than 2,000 since session 4: the same bound in all 400 runs of the default study's 20
# worlds (1.199 for the 16 exact settings, mass and dp_kmeans at eps inf among them; 0.000 for dp_kmeans at
# its 4 finite eps), at 77% of the time.
AUDIT_MAX_FIT = 1_000
# The canary's guess: "in" when the released sizes count more than half a customer more than the data.
AUDIT_THRESHOLD = 0.5
# Candidates per side of the tracing attack, at most.
TRACING_MAX_PER_SIDE = 20_000
# Label shuffles that estimate the tracing attack's null advantage.
TRACING_PERMUTATIONS = 20

# The auditor's canary: a plausible customer at the edge of the declared feature bounds
# (kit.segmenters.FEATURE_BOUNDS): bought today, 40 purchases a year at 2,000 each, 40 years a
# customer, all spend on electronics, opens everything, contacted 12 times in 90 days, prefers the
# phone, aged 99, a woman with a high income. Auditor-crafted: no real customer's record.
CANARY_VALUES: dict[str, object] = {
    "customer_id": "CANARY",
    "age": 99,
    "age_band": "75+",
    "older": True,
    "gender": "female",
    "postcode_area": "PA00",
    "income_band": "high",
    "recency_days": 0,
    "frequency": 40,
    "monetary": 2000.0,
    "tenure_months": 480,
    "channel": "phone",
    "aff_grocery": 0.0,
    "aff_fashion": 0.0,
    "aff_electronics": 1.0,
    "aff_home": 0.0,
    "engagement": 1.0,
    "contacts_90d": 12,
    "marketing_consent": True,
    "profiling_consent": True,
    "in_campaign": True,
}


def make_canary(template: pd.DataFrame) -> pd.DataFrame:
    """The canary as a one-row table with `template`'s columns and dtypes.

    Columns `CANARY_VALUES` does not set (the campaign log, the generator's truth) are copied from
    the template's first row, so every approach can fit on it (the tree reads the campaign log,
    the oracle the truth); they do not enter the attacked release of any other approach.
    """
    if not len(template):
        raise ValueError("make_canary: the template table has no rows")
    row = template.iloc[[0]].copy()
    for col, value in CANARY_VALUES.items():
        if col in row.columns:
            row[col] = pd.Series([value], index=row.index).astype(row[col].dtype)
    return row


def attack_columns(release: dict, feature_names) -> list[str]:
    """The columns of the released segment profiles the attacker can compute for a candidate record:
    the approach's own features (`feature_names`, e.g. ``Segmenter.features(...).columns``)."""
    names = set(feature_names)
    return [c for c in release["profiles"].columns if c != "size" and c in names]


def profile_totals(release: dict, columns: list[str]) -> np.ndarray:
    """What the released profiles say about all fitted customers together: their count (the sum of the
    segment sizes) and, per column, the total (sum over segments of size x mean; empty segments and
    missing means count 0)."""
    prof = release["profiles"]
    size = prof["size"].to_numpy(dtype=float)
    means = prof[columns].to_numpy(dtype=float) if columns else np.zeros((len(prof), 0))
    sums = np.where(size[:, None] > 0, np.nan_to_num(means) * size[:, None], 0.0).sum(axis=0)
    return np.r_[size.sum(), sums]


def audit_ceiling(trials: int, alpha: float = ALPHA) -> float:
    """The largest epsilon lower bound `trials` trials per side can prove: a distinguisher that is never
    wrong."""
    return epsilon_lower_bound(0, trials, 0, trials, alpha)


def canary_audit(
    fit_release: Callable[[pd.DataFrame, int], dict],
    data: pd.DataFrame,
    canary: pd.DataFrame,
    seed: np.random.SeedSequence,
    trials: int = AUDIT_TRIALS,
    alpha: float = ALPHA,
) -> dict:
    """Canary membership audit: an empirical lower bound on the epsilon of an approach's release.

    `fit_release(customers, random_state)` fits the approach as the run does and returns its
    release; `data` is what the run fits on (the world without the canary). Each of `trials` trials
    per side fits on `data` (out) or `data` + `canary` (in), with a fresh random_state drawn from
    `seed`, so noise and restarts differ from trial to trial and the attacker never knows them.

    Distinguisher (fixed before any trial, so the bound needs no correction for choosing it): the
    attacker knows `data`, so it knows how many customers the out world's release counts; it reads
    the released segment sizes (`profile_totals`), t = their sum - len(data), and guesses "in" when
    t > 1/2. An exact release moves by exactly the canary (t = 0 or 1); noisy sizes (dp_kmeans) hide
    it. The feature means move too, but by the canary as the approach clips it (dp_kmeans clips at 3
    declared spreads), which an approach-independent distinguisher cannot know; the sizes need no
    such knowledge and were the stronger signal in every DP setting measured. The bound is
    `epsilon_lower_bound` of the error counts (Clopper-Pearson, two-sided 1 - alpha).

    Returns ``mia_audit_eps_lb``, ``mia_audit_trials`` (fits, both sides) and the counts behind the
    bound (``tp``, ``fp``, ``trials_per_side``, ``ceiling``).
    """
    if trials < 1:
        raise ValueError(f"trials: expected an integer >= 1, got {trials!r}")
    with_canary = pd.concat([data, canary])
    states = seed.generate_state(2 * trials)
    t_in, t_out = [], []
    for i in range(trials):
        for inside, out in ((False, t_out), (True, t_in)):
            release = fit_release(with_canary if inside else data, int(states[2 * i + inside]))
            out.append(float(profile_totals(release, [])[0]) - len(data))
    tp = int((np.asarray(t_in) > AUDIT_THRESHOLD).sum())
    fp = int((np.asarray(t_out) > AUDIT_THRESHOLD).sum())
    return {
        "mia_audit_eps_lb": epsilon_lower_bound(fp, trials, trials - tp, trials, alpha),
        "mia_audit_trials": 2 * trials,
        "tp": tp,
        "fp": fp,
        "trials_per_side": trials,
        "ceiling": audit_ceiling(trials, alpha),
    }


def tracing_scores(
    release: dict,
    columns: list[str],
    candidates: np.ndarray,
    cand_labels: np.ndarray,
    reference: np.ndarray,
    ref_labels: np.ndarray,
) -> np.ndarray:
    """Tracing score of each candidate (rows of `candidates`, in `columns`): how far its segment's released
    profile mean P_s is pulled towards it, measured from the reference sample's mean of that segment
    r_s: <x - r_s, P_s - r_s> / |P_s - r_s|, in units of the reference's standard deviations.
    Segments with no reference customers use the reference's overall mean. 0 for every candidate
    when the release has no attackable columns."""
    if not columns or not len(candidates):
        return np.zeros(len(candidates))
    prof = release["profiles"]
    mu, sd = reference.mean(axis=0), reference.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    ref = (reference - mu) / sd
    cand = (candidates - mu) / sd
    released = (prof[columns].to_numpy(dtype=float) - mu) / sd
    n_seg = len(prof)
    counts = np.bincount(ref_labels, minlength=n_seg)[:n_seg].astype(float)
    sums = np.stack(
        [np.bincount(ref_labels, weights=ref[:, j], minlength=n_seg)[:n_seg] for j in range(ref.shape[1])], axis=1
    )
    ref_means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    dev = np.nan_to_num(released - ref_means)
    norm = np.linalg.norm(dev, axis=1)
    unit = np.divide(dev, norm[:, None], out=np.zeros_like(dev), where=norm[:, None] > 0)
    labels = np.asarray(cand_labels, dtype=np.int64)
    ok = (labels >= 0) & (labels < n_seg)
    scores = np.zeros(len(cand))
    scores[ok] = ((cand[ok] - ref_means[labels[ok]]) * unit[labels[ok]]).sum(axis=1)
    return scores


def tracing_attack(
    release: dict,
    columns: list[str],
    features: Callable[[pd.DataFrame], pd.DataFrame],
    predict: Callable[[pd.DataFrame], np.ndarray],
    members: pd.DataFrame,
    non_members: pd.DataFrame,
    rng: np.random.Generator,
    max_per_side: int = TRACING_MAX_PER_SIDE,
    permutations: int = TRACING_PERMUTATIONS,
) -> dict:
    """Tracing attack on the released segment profiles, calibrated against a null.

    `members` are the customers the approach was fitted on; `non_members` come from the same
    population and were not (held-out customers, with the same consent filter). The non-members are
    shuffled (seeded) and split in two halves: the attacker's reference sample, and the non-member
    candidates; as many members are sampled (at most `max_per_side` each). Each candidate's segment
    is the approach's own assignment (`predict`, what the audience file carries); its score is
    `tracing_scores`. Advantage = max over thresholds of TPR - FPR (`best_threshold`) of members
    against non-members. The null is the mean advantage of the same scores under `permutations`
    seeded shuffles of the member / non-member labels: what the best threshold finds when there is
    nothing to find (about 0.02-0.03 for 3,500 a side). ``tracing_advantage`` = advantage - null.
    """
    nan = {"tracing_advantage": math.nan, "tracing_advantage_raw": math.nan, "tracing_null": math.nan}
    order = rng.permutation(len(non_members))
    n_ref = len(order) // 2
    m = min(len(order) - n_ref, len(members), max_per_side)
    if m == 0:
        return nan
    ref_rows, out_rows = np.sort(order[:n_ref]), np.sort(order[n_ref : n_ref + m])
    mem_rows = np.sort(rng.choice(len(members), m, replace=False))

    def table(frame):
        return features(frame)[columns].to_numpy(dtype=float), np.asarray(predict(frame), dtype=np.int64)

    ref, ref_l = table(non_members.iloc[ref_rows])
    out, out_l = table(non_members.iloc[out_rows])
    mem, mem_l = table(members.iloc[mem_rows])
    scores = np.r_[
        tracing_scores(release, columns, mem, mem_l, ref, ref_l),
        tracing_scores(release, columns, out, out_l, ref, ref_l),
    ]
    is_in = np.r_[np.ones(m, bool), np.zeros(m, bool)]
    adv = best_threshold(scores, is_in)["advantage"]
    null = float(np.mean([best_threshold(scores, rng.permutation(is_in))["advantage"] for _ in range(permutations)]))
    return {"tracing_advantage": adv - null, "tracing_advantage_raw": adv, "tracing_null": null}
