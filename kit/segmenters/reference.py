"""The two reference points: no personalisation (mass) and the truth's best action (oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..population import true_net_values
from ..vocabulary import ACTIONS
from .base import Segmenter, segment_profiles


class MassSegmenter(Segmenter):
    """No personalisation: one segment, no personal data used. The lower reference point."""

    name = "mass"

    @classmethod
    def reads(cls) -> str:
        return "no personal data"

    summary = "no personalisation: everyone in one segment, no personal data used"
    releases = "the number of customers"

    def features(self, customers: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(index=customers.index)

    def _fit(self, customers, feats):
        return self

    def _predict(self, customers, feats):
        return np.zeros(len(customers), dtype=np.int32)

    def profiled(self, customers):
        return np.zeros(len(customers), dtype=bool)

    def _count_segments(self, labels):
        return 1

    def _describe(self, feats, labels):
        return {0: "Everyone: one offer for all customers, chosen without personal data."}

    def _release(self, feats, labels):
        return {"profiles": pd.DataFrame({"size": [len(labels)]}, index=pd.RangeIndex(1, name="segment"))}


class OracleSegmenter(Segmenter):
    """The upper reference: each customer's truly best action, read from the generator's truth.

    Segments are the true best actions; the policy uses each customer's true values directly.
    Not an approach a firm could run: it marks the most gain (and the most exposure) possible.
    """

    name = "oracle"

    @classmethod
    def reads(cls) -> str:
        return "the generator's truth (reference only)"

    summary = "reference: each customer's truly best action (reads the truth; not feasible in practice)"
    releases = "segment profiles of behaviour (size and feature means)"
    uses_truth = True
    feature_set = "behaviour"
    extra_columns = tuple(f"{k}_{a}" for k in ("p", "v") for a in ACTIONS)

    def _fit(self, customers, feats):
        return self

    def _predict(self, customers, feats):
        return true_net_values(customers).argmax(axis=1)

    def _count_segments(self, labels):
        # Segments are named by action, whether or not every action is someone's best.
        return len(ACTIONS)

    def _describe(self, feats, labels):
        return {j: f"Customers whose truly best action is '{a}'." for j, a in enumerate(ACTIONS)}

    def _release(self, feats, labels):
        return {"profiles": segment_profiles(feats, labels, self.n_segments_)}

    def customer_values(self, customers):
        return true_net_values(customers)
