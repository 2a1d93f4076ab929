"""Targeting: segments -> one action per customer, by the shared budget policy (`policy`) or the
same policy post-processed for offer-rate parity (`parity`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..features import group_mask
from ..segmenters import Segmenter
from .parity import parity_counts, parity_decisions, parity_ratio
from .policy import POLICY_COLUMNS, Policy, assign_actions, estimate_segment_values


def decide(
    seg: Segmenter, values: np.ndarray, customers: pd.DataFrame, policy: Policy, rng: np.random.Generator
) -> pd.DataFrame:
    """The decisions for `customers` given each one's estimated values per action: the budget policy,
    then, for an approach whose ``targeting`` is "parity", the parity post-processing."""
    decisions = assign_actions(values, customers, policy, rng)
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
    return decisions


__all__ = [
    "POLICY_COLUMNS",
    "Policy",
    "assign_actions",
    "decide",
    "estimate_segment_values",
    "parity_counts",
    "parity_decisions",
    "parity_ratio",
]
