"""The targeting policy every approach shares: segments -> one action per customer.

1. Estimate, from the historical randomised campaign only, each segment's value per contact for
   each action: mean booked revenue of the customers who got that action, minus its contact
   cost. A segment with fewer than `min_obs` campaign customers for some action gets the mass
   estimate (the one-segment estimate) instead, so thin segments fall back to the mass action.
2. Each customer's candidate is the contact action with the best estimated value; its estimated
   lift is that value minus the value of no contact.
3. Contact the customers with the largest positive lift, as many as the budget allows, skipping
   customers without marketing consent and older customers at the contact cap. Ties are broken by
   a seeded random key, so equal segments share the budget without order effects.

With a finite ``harm_cap`` (`cap_harm`), a vulnerable customer (older, or in the lowest income
bands) is never offered an action whose *estimated* extra spending over no contact (booked revenue
under the action minus under none, from the campaign) exceeds the cap; the best remaining action,
if any, is offered instead. The firm cannot see the truth, so the cap works on its own estimates.

An approach whose ``targeting`` is "parity" (fair_targeting) gets these decisions post-processed
for offer-rate parity between two groups within the same budget (`kit.targeting.parity`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..vocabulary import ACTION_COST, ACTIONS, LOW_INCOME_BANDS

# Columns the policy reads about every customer before contacting them: marketing consent, and
# age and recent contacts for the older customers' contact cap (what notices must say was checked).
POLICY_COLUMNS: tuple[str, ...] = ("marketing_consent", "older", "contacts_90d")


@dataclass(frozen=True)
class Policy:
    """The shared policy's settings."""

    budget: float = 0.5  # share of customers that may be contacted
    older_contact_cap: int = 3  # older customers with this many recent contacts get no more
    min_obs: int = 30  # campaign observations per segment and action, else the mass estimate
    harm_cap: float = math.inf  # largest estimated extra spending an offer may push onto a vulnerable customer


def vulnerable(customers: pd.DataFrame) -> np.ndarray:
    """Customers the harm cap protects: older (65+) or in the lowest income bands (firm columns)."""
    low = customers["income_band"].astype(str).isin(LOW_INCOME_BANDS).to_numpy()
    return customers["older"].to_numpy(dtype=bool) | low


def cap_harm(values: np.ndarray, customers: pd.DataFrame, harm_cap: float) -> np.ndarray:
    """Estimated values with the harm cap applied: for vulnerable customers, every contact action
    whose estimated extra spending (estimated net value + contact cost - value of no contact)
    exceeds `harm_cap` gets value -inf, so the policy never picks it. An infinite cap returns
    `values` itself (the policy without a cap, bit for bit)."""
    if math.isinf(harm_cap):
        return values
    cost = np.array([ACTION_COST[a] for a in ACTIONS])
    extra = values[:, 1:] + cost[1:] - values[:, :1]
    out = np.array(values, dtype=float, copy=True)
    out[:, 1:][vulnerable(customers)[:, None] & (extra > harm_cap)] = -math.inf
    return out


def estimate_segment_values(
    history: pd.DataFrame, labels: np.ndarray, n_segments: int, min_obs: int, mass_segments=()
) -> pd.DataFrame:
    """Estimated net value per contact of each action in each segment (segments x actions).

    Columns: one per action; plus `n_min` (the fewest campaign customers behind any action of the
    segment) and `fallback` (True where the mass estimate was used). Segments in `mass_segments`
    (customers an approach may not profile) always get the mass estimate.
    """
    acts = history["hist_action"].cat.codes.to_numpy()
    booked = history["hist_value"].to_numpy(dtype=float)
    cost = np.array([ACTION_COST[a] for a in ACTIONS])
    n_act = len(ACTIONS)
    cell = labels.astype(np.int64) * n_act + acts
    counts = np.bincount(cell, minlength=n_segments * n_act).reshape(n_segments, n_act)
    sums = np.bincount(cell, weights=booked, minlength=n_segments * n_act).reshape(n_segments, n_act)
    mass_counts = np.bincount(acts, minlength=n_act)
    mass_sums = np.bincount(acts, weights=booked, minlength=n_act)
    mass = np.divide(mass_sums, mass_counts, out=np.zeros(n_act), where=mass_counts > 0) - cost
    with np.errstate(invalid="ignore", divide="ignore"):
        est = sums / counts - cost
    n_min = counts.min(axis=1)
    fallback = n_min < min_obs
    fallback[list(mass_segments)] = True
    est[fallback] = mass
    out = pd.DataFrame(est, columns=list(ACTIONS))
    out.index.name = "segment"
    out["n_min"] = n_min
    out["fallback"] = fallback
    return out


def contact_eligible(customers: pd.DataFrame, policy: Policy) -> np.ndarray:
    """Customers the policy may contact at all: marketing consent, and not an older customer at the
    contact cap (contacts in 90 days >= `older_contact_cap`). Fairness of offers is measured among them."""
    consent = customers["marketing_consent"].to_numpy(dtype=bool)
    at_cap = customers["older"].to_numpy(dtype=bool) & (
        customers["contacts_90d"].to_numpy() >= policy.older_contact_cap
    )
    return consent & ~at_cap


def assign_actions(
    values: np.ndarray,
    customers: pd.DataFrame,
    policy: Policy,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Choose one action per customer from estimated values (customers x actions).

    Returns a table aligned with `customers`: `action`, `offered` (contacted with any action but
    none), `est_lift` (estimated value of the chosen contact over no contact), `blocked`
    (why an otherwise wanted contact was not made: '', 'no_consent', 'older_cap', 'budget') and
    `eligible` (the policy may contact the customer: `contact_eligible`).
    """
    n = len(customers)
    contact_vals = values[:, 1:]
    best = contact_vals.argmax(axis=1) + 1
    lift = contact_vals.max(axis=1) - values[:, 0]
    wanted = lift > 0
    consent = customers["marketing_consent"].to_numpy(dtype=bool)
    at_cap = customers["older"].to_numpy(dtype=bool) & (
        customers["contacts_90d"].to_numpy() >= policy.older_contact_cap
    )
    may = contact_eligible(customers, policy)
    eligible = wanted & may
    budget_n = int(np.floor(policy.budget * n))
    tiebreak = rng.random(n)
    order = np.lexsort((tiebreak, -lift))  # largest lift first, random among equals
    order = order[eligible[order]]
    chosen = np.zeros(n, dtype=bool)
    chosen[order[:budget_n]] = True
    blocked = np.full(n, "", dtype=object)
    blocked[wanted & ~consent] = "no_consent"
    blocked[wanted & consent & at_cap] = "older_cap"
    blocked[eligible & ~chosen] = "budget"
    return _decision_table(chosen, best, lift, blocked, may, customers.index)


def _decision_table(
    chosen: np.ndarray, best: np.ndarray, lift: np.ndarray, blocked: np.ndarray, eligible: np.ndarray, index
) -> pd.DataFrame:
    """The policy's output, one row per customer: action (none unless chosen), offered, lift, why
    blocked, and whether the policy may contact the customer at all (eligible)."""
    return pd.DataFrame(
        {
            "action": pd.Categorical.from_codes(np.where(chosen, best, 0), categories=list(ACTIONS)),
            "offered": chosen,
            "est_lift": np.where(chosen, lift, 0.0),
            "blocked": blocked,
            "eligible": np.asarray(eligible, dtype=bool),
        },
        index=index,
    )
