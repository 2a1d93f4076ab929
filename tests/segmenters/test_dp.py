"""dp_kmeans: the exact budget ledger, Lloyd at epsilon = inf, the noise it draws, and its utility bar."""

import math
from fractions import Fraction

import numpy as np
import pytest
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from kit.features import FEATURE_BOUNDS
from kit.population import make_population
from kit.segmenters import budget_ledger, dp_lloyd, make_segmenter


@pytest.mark.parametrize("d", range(1, 21))
def test_ledger_sums_exactly_to_epsilon_for_1_to_20_features(d):
    for eps in (1.0, 0.1, 0.3, 2.5, 7.0, 1 / 3, 100.0):
        for n_iter in (1, 3, 7, 20):
            for hist_share in (0.2, 0.35, 0.9):
                ledger = budget_ledger(eps, n_iter, hist_share, d)
                spent = [e for _, _, e in ledger]
                assert sum(spent) == eps  # left-to-right float sum
                assert math.fsum(spent) == eps
                assert sum(Fraction(e) for e in spent) == Fraction(eps)  # exactly, as rationals
                assert all(e > 0 for e in spent)
                assert len(ledger) == 1 + 2 * n_iter


def test_ledger_split_follows_su_et_al():
    ledger = budget_ledger(1.0, 4, 0.2, 10)
    assert ledger[0][:2] == (0, "seed histogram counts") and abs(ledger[0][2] - 0.2) < 1e-15
    r = np.cbrt(4 * 10 * 0.225**2)
    for t in range(1, 5):
        (tc, wc, ec), (ts, ws, es) = ledger[2 * t - 1], ledger[2 * t]
        assert (tc, wc, ts, ws) == (t, "cluster counts", t, "cluster sums")
        assert abs(ec - 0.2 / (1 + r)) < 1e-12 and abs(es - 0.2 * r / (1 + r)) < 1e-12
    assert all(e == math.inf for _, _, e in budget_ledger(math.inf, 3, 0.2, 5))


class RecordingRng:
    """A seeded generator that records the scale and size of every Laplace draw."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.draws = []

    def laplace(self, loc, scale, size):
        self.draws.append((scale, size))
        return self.rng.laplace(loc, scale, size)

    def integers(self, *a, **k):
        return self.rng.integers(*a, **k)


@pytest.mark.parametrize("d", [1, 4, 17, 20])
def test_noise_drawn_is_what_the_ledger_says(d):
    """Every noise draw's scale is sensitivity / the ledger's epsilon: counts 1, sums d (points in [-1, 1]^d)."""
    x = np.random.default_rng(d).uniform(-1, 1, (2000, d))
    rng = RecordingRng(0)
    with threadpool_limits(1):
        res = dp_lloyd(x, 3, 0.7, 3, 0.25, rng)
    ledger = res.ledger
    assert sum(e for _, _, e in ledger) == 0.7
    n_cells = rng.draws[0][1]
    assert rng.draws[0][0] == 1.0 / ledger[0][2]
    assert n_cells == 3 ** min(d, 6)  # default grid: 3 cells on each of the first (at most 6) dimensions
    for t in range(1, 4):
        (sc, nc), (ss, ns) = rng.draws[2 * t - 1], rng.draws[2 * t]
        assert sc == 1.0 / ledger[2 * t - 1][2] and nc == 3
        assert ss == d / ledger[2 * t][2] and ns == (3, d)
    assert len(rng.draws) == 7


def test_epsilon_inf_is_lloyd_from_the_same_start():
    """No noise: the same segments and centres as scikit-learn's k-means (Lloyd) from the same start."""
    pop = make_population(20_000, random_state=5)
    seg = make_segmenter("dp_kmeans", random_state=1, epsilon=math.inf, n_iter=20).fit(pop.history)
    x = seg.transform(pop.history)
    with threadpool_limits(1):
        km = KMeans(6, init=seg.init_centres_, n_init=1, max_iter=20, algorithm="lloyd", tol=0.0).fit(x)
    assert (km.labels_ == seg.labels_).all()
    assert np.allclose(km.cluster_centers_, seg.centres_, atol=1e-10)
    assert (km.predict(seg.transform(pop.holdout)) == seg.predict(pop.holdout)).all()
    assert seg.epsilon_ == math.inf
    # ... and with few iterations, where Lloyd has not converged yet, too.
    seg3 = make_segmenter("dp_kmeans", random_state=1, epsilon=math.inf, n_iter=2).fit(pop.history)
    with threadpool_limits(1):
        km3 = KMeans(6, init=seg3.init_centres_, n_init=1, max_iter=2, algorithm="lloyd", tol=0.0).fit(x)
    assert (km3.labels_ == seg3.labels_).all()


def test_fitted_ledger_epsilon_and_noisy_release():
    pop = make_population(6_000, random_state=2)
    seg = make_segmenter("dp_kmeans", random_state=3, epsilon=0.5).fit(pop.history)
    assert seg.epsilon_ == 0.5
    assert sum(e for _, _, e in seg.ledger_) == 0.5
    assert seg.release_["ledger"]["epsilon"].sum() == 0.5
    sizes = seg.release_["profiles"]["size"].to_numpy()
    exact = np.bincount(seg.labels_, minlength=seg.n_segments_)
    assert (sizes == seg.noisy_counts_).all() and (sizes != exact).any()  # released sizes are the noisy ones
    cent = seg.release_["centroids"]
    for f in cent.columns:  # centres lie inside the declared bounds
        lo, hi = FEATURE_BOUNDS[f]
        assert cent[f].between(lo - 1e-9, hi + 1e-9).all()
    other = make_segmenter("dp_kmeans", random_state=4, epsilon=0.5).fit(pop.history)
    assert not np.array_equal(other.centres_, seg.centres_)  # noise flows from random_state


def _normalised_variance_ratio(seed: int) -> float:
    pop = make_population(20_000, random_state=seed)
    seg = make_segmenter("dp_kmeans", random_state=seed, epsilon=1.0).fit(pop.history)
    x = seg.transform(pop.history)
    total = ((x - x.mean(axis=0)) ** 2).sum()
    dp = ((x - seg.centres_[seg.labels_]) ** 2).sum() / total
    with threadpool_limits(1):
        ref = KMeans(6, n_init=10, random_state=seed).fit(x).inertia_ / total
    return dp / ref


def test_utility_at_epsilon_1_within_1_3_of_non_private():
    """Median over 10 seeds of (normalised intra-cluster variance, DP) / (the same, scikit-learn k-means)."""
    ratios = [_normalised_variance_ratio(seed) for seed in range(10)]
    assert np.median(ratios) <= 1.3, ratios
