"""Fairness-aware approaches: balanced segments (fair_kmeans) and parity-constrained targeting (fair_targeting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from ..features import group_mask, group_mask_from_features
from ..measures.fairness import segment_balance
from ..params import Spec
from .base import Segmenter, check_enough, describe_segments, fit_sample, segment_profiles
from .clustering import N_CLUSTERS, N_INIT, KMeansSegmenter

PROTECTED = Spec(
    str,
    "older",
    "protected attribute whose groups are balanced: older (65+ vs younger) or gender (women vs men)",
    choices=("older", "gender"),
)
GROUP_NAMES = {"older": ("aged 65+", "under 65"), "gender": ("women", "men")}
# Fair k-means fits on at most this many customers (its constrained assignment is the slow part).
FAIR_MAX_FIT_SAMPLES = 50_000


def squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row to every centre (n x k)."""
    d = (x**2).sum(axis=1)[:, None] - 2.0 * (x @ centres.T) + (centres**2).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def balanced_quotas(sizes: np.ndarray, inside: np.ndarray, n_inside: int, beta: float) -> np.ndarray:
    """In-group count per cluster: cluster sizes kept, each cluster's balance >= beta, in-group total = n_inside.

    Each cluster's in-group share is moved by the same amount delta (found by bisection) and
    clipped into the interval that balance >= beta allows, then rounded to integers inside each
    cluster's feasible integer range with the total kept. If no integer solution exists (tiny
    clusters, or beta at the population's own balance) the nearest one is returned.
    """
    sizes = sizes.astype(np.int64)
    lo = np.ceil(beta * sizes / (1.0 + beta) - 1e-9).astype(np.int64)
    hi = np.floor(sizes / (1.0 + beta) + 1e-9).astype(np.int64)
    # Exact check of the balance condition at the integer bounds (float rounding at the edges).
    for _ in range(2):
        lo = np.where((lo < sizes) & ~_balanced(lo, sizes, beta), lo + 1, lo)
        hi = np.where((hi > 0) & ~_balanced(hi, sizes, beta), hi - 1, hi)
    hi = np.maximum(hi, lo)
    share = np.divide(inside, sizes, out=np.zeros(len(sizes)), where=sizes > 0)

    def total(delta: float) -> float:
        return float(np.clip(sizes * (share + delta), lo, hi).sum())

    a, b = -1.0, 1.0
    for _ in range(60):
        mid = (a + b) / 2
        a, b = (mid, b) if total(mid) < n_inside else (a, mid)
    target = np.clip(sizes * (share + b), lo, hi)
    q = np.floor(target).astype(np.int64)
    q = np.clip(q, lo, hi)
    frac = target - q
    while q.sum() < n_inside and (q < hi).any():
        j = int(np.argmax(np.where(q < hi, frac, -np.inf)))
        q[j] += 1
        frac[j] = -1.0
    while q.sum() > n_inside and (q > lo).any():
        j = int(np.argmin(np.where(q > lo, frac, np.inf)))
        q[j] -= 1
        frac[j] = 2.0
    return q


def _balanced(inside: np.ndarray, sizes: np.ndarray, beta: float) -> np.ndarray:
    out = sizes - inside
    lo, hi = np.minimum(inside, out), np.maximum(inside, out)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sizes == 0) | ((hi > 0) & (lo / np.where(hi > 0, hi, 1) >= beta))


def _top2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smallest and second smallest value of each row, and their columns."""
    idx = np.argpartition(a, 1, axis=1)[:, :2]
    val = np.take_along_axis(a, idx, axis=1)
    swap = val[:, 1] < val[:, 0]
    idx[swap] = idx[swap][:, ::-1]
    val[swap] = val[swap][:, ::-1]
    return val[:, 0].copy(), val[:, 1].copy(), idx[:, 0].copy(), idx[:, 1].copy()


def quota_prices(
    dist: np.ndarray, quotas: np.ndarray, prices: np.ndarray | None = None, max_sweeps: int = 300
) -> np.ndarray:
    """Per-cluster prices so that assigning each row to argmin(dist + prices) fills every cluster's quota.

    The dual of the transport problem "send each row to one cluster, cluster c takes quotas[c]
    rows, minimise total distance": coordinate ascent sets one price at a time so that exactly
    quotas[c] rows prefer cluster c given the others, until the counts match (warm-started from
    `prices`). Each row's best and second-best cluster are cached and refreshed only where a price
    change can alter them, so a sweep over all k prices costs O(n k), not O(n k^2). The prices
    are what `predict` applies to new customers of the same group.
    """
    n, k = dist.shape
    lam = np.zeros(k) if prices is None else prices.astype(float).copy()
    if k == 1 or n == 0:
        return lam
    a = dist + lam
    b1, b2, i1, i2 = _top2(a)
    for _ in range(max_sweeps):
        for c in range(k):
            margin = np.where(i1 == c, b2, b1) - dist[:, c]  # row prefers c iff lam[c] < margin
            q = int(quotas[c])
            if q <= 0:
                new = margin.max() + 1.0
            elif q >= n:
                new = margin.min() - 1.0
            else:
                top = -np.partition(-margin, [q - 1, q])[[q - 1, q]]
                new = (top[0] + top[1]) / 2.0
            delta = new - lam[c]
            if delta == 0.0:
                continue
            lam[c] = new
            a[:, c] += delta
            stale = (i1 == c) | (i2 == c)
            if delta < 0:
                stale |= a[:, c] < b2
            rows = np.flatnonzero(stale)
            if len(rows):
                b1[rows], b2[rows], i1[rows], i2[rows] = _top2(a[rows])
        if (np.bincount(i1, minlength=k) == quotas).all():
            break
    return lam - lam.mean()


class FairKMeansSegmenter(Segmenter):
    """k-means with balanced segments: every segment's balance (Chierichetti et al. 2017) with respect to
    a protected attribute is at least `balance_target` x the population's own balance.

    Balance-constrained Lloyd iterations on the same features as `kmeans`: start from k-means++
    centres; each iteration keeps the clusters' sizes from the nearest-centre assignment, fixes
    each cluster's in-group count inside the range the balance target allows (`balanced_quotas`),
    assigns each group's customers to fill those quotas at least total distance (per-group cluster
    prices, `quota_prices`), then moves the centres to the means. `predict` applies the learned
    per-group prices, so new customers are assigned the same way: it reads the protected
    attribute (to balance, as the constraint requires). Fits on at most 50,000 customers (a
    seeded sample above that).
    """

    name = "fair_kmeans"
    reads_extra = "the protected attribute, to balance segments"
    extra_columns = ("older", "gender")  # the protected attribute (either) whose groups it balances
    summary = "k-means with every segment balanced on a protected attribute (balance-constrained assignment)"
    releases = "centroids (natural units) and segment profiles"
    feature_set = "aware"
    param_specs = {
        "n_clusters": N_CLUSTERS,
        "balance_target": Spec(
            float,
            0.9,
            "required balance of every segment, as a share of the population's",
            low=0.0,
            high=1.0,
            low_open=True,
        ),
        "protected": PROTECTED,
        "n_init": N_INIT,
        "max_iter": Spec(int, 10, "constrained Lloyd iterations at most", low=1, high=100),
    }

    def __init__(
        self,
        n_clusters: int = 6,
        balance_target: float = 0.9,
        protected: str = "older",
        n_init: int = 4,
        max_iter: int = 10,
        random_state: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.balance_target = balance_target
        self.protected = protected
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit(self, customers, feats):
        check_enough(f"{self.name}.n_clusters", self.n_clusters, len(feats))
        rows = fit_sample(len(feats), self.random_state, FAIR_MAX_FIT_SAMPLES)
        x_raw = feats.to_numpy()[rows]
        g = group_mask(customers, self.protected)[rows]
        self.scaler_ = StandardScaler().fit(x_raw)
        x = self.scaler_.transform(x_raw)
        k = self.n_clusters
        centres = KMeans(k, n_init=self.n_init, random_state=self.random_state).fit(x).cluster_centers_
        n_in = int(g.sum())
        self.population_balance_ = segment_balance(np.zeros(len(g)), g)
        beta = float(self.balance_target) * self.population_balance_
        prices = {True: np.zeros(k), False: np.zeros(k)}
        labels = None
        for it in range(self.max_iter + 1):
            # Assign at the current centres (prices only roughly solved while the centres still
            # move); the last pass solves them fully, and is exactly what predict reproduces.
            final = it == self.max_iter
            new = self._assign(x, g, centres, n_in, beta, prices, sweeps=500 if final else 20)
            if final:
                break
            if labels is not None and (labels == new).all():
                new = self._assign(x, g, centres, n_in, beta, prices, sweeps=500)
                break
            labels = new
            for c in range(k):
                if (new == c).any():
                    centres[c] = x[new == c].mean(axis=0)
        self.centres_ = centres
        self.prices_ = {grp: p.copy() for grp, p in prices.items()}
        return self

    @staticmethod
    def _assign(
        x: np.ndarray, g: np.ndarray, centres: np.ndarray, n_in: int, beta: float, prices: dict, sweeps: int
    ) -> np.ndarray:
        """One balance-constrained assignment at fixed centres; updates `prices` in place (warm start)."""
        k = len(centres)
        dist = squared_distances(x, centres)
        nearest = dist.argmin(axis=1)
        sizes = np.bincount(nearest, minlength=k)
        quotas = balanced_quotas(sizes, np.bincount(nearest, weights=g.astype(float), minlength=k), n_in, beta)
        out = np.empty(len(x), dtype=np.int64)
        for grp, q in ((True, quotas), (False, sizes - quotas)):
            m = g == grp
            prices[grp] = quota_prices(dist[m], q, prices[grp], max_sweeps=sweeps)
            out[m] = (dist[m] + prices[grp]).argmin(axis=1)
        return out

    def _predict(self, customers, feats):
        x = self.scaler_.transform(feats.to_numpy())
        g = group_mask(customers, self.protected)
        dist = squared_distances(x, self.centres_)
        return np.where(g, (dist + self.prices_[True]).argmin(axis=1), (dist + self.prices_[False]).argmin(axis=1))

    def _count_segments(self, labels):
        return self.n_clusters

    def _describe(self, feats, labels):
        d = describe_segments(feats, labels, self.n_segments_)
        g = group_mask_from_features(feats, self.protected)
        sizes = np.bincount(labels, minlength=self.n_segments_)
        inside = np.bincount(labels, weights=g.astype(float), minlength=self.n_segments_)
        name = GROUP_NAMES[self.protected][0]
        return {
            s: f"{text[:-1]}; {100 * inside[s] / sizes[s]:.0f}% {name}." if sizes[s] else text for s, text in d.items()
        }

    def _release(self, feats, labels):
        return {
            "centroids": pd.DataFrame(self.scaler_.inverse_transform(self.centres_), columns=list(feats.columns)),
            "profiles": segment_profiles(feats, labels, self.n_segments_),
        }


class FairTargetingSegmenter(KMeansSegmenter):
    """k-means segments as `kmeans`; the policy is post-processed for offer-rate parity between groups.

    The segments are unchanged: this approach is `kmeans` plus the parity policy. The targeting
    stage (`kit.targeting.decide`) sees ``targeting = "parity"`` and re-chooses who is contacted so
    that the lower of the two groups' offer rates is at least `parity_target` x the higher, within
    the same contact budget, at the least loss of estimated lift (`kit.targeting.parity_decisions`).
    """

    name = "fair_targeting"
    reads_extra = "the protected attribute, to equalise offer rates"
    targeting = "parity"
    summary = "k-means segments; targeting post-processed so offer rates across groups meet a parity target"
    param_specs = {
        "n_clusters": N_CLUSTERS,
        "n_init": N_INIT,
        "parity_target": Spec(
            float, 0.8, "lower group offer rate / higher, at least", low=0.0, high=1.0, low_open=True
        ),
        "protected": PROTECTED,
    }

    def __init__(
        self,
        n_clusters: int = 6,
        n_init: int = 4,
        parity_target: float = 0.8,
        protected: str = "older",
        random_state: int | None = None,
    ):
        super().__init__(n_clusters=n_clusters, n_init=n_init, random_state=random_state)
        self.parity_target = parity_target
        self.protected = protected
