"""dp_kmeans: the exact budget ledger, the declared geometry (kmeans's, with clipping), the noise it
draws against the sensitivity, Lloyd at epsilon = inf, reproducibility, and inf from a study file."""

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from kit.features import FEATURE_SETS, FEATURE_SPREADS, SHARE_GROUPS, feature_table
from kit.population import make_population
from kit.records import load_metrics
from kit.run.params import validate_run
from kit.run.pipeline import run_experiment
from kit.segmenters import budget_ledger, dp_lloyd, make_segmenter
from kit.segmenters.dp import LAST_STEP_WEIGHT, SEED_FEATURES, Geometry
from kit.study.spec import load_study
from tests.conftest import ROOT, run_cli

# Every feature set and clip a geometry can have, plus arbitrary ratios.
RATIOS = sorted(
    {Geometry.declared(names, clip).sum_to_count for names in FEATURE_SETS.values() for clip in (0.5, 1.0, 3.0, 10.0)}
    | {0.01, 1.0, 1 / 3, 1.51, 100.0}
)


@pytest.mark.parametrize("ratio", RATIOS)
def test_ledger_sums_exactly_to_epsilon(ratio):
    for eps in (1.0, 0.1, 0.3, 2.5, 7.0, 1 / 3, 100.0):
        for n_iter in (1, 3, 7, 20):
            for hist_share in (0.2, 0.35, 0.9):
                ledger = budget_ledger(eps, n_iter, hist_share, ratio)
                spent = [e for _, _, e in ledger]
                assert sum(spent) == eps  # left-to-right float sum
                assert math.fsum(spent) == eps
                assert sum(Fraction(e) for e in spent) == Fraction(eps)  # exactly, as rationals
                assert all(e > 0 for e in spent)
                assert len(ledger) == 1 + 2 * n_iter


def test_ledger_splits_counts_and_sums_as_declared_and_weights_the_last_step():
    r = 7.5
    ledger = budget_ledger(1.0, 4, 0.2, r)
    assert ledger[0][:2] == (0, "seed histogram counts") and abs(ledger[0][2] - 0.2) < 1e-15
    unit = 0.8 / (3 + LAST_STEP_WEIGHT)
    for t in range(1, 5):
        (tc, wc, ec), (ts, ws, es) = ledger[2 * t - 1], ledger[2 * t]
        share = unit * (LAST_STEP_WEIGHT if t == 4 else 1.0)
        assert (tc, wc, ts, ws) == (t, "cluster counts", t, "cluster sums")
        assert abs(ec - share / (1 + r)) < 1e-12 and abs(es - share * r / (1 + r)) < 1e-12
    assert all(e == math.inf for _, _, e in budget_ledger(math.inf, 3, 0.2, 5.0))


def test_count_sum_split_minimises_the_first_order_error_of_a_centre():
    """eps_sum / eps_count = cbrt(d S^2 / M) minimises d S^2 / eps_sum^2 + M / eps_count^2 on a fixed budget."""
    geo = Geometry.declared(FEATURE_SETS["aware"], 3.0)
    d, s2, m = len(geo.names), geo.sensitivity**2, float((geo.offset**2 + 1).sum())
    shares = np.linspace(0.01, 0.99, 9801)  # eps_sum's share of one step
    err = d * s2 / shares**2 + m / (1 - shares) ** 2
    best = shares[err.argmin()]
    assert best / (1 - best) == pytest.approx(geo.sum_to_count, rel=2e-3)
    assert 7 < geo.sum_to_count < 9


def _extreme_rows(geo: Geometry, rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows in natural units far outside the clipping ranges: every feature at a random extreme."""
    lo, hi = geo.lo - 10 * geo.spread, geo.hi + 10 * geo.spread
    return np.where(rng.random((n, len(geo.names))) < 0.5, lo, hi)


@pytest.mark.parametrize("feature_set", list(FEATURE_SETS))
@pytest.mark.parametrize("clip", [1.0, 3.0, 6.0])
def test_clipping_keeps_every_point_inside_the_space_and_the_sensitivity_bounds_one_customer(feature_set, clip):
    names = FEATURE_SETS[feature_set]
    geo = Geometry.declared(names, clip)
    rng = np.random.default_rng(0)
    pop = make_population(3000, random_state=1)
    rows = np.vstack([feature_table(pop.customers, feature_set).to_numpy(float), _extreme_rows(geo, rng, 3000)])
    z = geo.transform(rows)
    assert (z >= geo.z_lo - 1e-12).all() and (z <= geo.z_hi + 1e-12).all()
    grouped = [j for g in geo.groups for j in g]
    single = [j for j in range(len(names)) if j not in grouped]
    assert (np.abs(z[:, single]) <= clip + 1e-12).all()  # at most `clip` spreads from the declared centre
    x = geo.natural(z)
    for g in geo.groups:
        assert (x[:, g].sum(axis=1) <= 1 + 1e-12).all() and (x[:, g] >= 0).all()
    l1 = np.abs(z - geo.offset).sum(axis=1)
    assert l1.max() <= geo.sensitivity + 1e-9
    # ... and the bound is tight: every single feature at its farther end, each share group all in
    # its feature of the smallest spread.
    far = np.where(np.abs(geo.z_hi - geo.offset) >= np.abs(geo.z_lo - geo.offset), geo.hi, geo.lo)
    for g in geo.groups:
        far[list(g)] = 0.0
        far[g[int(np.argmin(geo.spread[list(g)]))]] = 1.0
    assert np.abs(geo.transform(far[None, :]) - geo.offset).sum() == pytest.approx(geo.sensitivity, rel=1e-12)


def test_declared_geometry_weighs_features_as_kmeans_does():
    """Every feature's variance in the declared space is near 1, as in kmeans's standardised space
    (the old [-1, 1] scaling gave the women indicator 1.00 and log spend 0.05: a ratio of 20)."""
    for strength in (0.0, 0.5, 1.0):
        pop = make_population(10_000, proxy_strength=strength, random_state=3)
        seg = make_segmenter("dp_kmeans")
        var = pd.Series(seg.transform(pop.history).var(axis=0), index=FEATURE_SETS["aware"])
        assert var.between(0.4, 2.5).all() and var.max() / var.min() < 4, var.round(2).to_dict()


def test_declarations_cover_every_feature_and_seed_on_continuous_behaviour_only():
    assert set(FEATURE_SPREADS) == {f for names in FEATURE_SETS.values() for f in names}
    binary = {f for g in SHARE_GROUPS.values() for f in g if f.startswith("channel_")} | {"gender_female"}
    for feature_set, seeds in SEED_FEATURES.items():
        assert set(seeds) <= set(FEATURE_SETS[feature_set]) - binary - {"age", "income_band"}


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


@pytest.mark.parametrize("feature_set", list(FEATURE_SETS))
def test_noise_drawn_is_what_the_ledger_and_the_sensitivity_say(feature_set):
    """Every noise draw's scale is sensitivity / the ledger's epsilon: histogram and counts 1, sums the
    geometry's L1 bound on one customer."""
    pop = make_population(3000, random_state=2)
    seg = make_segmenter("dp_kmeans", feature_set=feature_set)
    z = seg.transform(pop.history)
    names = list(FEATURE_SETS[feature_set])
    geo = Geometry.declared(names, 3.0)
    seeds = [names.index(f) for f in SEED_FEATURES[feature_set]]
    rng = RecordingRng(0)
    with threadpool_limits(1):
        res = dp_lloyd(z, 3, 0.7, 3, 0.25, rng, geo, seeds)
    ledger = res.ledger
    assert sum(e for _, _, e in ledger) == 0.7
    assert rng.draws[0] == (1.0 / ledger[0][2], 2 ** len(seeds))  # 2 cells per seed feature
    for t in range(1, 4):
        (sc, nc), (ss, ns) = rng.draws[2 * t - 1], rng.draws[2 * t]
        assert sc == 1.0 / ledger[2 * t - 1][2] and nc == 3
        assert ss == geo.sensitivity / ledger[2 * t][2] and ns == (3, len(names))
    assert len(rng.draws) == 7


def test_epsilon_inf_is_lloyd_in_the_declared_space_from_the_same_start():
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
    assert np.allclose(seg.centroids(), seg.geometry_.natural(km.cluster_centers_))
    # ... and with few iterations, where Lloyd has not converged yet, too.
    seg3 = make_segmenter("dp_kmeans", random_state=1, epsilon=math.inf, n_iter=2).fit(pop.history)
    with threadpool_limits(1):
        km3 = KMeans(6, init=seg3.init_centres_, n_init=1, max_iter=2, algorithm="lloyd", tol=0.0).fit(x)
    assert (km3.labels_ == seg3.labels_).all()


def test_start_is_the_same_with_and_without_noise_at_a_huge_budget():
    """The seeding k-means's seed is drawn before any noise: epsilon 100 starts where inf starts
    unless the (tiny) histogram noise reorders the cells' weights."""
    pop = make_population(6_000, random_state=4)
    a = make_segmenter("dp_kmeans", random_state=7, epsilon=math.inf).fit(pop.history)
    b = make_segmenter("dp_kmeans", random_state=7, epsilon=100.0).fit(pop.history)
    assert np.abs(a.init_centres_ - b.init_centres_).max() < 0.05


def test_fitted_ledger_epsilon_noisy_release_and_reproducibility():
    pop = make_population(6_000, random_state=2)
    seg = make_segmenter("dp_kmeans", random_state=3, epsilon=0.5).fit(pop.history)
    assert seg.epsilon_ == 0.5
    assert sum(e for _, _, e in seg.ledger_) == 0.5
    assert seg.release_["ledger"]["epsilon"].sum() == 0.5
    sizes = seg.release_["profiles"]["size"].to_numpy()
    exact = np.bincount(seg.labels_, minlength=seg.n_segments_)
    assert (sizes == seg.noisy_counts_).all() and (sizes != exact).any()  # released sizes are the noisy ones
    cent = seg.release_["centroids"]
    geo = seg.geometry_
    for j, f in enumerate(cent.columns):  # centres lie inside the clipped ranges
        assert cent[f].between(geo.lo[j] - 1e-9, geo.hi[j] + 1e-9).all()
    again = make_segmenter("dp_kmeans", random_state=3, epsilon=0.5).fit(pop.history)
    assert np.array_equal(again.centres_, seg.centres_) and again.ledger_ == seg.ledger_
    assert again.descriptions_ == seg.descriptions_
    pd.testing.assert_frame_equal(again.release_["profiles"], seg.release_["profiles"])
    other = make_segmenter("dp_kmeans", random_state=4, epsilon=0.5).fit(pop.history)
    assert not np.array_equal(other.centres_, seg.centres_)  # noise flows from random_state


def test_segments_are_not_split_by_gender():
    """The old geometry gave the women indicator the largest variance and every segment was all women
    or all men. In kmeans's geometry gender is one feature of 17, so without noise every segment holds
    both, as kmeans's do. (With noise, a noisy step can still land on a gender split: at epsilon 1
    in this world two of the six segments are 8% and 97% women.)"""
    pop = make_population(20_000, proxy_strength=0.5, random_state=0)
    women = (pop.history["gender"] == "female").to_numpy()
    for name, params in (("dp_kmeans", {"epsilon": math.inf}), ("kmeans", {})):
        seg = make_segmenter(name, random_state=0, **params).fit(pop.history)
        share = np.array([women[seg.labels_ == s].mean() for s in np.unique(seg.labels_)])
        assert ((share > 0.1) & (share < 0.9)).all(), (name, share)


STUDY = """
name: dp_inf
description: dp_kmeans without noise, from a study file
base: {n_customers: 3000}
grid:
  approach:
    - {dp_kmeans: {epsilon: [EPS]}}
seeds: [1]
"""


def test_inf_and_dot_inf_in_a_study_file_are_the_same_setting(tmp_path):
    runs = []
    for eps in ("inf", ".inf", "Infinity"):
        path = tmp_path / "dp_inf.yaml"
        path.write_text(STUDY.replace("EPS", eps))
        runs.append(load_study(path, project_root=ROOT).runs)
    assert [r.run_id for r in runs[0]] == [r.run_id for r in runs[1]] == [r.run_id for r in runs[2]]
    assert runs[0][0].params["approach_params"]["epsilon"] == math.inf
    assert runs[0][0].label == "dp_kmeans(epsilon=inf)"


@pytest.mark.slow
def test_epsilon_inf_from_a_study_file_through_papermill(tmp_path):
    """`inf` in YAML means no noise; papermill passes it to the notebook as float('inf')."""
    path = tmp_path / "dp_inf.yaml"
    path.write_text(STUDY.replace("EPS", "inf"))
    out = tmp_path / "out"
    assert run_cli(["run", str(path), "--out", str(out), "--jobs", "1"]) == 0
    results = pd.read_csv(out / "results.csv")
    assert results["epsilon"].tolist() == [math.inf]
    metrics = load_metrics(next(out.glob("runs/*/metrics.json")))["metrics"]
    ref = run_experiment(
        validate_run({"approach": "dp_kmeans", "approach_params": {"epsilon": "inf"}, "seed": 1, "n_customers": 3000})
    )
    assert metrics["gain_share"] == ref.metrics["gain_share"]
    assert metrics["epsilon"] == math.inf


def test_columns_hidden_by_purpose_are_left_out_of_the_mechanism():
    """Under purpose limitation the income band (collected for credit checks) is hidden from marketing:
    dp_kmeans leaves it out of its features, so it spends no sensitivity on it (1.41 of the aware set's 28.9 at
    clip 3) and releases no noisy 'income' centre to describe segments by."""
    from kit.features import masked_columns, purpose_view
    from kit.population import make_population
    from kit.segmenters import make_segmenter

    customers = make_population(3000, random_state=4).customers
    hidden = masked_columns("marketing", True)
    assert "income_band" in hidden
    plain = make_segmenter("dp_kmeans", epsilon=0.5, random_state=1).fit(customers)
    seg = make_segmenter("dp_kmeans", epsilon=0.5, random_state=1).fit(purpose_view(customers, hidden))
    assert "income_band" in plain.feature_names_ and "income_band" not in seg.feature_names_
    assert seg.feature_names_ == [f for f in plain.feature_names_ if f != "income_band"]
    assert "income_band" not in seg.release_["profiles"].columns and "income_band" not in seg.columns_read_
    # The income band's share of the L1 sensitivity: bands 0..4 around 2 with spread sqrt(2), so one
    # customer is at most 2 / sqrt(2) from the centre in the declared space.
    assert plain.geometry_.sensitivity - seg.geometry_.sensitivity == pytest.approx(math.sqrt(2.0))
    assert not any("income" in d for d in seg.descriptions_.values())
    # Predicting on a view of other customers reads the same features.
    assert len(seg.predict(purpose_view(customers.iloc[:50], hidden))) == 50
