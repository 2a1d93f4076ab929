"""Erasure requests (GDPR art. 17): some campaign customers ask to be forgotten after the segments
were first fitted, and the firm either refits without them or keeps what it released.

- `erasure_rate`: the share of campaign customers (the only customers the approaches are fitted on)
  who ask; which ones is a seeded draw from the run's seed, the same for every approach of a world.
- `erasure`: ``refit`` deletes their rows (profile and campaign responses) and refits the approach
  on the rest with the same random_state (exact retraining, the "unlearning" that leaves nothing
  behind); ``none`` keeps the first fit and its release, erased customers still in it.

What a deletion leaves behind is measured by the canary membership audit
(`kit.measures.audit.canary_audit`) run through `after_erasure`: in the audit's "in" world the
canary was fitted and then asked to be forgotten, in the "out" world it was never there; the bound
`erasure_residual_eps_lb` says how much the final release still reveals about an erased customer.
The canary stands in for the erased customer the attacker cares most about (the auditor's
worst case), so the bound holds for every erased customer, not on average.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..measures.audit import CANARY_VALUES
from ..population import Population

ERASURE_MODES: tuple[str, ...] = ("refit", "none")
_ERASURE_KEY = 112


def erased_rows(rate: float, in_campaign: np.ndarray, seed: int) -> np.ndarray:
    """Boolean mask over all customers: the campaign customers who ask to be forgotten, a seeded
    sample of round(rate x campaign customers) of them (none when `rate` is 0). The draw depends
    only on the seed and the campaign, so every approach of a world loses the same customers."""
    mask = np.zeros(len(in_campaign), dtype=bool)
    campaign = np.flatnonzero(in_campaign)
    n = int(round(rate * len(campaign)))
    if n:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_ERASURE_KEY,)))
        mask[np.sort(rng.choice(campaign, n, replace=False))] = True
    return mask


def firm_population(population: Population, erased: np.ndarray, mode: str) -> Population:
    """The population as the firm holds it after the requests: without the erased customers'
    rows under ``refit`` (their profile and their campaign responses are deleted), unchanged
    under ``none``. Held-out customers are never erased (they are not in the campaign)."""
    if mode == "none" or not erased.any():
        return population
    return Population(customers=population.customers[~erased], knobs=population.knobs)


def after_erasure(fit_release: Callable[[pd.DataFrame, int], dict], mode: str) -> Callable[[pd.DataFrame, int], dict]:
    """`fit_release` as the audit sees it once the canary has asked to be forgotten: under ``refit``
    the release is refitted without the canary's row (the earlier release is withdrawn), under
    ``none`` the release that counted it stays. Run through `canary_audit`, it measures what the
    final release reveals about an erased customer."""
    if mode == "none":
        return fit_release

    def refit_release(customers: pd.DataFrame, random_state: int) -> dict:
        keep = (customers["customer_id"] != CANARY_VALUES["customer_id"]).to_numpy()
        return fit_release(customers[keep], random_state)

    return refit_release
