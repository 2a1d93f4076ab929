"""Off-policy estimators: exact cases, unbiasedness and interval coverage on simulated logs."""

import math

import numpy as np
import pytest

from kit.measures.ope import fold_ids, ope_metrics, ope_point, ope_terms


def _log(rng, n, n_actions=4):
    """A simulated uniform randomised log with known true action values per customer."""
    x = rng.random(n)
    true_q = np.column_stack([x * (a + 1) - 0.5 * a for a in range(n_actions)])  # expected net reward
    logged = rng.integers(0, n_actions, n)
    reward = true_q[np.arange(n), logged] + rng.normal(0, 1.0, n)
    return x, true_q, logged, reward


def test_matching_policy_with_propensity_one_gives_the_mean_reward():
    r = np.array([1.0, 2.0, 3.0, -1.0])
    a = np.array([0, 1, 2, 3])
    pt = ope_point(ope_terms(a, r, 1.0, a))
    assert pt == {"ips": 1.25, "snips": 1.25, "dr": 1.25}


def test_ips_counts_only_matches_and_snips_normalises():
    r = np.array([4.0, 2.0, 6.0, 8.0])
    logged = np.array([0, 1, 1, 0])
    target = np.array([0, 0, 1, 1])  # matches rows 0 and 2
    pt = ope_point(ope_terms(logged, r, 0.5, target))
    assert pt["ips"] == pytest.approx((4 / 0.5 + 6 / 0.5) / 4)
    assert pt["snips"] == pytest.approx(5.0)


def test_dr_with_the_true_model_is_the_model_value_plus_noise_only():
    rng = np.random.default_rng(0)
    x, q, logged, reward = _log(rng, 4000)
    target = (x > 0.5).astype(int) * 3
    truth = q[np.arange(len(x)), target].mean()
    t = ope_terms(logged, reward, 0.25, target, q)
    # with the exact model the correction term only carries the reward noise
    resid = t["dr"] - q[np.arange(len(x)), target]
    assert abs(resid.mean()) < 4 * resid.std() / math.sqrt(len(x))
    assert ope_point(t)["dr"] == pytest.approx(truth, abs=0.15)
    assert np.var(t["dr"]) < np.var(t["wr"])  # the model buys variance


def test_dr_without_a_model_is_ips():
    rng = np.random.default_rng(1)
    x, q, logged, reward = _log(rng, 500)
    t = ope_terms(logged, reward, 0.25, np.zeros(500, int))
    assert np.array_equal(t["dr"], t["wr"])


def test_propensity_outside_0_1_is_refused():
    with pytest.raises(ValueError, match=r"propensity: expected values in \(0, 1\]"):
        ope_terms(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.5, 0.0]), np.array([0, 1]))


def test_intervals_cover_the_true_value_on_simulated_logs():
    """Over 60 simulated logs, the 95% intervals of IPS and DR (with a deliberately wrong model)
    cover the true value at least 85% of the time, and IPS's mean error is within 3 standard errors."""
    rng = np.random.default_rng(2)
    hits = {"ips": 0, "dr": 0}
    errors = []
    sims = 60
    for _ in range(sims):
        x, q, logged, reward = _log(rng, 2000)
        target = np.where(x > 0.6, 3, np.where(x > 0.3, 1, 0))
        truth = q[np.arange(len(x)), target].mean()
        wrong_model = q * 0.5 + 0.3  # biased outcome model: DR must still be unbiased (propensities right)
        m = ope_metrics({"policy": ope_terms(logged, reward, 0.25, target, wrong_model)}, rng, n_boot=200)
        hits["ips"] += m["value_policy_ips_lo"] <= truth <= m["value_policy_ips_hi"]
        hits["dr"] += m["value_policy_ope_lo"] <= truth <= m["value_policy_ope_hi"]
        errors.append(m["value_policy_ips"] - truth)
    assert hits["ips"] / sims >= 0.85 and hits["dr"] / sims >= 0.85, hits
    assert abs(np.mean(errors)) < 3 * np.std(errors) / math.sqrt(sims)


def test_gain_of_a_policy_against_itself_is_exactly_zero_and_paired():
    rng = np.random.default_rng(3)
    x, q, logged, reward = _log(rng, 1000)
    t = ope_terms(logged, reward, 0.25, np.zeros(1000, int), q)
    m = ope_metrics({"policy": t, "mass": t, "oracle": t}, np.random.default_rng(4), n_boot=50)
    assert m["gain_ope"] == 0 and m["gain_ope_lo"] == 0 and m["gain_ope_hi"] == 0
    assert math.isnan(m["gain_share_ope"])  # the oracle's estimated gain is not positive
    for key in ("value_policy_ope", "value_policy_ips", "value_policy_snips", "value_mass_ope"):
        assert m[f"{key}_lo"] <= m[key] <= m[f"{key}_hi"]


def test_same_seed_same_metrics():
    rng = np.random.default_rng(5)
    x, q, logged, reward = _log(rng, 800)
    t = {
        "policy": ope_terms(logged, reward, 0.25, (x > 0.5).astype(int), q),
        "mass": ope_terms(logged, reward, 0.25, np.ones(800, int), q),
    }
    a = ope_metrics(t, np.random.default_rng(9), n_boot=40)
    b = ope_metrics(t, np.random.default_rng(9), n_boot=40)
    assert a == b and "gain_ope_hi" in a and "gain_share_ope" not in a


def test_fold_ids_are_balanced_and_seeded():
    f = fold_ids(103, 5, np.random.default_rng(0))
    assert sorted(np.bincount(f)) == [20, 20, 21, 21, 21]
    assert np.array_equal(f, fold_ids(103, 5, np.random.default_rng(0)))
    assert not np.array_equal(f, fold_ids(103, 5, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="n_folds"):
        fold_ids(10, 1, np.random.default_rng(0))
