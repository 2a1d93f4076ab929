"""What every segmenter shares: the feature tables, segment profiles and descriptions, the base class.

Every segmenter:
- stores its parameters in ``__init__`` unchanged and checks them in ``fit`` (scikit-learn's
  conventions; learned state ends in an underscore; ``random_state`` is threaded through);
- is fitted on the firm's data of the campaign customers (never the truth columns, except the
  oracle, which is the reference that sees the truth);
- assigns a segment to any customer (``predict``), 0..n_segments_-1;
- says what it releases (``release_``: centroids, rules or profiles; the privacy measurements
  attack exactly this), its formal privacy loss (``epsilon_``, inf when not differentially
  private), which customers it profiled with personal data (``profiled``), and a
  plain-language description of each segment (``descriptions_``).

Feature sets and their tables live in `kit.features`.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from ..features import FEATURE_SET_DOCS, feature_table, source_columns
from ..params import ParameterError, Spec
from ..vocabulary import CATEGORIES, CHANNELS

# Plain words for a feature being high / low, used in segment descriptions.
WORDS: dict[str, tuple[str, str]] = {
    "log_recency": ("bought long ago", "bought recently"),
    "log_frequency": ("buy often", "buy rarely"),
    "log_monetary": ("spend a lot", "spend little"),
    "log_tenure": ("long-standing customers", "new customers"),
    "engagement": ("engage with messages", "ignore messages"),
    "contacts_90d": ("contacted often lately", "rarely contacted lately"),
    **{f"aff_{c}": (f"favour {c}", f"seldom buy {c}") for c in CATEGORIES},
    **{f"channel_{c}": (f"prefer {c}", f"avoid {c}") for c in CHANNELS},
    "age": ("older", "younger"),
    "gender_female": ("mostly women", "mostly men"),
    "income_band": ("higher income", "lower income"),
}

# Above this many customers, the heavier approaches fit on a seeded random sample of this size and
# then assign every customer with what they learned (see each approach's docstring).
MAX_FIT_SAMPLES = 200_000


def segment_means(features: pd.DataFrame, labels: np.ndarray, n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment sizes and feature means (nan for empty segments), with bincount (fast at 1M rows)."""
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels, minlength=n_segments)[:n_segments]
    x = features.to_numpy(dtype=float)
    sums = np.zeros((n_segments, x.shape[1]))
    for j in range(x.shape[1]):
        sums[:, j] = np.bincount(labels, weights=x[:, j], minlength=n_segments)[:n_segments]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / sizes[:, None]
    return sizes, means


def describe_profile(
    means: np.ndarray,
    sizes: np.ndarray,
    overall: np.ndarray,
    scale: np.ndarray,
    names: list[str],
    top: int = 3,
    total: float | None = None,
) -> dict[int, str]:
    """One sentence per segment from its profile: its share of customers and the traits that set it apart.

    A trait sets a segment apart when its segment mean is far from the overall mean, in units of
    `scale` (the overall standard deviation, or a declared stand-in); the `top` largest
    differences of at least a quarter of a unit are put into words. Shares are of `total`
    (default: all the segments' customers).
    """
    total = sizes.sum() if total is None else total
    scale = np.where(scale > 0, scale, 1.0)
    out = {}
    for s in range(len(sizes)):
        if sizes[s] <= 0:
            out[s] = "Empty segment (no customers assigned)."
            continue
        z = (means[s] - overall) / scale
        order = [j for j in np.argsort(-np.abs(z), kind="stable") if np.isfinite(z[j]) and abs(z[j]) >= 0.25][:top]
        words = [WORDS.get(names[j], (f"high {names[j]}", f"low {names[j]}")) for j in order]
        traits = [w[0] if z[j] > 0 else w[1] for w, j in zip(words, order)]
        share = f"{100 * sizes[s] / total:.0f}% of customers"
        out[s] = f"{share}; " + (", ".join(traits) if traits else "close to the average customer") + "."
    return out


def describe_segments(features: pd.DataFrame, labels: np.ndarray, n_segments: int, top: int = 3) -> dict[int, str]:
    """One sentence per segment from its profile (see `describe_profile`), scale = overall std."""
    sizes, means = segment_means(features, labels, n_segments)
    x = features.to_numpy(dtype=float)
    return describe_profile(means, sizes, x.mean(axis=0), x.std(axis=0), list(features.columns), top)


def segment_profiles(features: pd.DataFrame, labels: np.ndarray, n_segments: int) -> pd.DataFrame:
    """Released profile per segment: size and mean of every feature (aggregates only)."""
    sizes, means = segment_means(features, labels, n_segments)
    prof = pd.DataFrame(means, columns=list(features.columns), index=pd.RangeIndex(n_segments, name="segment"))
    prof.insert(0, "size", sizes.astype(np.int64))
    return prof


def fit_sample(n: int, random_state, max_samples: int = MAX_FIT_SAMPLES) -> np.ndarray:
    """Row positions to fit on: all of them, or a seeded random sample of `max_samples` (sorted)."""
    if n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, max_samples, replace=False))


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's native thread pools (BLAS, OpenMP), found once: `threadpool_limits` searched the
    loaded libraries on every call, 0.15 s of a run's 2.1 s CPU over its ~40 fits and predictions."""
    return ThreadpoolController()


def one_thread():
    """Context in which native libraries use one thread (see `Segmenter.fit` for why)."""
    return _threadpools().limit(limits=1)


class Segmenter(BaseEstimator):
    """Base class: shared bookkeeping. Subclasses implement `_fit` and `_predict`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    releases: ClassVar[str] = "segment profiles (size and feature means)"
    param_specs: ClassVar[dict[str, Spec]] = {}
    uses_truth: ClassVar[bool] = False
    # True when the segments themselves are learned from the campaign's responses (not only from
    # features): off-policy evaluation then refits the segments in every cross-fitting fold.
    uses_responses: ClassVar[bool] = False
    feature_set: ClassVar[str] = "behaviour"
    # Which policy the targeting stage applies: "budget" (the shared policy) or "parity" (the shared
    # policy post-processed for offer-rate parity; the approach then has parity_target and protected).
    targeting: ClassVar[str] = "budget"
    # What the approach reads beyond its feature set, in words (listings and the README).
    reads_extra: ClassVar[str] = ""
    # Columns the approach reads beyond its features (e.g. the campaign log), for `columns_read_`.
    extra_columns: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def reads(cls) -> str:
        """Which of the firm's columns the approach reads, in words."""
        return FEATURE_SET_DOCS[cls.feature_set] + (f"; {cls.reads_extra}" if cls.reads_extra else "")

    def _check_params(self) -> None:
        for k, spec in self.param_specs.items():
            spec.check(f"{self.name}.{k}", getattr(self, k))
        rs = getattr(self, "random_state", None)
        if rs is not None and (isinstance(rs, bool) or not isinstance(rs, (int, np.integer)) or rs < 0):
            raise ParameterError(f"{self.name}.random_state", f"expected None or an integer >= 0, got {rs!r}")

    def features(self, customers: pd.DataFrame) -> pd.DataFrame:
        """The feature table this approach reads (same columns as its centroids and profiles)."""
        return feature_table(customers, self.feature_set)

    def fit(self, customers: pd.DataFrame, y=None) -> Segmenter:
        """Fit on the campaign customers' firm data; sets labels_, n_segments_, descriptions_, release_.

        Runs single-threaded (OpenMP and BLAS): a study runs one run per core, and on a busy machine
        scikit-learn's multi-threaded k-means was 30x slower than one thread (4.3 s against 0.13 s
        for 10,000 customers on 2 cores under load).
        """
        with one_thread():
            return self._fit_all(customers)

    def _fit_all(self, customers: pd.DataFrame) -> Segmenter:
        self._check_params()
        if len(customers) == 0:
            raise ValueError(f"{self.name}: cannot fit on zero customers")
        feats = self.features(customers)
        self.feature_names_ = list(feats.columns)
        self._fit(customers, feats)
        self.labels_ = np.asarray(self._predict(customers, feats)).astype(np.int32)
        self.n_segments_ = self._count_segments(self.labels_)
        self.descriptions_ = self._describe(feats, self.labels_)
        self.release_ = self._release(feats, self.labels_)
        return self

    def predict(self, customers: pd.DataFrame) -> np.ndarray:
        """Segment of each customer (0..n_segments_-1)."""
        with one_thread():
            return np.asarray(self._predict(customers, self.features(customers))).astype(np.int32)

    def profiled(self, customers: pd.DataFrame) -> np.ndarray:
        """Which customers this approach profiled with their personal data (all, by default)."""
        return np.ones(len(customers), dtype=bool)

    @property
    def columns_read_(self) -> tuple[str, ...]:
        """The customer table's columns the fitted approach reads: its features' source columns and
        its extra columns. Notices and purpose limitation are checked against this; a test fits every
        approach on tables where every other column is scrambled and finds the same segments."""
        return source_columns(self.feature_names_) + tuple(
            c for c in self.extra_columns if c not in source_columns(self.feature_names_)
        )

    @property
    def epsilon_(self) -> float:
        """Formal differential-privacy loss of what is released: inf unless the approach is DP."""
        return math.inf

    @property
    def mass_segments_(self) -> tuple[int, ...]:
        """Segments the policy must give the mass treatment (the one-segment estimate): none by default."""
        return ()

    def _count_segments(self, labels: np.ndarray) -> int:
        return int(labels.max()) + 1 if len(labels) else 1

    def _describe(self, feats: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
        return describe_segments(feats, labels, self.n_segments_)

    def _release(self, feats: pd.DataFrame, labels: np.ndarray) -> dict:
        return {"profiles": segment_profiles(feats, labels, self.n_segments_)}

    def customer_values(self, customers: pd.DataFrame) -> np.ndarray | None:
        """Per-customer value estimates that bypass segment estimates (the oracle only)."""
        return None


def check_enough(where: str, n_clusters: int, n: int) -> None:
    """A clustering into `n_clusters` needs at least that many customers."""
    if n < n_clusters:
        raise ParameterError(where, f"{n_clusters} clusters need at least as many customers, got {n}")


class KMeansCore:
    """k-means on standardised features (scikit-learn's KMeans, k-means++), as several approaches use it.

    Fits on all customers up to `MAX_FIT_SAMPLES`, else on a seeded sample of that size; the
    scaler and centres then assign everyone.
    """

    def __init__(self, n_clusters: int, n_init: int, random_state):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, x: np.ndarray) -> KMeansCore:
        rows = fit_sample(len(x), self.random_state)
        self.scaler_ = StandardScaler().fit(x[rows])
        self.kmeans_ = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.random_state).fit(
            self.scaler_.transform(x[rows])
        )
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.kmeans_.predict(self.scaler_.transform(x))

    def centroids(self) -> np.ndarray:
        """Cluster centres in the features' natural units."""
        return self.scaler_.inverse_transform(self.kmeans_.cluster_centers_)
