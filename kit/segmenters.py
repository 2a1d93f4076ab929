"""Segmentation approaches, in scikit-learn's estimator conventions, behind one registry.

Every segmenter:
- stores its parameters in ``__init__`` unchanged and checks them in ``fit``;
- is fitted on the firm's data of the campaign customers (never the truth columns, except the
  oracle, which is the reference that sees the truth);
- assigns a segment to any customer (``predict``), 0..n_segments_-1;
- says what it releases (``release_``: centroids, rules or profiles; the privacy measurements
  attack exactly this), its formal privacy loss (``epsilon_``, inf when not differentially
  private), which customers it profiled with personal data (``profiled``), and a
  plain-language description of each segment (``descriptions_``).
"""

from __future__ import annotations

import inspect
import math
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from .params import ParameterError, Spec
from .population import ACTIONS, BEHAVIOUR, CATEGORIES, CHANNELS, true_net_values

# Numeric features the segmenters see, derived from the behaviour columns.
FEATURES: tuple[str, ...] = (
    "log_recency",
    "log_frequency",
    "log_monetary",
    "log_tenure",
    *(f"aff_{c}" for c in CATEGORIES),
    "engagement",
    "contacts_90d",
    *(f"channel_{c}" for c in CHANNELS),
)

# Plain words for a feature being high / low, used in segment descriptions.
_WORDS = {
    "log_recency": ("bought long ago", "bought recently"),
    "log_frequency": ("buy often", "buy rarely"),
    "log_monetary": ("spend a lot", "spend little"),
    "log_tenure": ("long-standing customers", "new customers"),
    "engagement": ("engage with messages", "ignore messages"),
    "contacts_90d": ("contacted often lately", "rarely contacted lately"),
    **{f"aff_{c}": (f"favour {c}", f"seldom buy {c}") for c in CATEGORIES},
    **{f"channel_{c}": (f"prefer {c}", f"avoid {c}") for c in CHANNELS},
}


def behaviour_features(customers: pd.DataFrame) -> pd.DataFrame:
    """The numeric feature table every segmenter works on (logs of skewed counts, channel one-hot)."""
    missing = [c for c in BEHAVIOUR if c not in customers.columns]
    if missing:
        raise KeyError(f"behaviour columns missing: {', '.join(missing)}")
    out = pd.DataFrame(index=customers.index)
    out["log_recency"] = np.log1p(customers["recency_days"].to_numpy(dtype=float))
    out["log_frequency"] = np.log1p(customers["frequency"].to_numpy(dtype=float))
    out["log_monetary"] = np.log1p(customers["monetary"].to_numpy(dtype=float))
    out["log_tenure"] = np.log1p(customers["tenure_months"].to_numpy(dtype=float))
    for c in CATEGORIES:
        out[f"aff_{c}"] = customers[f"aff_{c}"].to_numpy(dtype=float)
    out["engagement"] = customers["engagement"].to_numpy(dtype=float)
    out["contacts_90d"] = customers["contacts_90d"].to_numpy(dtype=float)
    ch = customers["channel"].astype(str).to_numpy()
    for c in CHANNELS:
        out[f"channel_{c}"] = (ch == c).astype(float)
    return out


def describe_segments(features: pd.DataFrame, labels: np.ndarray, n_segments: int, top: int = 3) -> dict[int, str]:
    """One sentence per segment from its profile: its size and the features that set it apart.

    A feature sets a segment apart when its segment mean is far from the overall mean, in
    overall standard deviations; the `top` largest differences are put into words.
    """
    mu = features.mean()
    sd = features.std(ddof=0).replace(0.0, 1.0)
    out = {}
    n = len(labels)
    for s in range(n_segments):
        mask = labels == s
        size = int(mask.sum())
        if size == 0:
            out[s] = "Empty segment (no customers assigned)."
            continue
        z = ((features[mask].mean() - mu) / sd).dropna()
        z = z[z.abs() >= 0.25].sort_values(key=np.abs, ascending=False).head(top)
        traits = [(_WORDS[f][0] if v > 0 else _WORDS[f][1]) for f, v in z.items()]
        share = f"{100 * size / n:.0f}% of customers"
        out[s] = f"{share}; " + (", ".join(traits) if traits else "close to the average customer") + "."
    return out


def segment_profiles(features: pd.DataFrame, labels: np.ndarray, n_segments: int) -> pd.DataFrame:
    """Released profile per segment: size and mean of every feature (aggregates only)."""
    df = features.copy()
    df["segment"] = labels
    prof = df.groupby("segment").mean().reindex(range(n_segments))
    prof.insert(0, "size", df.groupby("segment").size().reindex(range(n_segments), fill_value=0))
    return prof


class Segmenter(BaseEstimator):
    """Base class: shared bookkeeping. Subclasses implement `_fit` and `_predict`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    param_specs: ClassVar[dict[str, Spec]] = {}
    uses_truth: ClassVar[bool] = False

    def _check_params(self) -> None:
        for k, spec in self.param_specs.items():
            spec.check(f"{self.name}.{k}", getattr(self, k))

    def fit(self, customers: pd.DataFrame, y=None) -> "Segmenter":
        """Fit on the campaign customers' firm data; sets labels_, release_, descriptions_."""
        self._check_params()
        feats = behaviour_features(customers)
        self._fit(customers, feats)
        self.labels_ = self.predict(customers)
        self.n_segments_ = int(self.labels_.max()) + 1 if len(self.labels_) else 1
        self.descriptions_ = self._describe(feats, self.labels_)
        self.release_ = self._release(feats, self.labels_)
        return self

    def predict(self, customers: pd.DataFrame) -> np.ndarray:
        """Segment of each customer."""
        return self._predict(customers, behaviour_features(customers)).astype(np.int32)

    def profiled(self, customers: pd.DataFrame) -> np.ndarray:
        """Which customers this approach profiled with their personal data (all, by default)."""
        return np.ones(len(customers), dtype=bool)

    @property
    def epsilon_(self) -> float:
        """Formal differential-privacy loss of what is released: inf unless the approach is DP."""
        return math.inf

    def _describe(self, feats: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
        return describe_segments(feats, labels, self.n_segments_)

    def _release(self, feats: pd.DataFrame, labels: np.ndarray) -> dict:
        return {"profiles": segment_profiles(feats, labels, self.n_segments_)}

    def customer_values(self, customers: pd.DataFrame) -> np.ndarray | None:
        """Per-customer value estimates that bypass segment estimates (the oracle only)."""
        return None


class MassSegmenter(Segmenter):
    """No personalisation: one segment, no personal data used. The lower reference point."""

    name = "mass"
    summary = "no personalisation: everyone in one segment, no personal data used"

    def _fit(self, customers, feats):
        return self

    def _predict(self, customers, feats):
        return np.zeros(len(customers), dtype=np.int32)

    def profiled(self, customers):
        return np.zeros(len(customers), dtype=bool)

    def _describe(self, feats, labels):
        return {0: "Everyone: one offer for all customers, chosen without personal data."}

    def _release(self, feats, labels):
        return {"profiles": pd.DataFrame({"size": [len(labels)]})}


class KMeansSegmenter(Segmenter):
    """k-means on standardised behaviour features (protected attributes are never features)."""

    name = "kmeans"
    summary = "k-means clustering of standardised behaviour features"
    param_specs = {
        "n_clusters": Spec(int, 6, "number of segments", low=1, high=50),
        "n_init": Spec(int, 4, "k-means restarts; the best is kept", low=1, high=50),
    }

    def __init__(self, n_clusters: int = 6, n_init: int = 4, random_state: int | None = None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state

    def _fit(self, customers, feats):
        if len(feats) < self.n_clusters:
            raise ParameterError(
                "kmeans.n_clusters", f"{self.n_clusters} clusters need at least as many customers, got {len(feats)}"
            )
        self.scaler_ = StandardScaler().fit(feats.to_numpy())
        self.kmeans_ = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.random_state).fit(
            self.scaler_.transform(feats.to_numpy())
        )
        return self

    def _predict(self, customers, feats):
        return self.kmeans_.predict(self.scaler_.transform(feats.to_numpy()))

    def _release(self, feats, labels):
        centres = self.scaler_.inverse_transform(self.kmeans_.cluster_centers_)
        return {
            "centroids": pd.DataFrame(centres, columns=list(FEATURES)),
            "profiles": segment_profiles(feats, labels, self.n_segments_),
        }


class OracleSegmenter(Segmenter):
    """The upper reference: each customer's truly best action, read from the generator's truth.

    Segments are the true best actions; the policy uses each customer's true values directly.
    Not an approach a firm could run: it marks the most gain (and the most exposure) possible.
    """

    name = "oracle"
    summary = "reference: each customer's truly best action (reads the truth; not feasible in practice)"
    uses_truth = True

    def _fit(self, customers, feats):
        return self

    def _predict(self, customers, feats):
        return true_net_values(customers).argmax(axis=1)

    def fit(self, customers: pd.DataFrame, y=None) -> "OracleSegmenter":
        super().fit(customers)
        # Segments are named by action, whether or not every action is someone's best.
        self.n_segments_ = len(ACTIONS)
        self.descriptions_ = {
            j: f"Customers whose truly best action is '{a}'." for j, a in enumerate(ACTIONS)
        }
        self.release_ = {"profiles": segment_profiles(behaviour_features(customers), self.labels_, self.n_segments_)}
        return self

    def customer_values(self, customers):
        return true_net_values(customers)


REGISTRY: dict[str, type[Segmenter]] = {
    cls.name: cls for cls in (MassSegmenter, KMeansSegmenter, OracleSegmenter)
}


def approach_specs(approach: str) -> dict[str, Spec]:
    """The parameters an approach accepts (name -> Spec)."""
    return dict(REGISTRY[approach].param_specs)


def make_segmenter(approach: str, random_state: int | None = None, **params) -> Segmenter:
    """Build a segmenter by registry name; unknown names and parameters are named in the error."""
    if approach not in REGISTRY:
        raise ParameterError("approach", f"unknown approach {approach!r}; expected one of {', '.join(REGISTRY)}")
    cls = REGISTRY[approach]
    specs = cls.param_specs
    for k, v in params.items():
        if k not in specs:
            allowed = ", ".join(specs) if specs else "none"
            raise ParameterError(f"approach_params.{k}", f"unknown parameter of approach {approach!r}; allowed: {allowed}")
        specs[k].check(f"approach_params.{k}", v)
    if "random_state" in inspect.signature(cls).parameters:
        params["random_state"] = random_state
    return cls(**params)
