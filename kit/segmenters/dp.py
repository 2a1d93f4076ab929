"""Differentially private k-means (DPLloyd with a noisy-histogram start) and its exact budget ledger."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from ..features import FEATURE_BOUNDS, FEATURE_SET_DOCS, FEATURE_SETS
from ..params import ParameterError, Spec
from .base import Segmenter, check_enough, describe_profile
from .clustering import N_CLUSTERS

# --- Differentially private k-means (DPLloyd) -------------------------------------------------

# Su, Cao, Li, Bertino, Jin (2016), "Differentially Private k-Means Clustering", CODASPY: splitting
# an iteration's budget between noisy counts and noisy sums as 1 : cbrt(4 d rho^2), rho ~ 0.225,
# minimises the centres' expected error.
SU_RHO = 0.225
# Keep the previous centre where a noisy count is too small for the noisy mean to be trusted: below
# TRUST * (standard deviation of one coordinate's sum noise), a coordinate of the mean would move by
# more than 1 / TRUST of the half-range on noise alone.
TRUST = 4.0

# The features the seeding histogram's grid spans, per feature set: declared by the analyst (not
# read from data). A grid over all 17 features would have millions of cells, each drowned in noise.
SEED_FEATURES: dict[str, tuple[str, ...]] = {
    "aware": ("channel_email", "channel_web", "channel_store", "gender_female", "age", "log_recency", "log_frequency"),
    "unaware": ("channel_email", "channel_web", "channel_store", "income_band", "log_recency", "log_frequency"),
    "behaviour": ("channel_email", "channel_web", "channel_store", "log_recency", "log_frequency", "engagement"),
    "minimal": FEATURE_SETS["minimal"],
}
BINARY_FEATURES = frozenset(f for f in FEATURE_BOUNDS if f.startswith("channel_") or f == "gender_female")


def budget_ledger(epsilon: float, n_iter: int, hist_share: float, n_features: int) -> list[tuple[int, str, float]]:
    """Where the privacy budget goes: (iteration, what, epsilon) entries that sum exactly to `epsilon`.

    Iteration 0 is the seeding histogram (`hist_share` of the budget); iterations 1..n_iter share
    the rest equally, each split between noisy cluster counts and noisy cluster sums as
    1 : cbrt(4 d rho^2) (Su et al. 2016). Every entry but the last is rounded down to a multiple
    of ulp(epsilon) and the last is the remainder, so all partial sums are exact in floating point:
    ``sum(e for _, _, e in ledger) == epsilon`` holds exactly (and with math.fsum).
    With epsilon = inf (no privacy) every entry is inf.
    """
    r = np.cbrt(4.0 * n_features * SU_RHO**2)
    per_iter = (1.0 - hist_share) / n_iter
    plan = [(0, "seed histogram counts", hist_share)]
    for t in range(1, n_iter + 1):
        plan += [(t, "cluster counts", per_iter / (1.0 + r)), (t, "cluster sums", per_iter * r / (1.0 + r))]
    if math.isinf(epsilon):
        return [(t, what, math.inf) for t, what, _ in plan]
    u = math.ulp(epsilon)
    out = [(t, what, math.floor(share * epsilon / u) * u) for t, what, share in plan[:-1]]
    spent = 0.0
    for _, _, e in out:
        spent += e
    t, what, _ = plan[-1]
    out.append((t, what, epsilon - spent))
    return out


@dataclass
class DPLloydResult:
    """What DPLloyd computed: the final and initial centres (scaled space), the ledger, the last noisy counts."""

    centres: np.ndarray
    init_centres: np.ndarray
    ledger: list[tuple[int, str, float]]
    noisy_counts: np.ndarray


def nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (squared Euclidean distance) of each row."""
    d = (centres**2).sum(axis=1)[None, :] - 2.0 * (x @ centres.T)
    return d.argmin(axis=1)


def _grid_cells(n_clusters: int, binary: list[bool]) -> list[int]:
    """Cells per seed dimension: 2 for binary features, 3 (or more, if needed for k cells) otherwise."""
    cells = [2 if b else 3 for b in binary]
    while math.prod(cells) < n_clusters:
        if all(binary):
            raise ParameterError(
                "dp_kmeans.n_clusters",
                f"{n_clusters} clusters need more seed grid cells than the {math.prod(cells)} the binary seed features give",
            )
        cells = [c if b else c + 1 for c, b in zip(cells, binary)]
    return cells


def seed_histogram(
    x: np.ndarray, n_clusters: int, epsilon: float, rng: np.random.Generator, seed_dims: list[int], binary: list[bool]
) -> np.ndarray:
    """Initial centres from a noisy histogram over a coarse grid of the seed dimensions.

    The cell counts get Laplace(1/epsilon) noise (count sensitivity 1: one customer is in one
    cell). Everything after is post-processing of the noisy counts, so free: a weighted k-means of
    the cells' midpoints (weights = noisy counts floored at 0) gives the centres; dimensions outside
    the grid start at the middle of their bounds, and the first Lloyd step moves them.
    """
    cells = _grid_cells(n_clusters, binary)
    idx = [np.clip(((x[:, j] + 1.0) / 2.0 * c).astype(np.int64), 0, c - 1) for j, c in zip(seed_dims, cells)]
    n_cells = math.prod(cells)
    counts = np.bincount(np.ravel_multi_index(idx, cells), minlength=n_cells).astype(float)
    if math.isfinite(epsilon):
        counts += rng.laplace(0.0, 1.0 / epsilon, n_cells)
    grid = np.stack(np.unravel_index(np.arange(n_cells), cells), axis=1)
    mids = (grid + 0.5) / np.asarray(cells) * 2.0 - 1.0
    weights = np.maximum(counts, 0.0) + 1e-9  # every cell may be chosen; empty-looking ones barely count
    km = KMeans(n_clusters, n_init=4, random_state=int(rng.integers(2**31 - 1))).fit(mids, sample_weight=weights)
    centres = np.zeros((n_clusters, x.shape[1]))
    centres[:, seed_dims] = km.cluster_centers_
    return centres


def dp_lloyd(
    x: np.ndarray,
    n_clusters: int,
    epsilon: float,
    n_iter: int,
    hist_share: float,
    rng: np.random.Generator,
    seed_dims: list[int] | None = None,
    binary: list[bool] | None = None,
    init: np.ndarray | None = None,
) -> DPLloydResult:
    """DPLloyd (Su et al. 2016) on points already clipped and scaled into [-1, 1]^d.

    Neighbouring datasets differ by one customer added or removed. Each iteration assigns points
    to the nearest centre, then releases noisy cluster counts (Laplace, sensitivity 1) and noisy
    cluster sums (Laplace, sensitivity = the L1 bound of a point, sum_j max(|lo_j|, |hi_j|) = d in
    [-1, 1]^d); the new centre is noisy sum / noisy count, clipped into the bounds, or the previous
    centre where the noisy count is too small to trust. Budget per `budget_ledger`. With
    epsilon = inf nothing is noised and this is Lloyd's algorithm from the same start.
    `init` replaces the histogram seeding (its budget share is then still counted, unused).
    """
    n, d = x.shape
    ledger = budget_ledger(epsilon, n_iter, hist_share, d)
    if seed_dims is None:
        seed_dims = list(range(min(d, 6)))
    if binary is None:
        binary = [False] * len(seed_dims)
    if init is None:
        centres = seed_histogram(x, n_clusters, ledger[0][2], rng, seed_dims, binary)
    else:
        centres = np.array(init, dtype=float)
    init_centres = centres.copy()
    sensitivity = float(d)  # sum over features of max(|-1|, |1|)
    noisy = math.isfinite(epsilon)
    counts = np.zeros(n_clusters)
    for t in range(1, n_iter + 1):
        eps_count, eps_sum = ledger[2 * t - 1][2], ledger[2 * t][2]
        labels = nearest(x, centres)
        counts = np.bincount(labels, minlength=n_clusters).astype(float)
        sums = np.stack([np.bincount(labels, weights=x[:, j], minlength=n_clusters) for j in range(d)], axis=1)
        if noisy:
            counts = counts + rng.laplace(0.0, 1.0 / eps_count, n_clusters)
            sums = sums + rng.laplace(0.0, sensitivity / eps_sum, (n_clusters, d))
            trusted = counts >= max(1.0, TRUST * math.sqrt(2.0) * sensitivity / eps_sum)
        else:
            trusted = counts > 0
        centres = centres.copy()
        centres[trusted] = np.clip(sums[trusted] / counts[trusted, None], -1.0, 1.0)
    return DPLloydResult(centres, init_centres, ledger, counts)


class DPKMeansSegmenter(Segmenter):
    """Differentially private k-means after Su et al. (2016), "DPLloyd", with histogram seeding.

    Features are clipped into declared bounds (`FEATURE_BOUNDS`, domain knowledge, never read from
    the data) and scaled into [-1, 1]. A share `hist_share` of epsilon buys a noisy histogram over
    a coarse grid of declared seed features (`SEED_FEATURES`) that seeds the centres; `n_iter`
    DPLloyd iterations spend the rest, each split between noisy counts and noisy sums
    (`budget_ledger`: an exact account, `ledger_`). What is released -- the centres and the last
    noisy counts, and descriptions computed from them alone -- is epsilon-DP for one customer
    added or removed; the policy's value estimates from the campaign are not part of that claim.
    Noise is drawn from a generator seeded by `random_state`, so runs reproduce.

    This simulates the mechanism for research. It is not a hardened release mechanism: floating-
    point Laplace sampling is open to known attacks (Mironov 2012) and nothing here protects
    against timing or other side channels.
    """

    name = "dp_kmeans"

    @classmethod
    def reads(cls) -> str:
        return f"{FEATURE_SET_DOCS[cls.feature_set]} (parameter feature_set), clipped into declared bounds"

    summary = "differentially private k-means (DPLloyd, Su et al. 2016) with an explicit epsilon"
    releases = "noisy centroids and noisy segment sizes (epsilon-DP); descriptions computed from them"
    feature_set = "aware"
    param_specs = {
        "n_clusters": N_CLUSTERS,
        "epsilon": Spec(
            float,
            1.0,
            "privacy budget of the whole release (inf: no noise)",
            low=0.0,
            high=100.0,
            low_open=True,
            allow_inf=True,
        ),
        "n_iter": Spec(int, 3, "DPLloyd iterations (each splits the budget further)", low=1, high=20),
        "hist_share": Spec(
            float, 0.2, "share of epsilon spent on the seeding histogram", low=0.0, high=0.9, low_open=True
        ),
        "feature_set": Spec(str, "aware", "features clustered", choices=tuple(FEATURE_SETS)),
    }

    def __init__(
        self,
        n_clusters: int = 6,
        epsilon: float = 1.0,
        n_iter: int = 3,
        hist_share: float = 0.2,
        feature_set: str = "aware",
        random_state: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.epsilon = epsilon
        self.n_iter = n_iter
        self.hist_share = hist_share
        self.feature_set = feature_set
        self.random_state = random_state

    def _bounds(self, names) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([FEATURE_BOUNDS[f][0] for f in names])
        hi = np.array([FEATURE_BOUNDS[f][1] for f in names])
        return lo, hi

    def scale(self, feats: pd.DataFrame) -> np.ndarray:
        """Clip into the declared bounds and map each feature linearly onto [-1, 1]."""
        lo, hi = self._bounds(feats.columns)
        return 2.0 * (np.clip(feats.to_numpy(dtype=float), lo, hi) - lo) / (hi - lo) - 1.0

    def transform(self, customers: pd.DataFrame) -> np.ndarray:
        """The clipped, scaled points the mechanism clusters."""
        return self.scale(self.features(customers))

    def _fit(self, customers, feats):
        check_enough(f"{self.name}.n_clusters", self.n_clusters, len(feats))
        names = list(feats.columns)
        seeds = [f for f in SEED_FEATURES[self.feature_set] if f in names]
        res = dp_lloyd(
            self.scale(feats),
            self.n_clusters,
            float(self.epsilon),
            self.n_iter,
            float(self.hist_share),
            np.random.default_rng(self.random_state),
            seed_dims=[names.index(f) for f in seeds],
            binary=[f in BINARY_FEATURES for f in seeds],
        )
        self.centres_ = res.centres
        self.init_centres_ = res.init_centres
        self.ledger_ = res.ledger
        self.noisy_counts_ = np.maximum(np.round(res.noisy_counts), 0).astype(np.int64)
        return self

    @property
    def epsilon_(self) -> float:
        return float(self.epsilon)

    def _predict(self, customers, feats):
        return nearest(self.scale(feats), self.centres_)

    def _count_segments(self, labels):
        return self.n_clusters

    def centroids(self) -> np.ndarray:
        """The released centres in the features' natural units."""
        lo, hi = self._bounds(self.feature_names_)
        return (self.centres_ + 1.0) / 2.0 * (hi - lo) + lo

    def _describe(self, feats, labels):
        # From the release alone (post-processing): centres against their size-weighted mean, in
        # units of a quarter of each feature's declared range.
        c = self.centroids()
        w = self.noisy_counts_.astype(float)
        overall = (w[:, None] * c).sum(axis=0) / w.sum() if w.sum() > 0 else c.mean(axis=0)
        lo, hi = self._bounds(self.feature_names_)
        return describe_profile(c, np.maximum(w, 1.0), overall, (hi - lo) / 4.0, self.feature_names_)

    def _release(self, feats, labels):
        cols = list(feats.columns)
        cent = pd.DataFrame(self.centroids(), columns=cols)
        prof = cent.copy()
        prof.insert(0, "size", self.noisy_counts_)
        prof.index.name = "segment"
        return {
            "centroids": cent,
            "profiles": prof,
            "ledger": pd.DataFrame(self.ledger_, columns=["iteration", "what", "epsilon"]),
        }
