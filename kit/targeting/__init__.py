"""Targeting: segments -> one action per customer, by the shared budget policy (`policy`) or the
same policy post-processed for offer-rate parity (`parity`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..features import group_mask, purpose_view
from ..segmenters import Segmenter, audience_file
from ..vocabulary import QUASI_IDENTIFIERS
from .parity import parity_counts, parity_decisions, parity_ratio
from .policy import POLICY_COLUMNS, Policy, assign_actions, cap_harm, estimate_segment_values, vulnerable


def decide(
    seg: Segmenter, values: np.ndarray, customers: pd.DataFrame, policy: Policy, rng: np.random.Generator
) -> pd.DataFrame:
    """The decisions for `customers` given each one's estimated values per action: the budget policy,
    then, for an approach whose ``targeting`` is "parity", the parity post-processing. A finite
    ``policy.harm_cap`` first removes the actions it forbids (`cap_harm`); customers who wanted a
    contact that only the cap forbade are marked blocked 'harm_cap'."""
    capped = cap_harm(values, customers, policy.harm_cap)
    decisions = assign_actions(capped, customers, policy, rng)
    if seg.targeting == "parity":
        decisions = parity_decisions(
            values,
            customers,
            policy,
            group_mask(customers, seg.protected),
            float(seg.parity_target),
            rng,
            before=decisions,
        )
    if capped is not values:
        uncapped_wanted = values[:, 1:].max(axis=1) > values[:, 0]
        capped_wanted = capped[:, 1:].max(axis=1) > capped[:, 0]
        by_cap = uncapped_wanted & ~capped_wanted & (decisions["blocked"].to_numpy() == "")
        decisions.loc[by_cap, "blocked"] = "harm_cap"
    return decisions


def target_customers(
    seg: Segmenter,
    history: pd.DataFrame,
    customers: pd.DataFrame,
    policy: Policy,
    rng: np.random.Generator,
    masked: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimate segment values on the campaign customers `history` (the ones `seg` was fitted on),
    then decide for `customers`: (segment values, decisions with each customer's `segment` and the
    audience file's quasi-identifiers as released, `released_<qi>`; `kit.segmenters.audience_file`).
    The approach reads `customers` with the `masked` columns hidden (`kit.features.purpose_view`)."""
    seg_values = estimate_segment_values(history, seg.labels_, seg.n_segments_, policy.min_obs, seg.mass_segments_)
    view = purpose_view(customers, masked)
    released_qis, labels = audience_file(seg, view, seg.predict(view))
    values = seg_values[list(seg_values.columns[:4])].to_numpy()[labels]
    direct = seg.customer_values(customers)  # the oracle's true values, except for mass-treated customers
    if direct is not None:
        own = ~np.isin(labels, seg.mass_segments_)
        values[own] = direct[own]
    decisions = decide(seg, values, customers, policy, rng)
    decisions.insert(0, "segment", labels)
    for qi in QUASI_IDENTIFIERS:  # the audience file: quasi-identifiers as released, with the segment
        decisions[f"released_{qi}"] = released_qis[qi].to_numpy()
    return seg_values, decisions


__all__ = [
    "POLICY_COLUMNS",
    "Policy",
    "assign_actions",
    "cap_harm",
    "decide",
    "estimate_segment_values",
    "parity_counts",
    "parity_decisions",
    "parity_ratio",
    "target_customers",
    "vulnerable",
]
