"""Membership audits: the canary audit is sound on a DP release and has power on exact ones; every
approach's release is attacked; the tracing attack finds members only where profiles carry them."""

import math

import numpy as np
import pandas as pd
import pytest

from kit.measures.audit import (
    CANARY_VALUES,
    attack_columns,
    audit_ceiling,
    canary_audit,
    make_canary,
    profile_totals,
    tracing_attack,
)
from kit.measures.privacy import epsilon_lower_bound
from kit.population import make_population
from kit.segmenters import REGISTRY, make_segmenter, segment_profiles


@pytest.fixture(scope="module")
def world():
    pop = make_population(3_000, random_state=11)
    fitted = pop.history[pop.history["profiling_consent"].to_numpy(bool)]
    return pop, fitted


def _audit(name, data, trials, seed=0, **params):
    def fit_release(customers, random_state):
        return make_segmenter(name, random_state=random_state, **params).fit(customers).release_

    return canary_audit(fit_release, data, make_canary(data), np.random.SeedSequence(seed), trials=trials)


def test_canary_is_one_row_with_the_template_columns_and_dtypes(world):
    _, fitted = world
    canary = make_canary(fitted)
    assert len(canary) == 1
    assert list(canary.columns) == list(fitted.columns)
    assert (canary.dtypes == fitted.dtypes).all()
    for col, value in CANARY_VALUES.items():
        assert canary[col].iloc[0] == value, col
    with pytest.raises(ValueError, match="no rows"):
        make_canary(fitted.iloc[:0])


def test_profile_totals_recover_count_and_feature_totals():
    feats = pd.DataFrame({"a": [1.0, 2.0, 3.0, 10.0], "b": [0.0, 1.0, 1.0, 5.0]})
    prof = segment_profiles(feats, np.array([0, 0, 2, 2]), 4)  # segments 1 and 3 empty (nan means)
    totals = profile_totals({"profiles": prof}, ["a", "b"])
    np.testing.assert_allclose(totals, [4.0, 16.0, 7.0])
    assert profile_totals({"profiles": prof}, []).tolist() == [4.0]


def test_ceiling_is_the_bound_of_a_perfect_distinguisher():
    assert audit_ceiling(20) == epsilon_lower_bound(0, 20, 0, 20)
    assert 1.59 < audit_ceiling(20) < 1.61
    assert audit_ceiling(16) > 1.0  # the default study's trials can show epsilon >= 1


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_approach_release_is_attacked(world, name):
    """Every registered approach's release yields attack features (mass releases only its size, which the
    canary's count attacks), and an exact release reveals the canary in every trial."""
    _, fitted = world
    seg = make_segmenter(name, random_state=0).fit(fitted)
    cols = attack_columns(seg.release_, seg.features(fitted.iloc[:1]).columns)
    if name == "mass":
        assert list(seg.release_["profiles"].columns) == ["size"]
    else:
        assert cols, f"{name}: its release yields no attack features"
    if math.isinf(seg.epsilon_):
        res = _audit(name, fitted, trials=3)
        assert (res["tp"], res["fp"]) == (3, 0), name
        assert res["mia_audit_eps_lb"] == pytest.approx(audit_ceiling(3))
        assert res["mia_audit_trials"] == 6


def test_audit_has_power_on_kmeans(world):
    _, fitted = world
    res = _audit("kmeans", fitted, trials=16)
    assert res["mia_audit_eps_lb"] == pytest.approx(audit_ceiling(16))
    assert res["mia_audit_eps_lb"] >= 1.0


def test_audit_on_noiseless_dp_kmeans_reaches_the_ceiling(world):
    _, fitted = world
    res = _audit("dp_kmeans", fitted, trials=8, epsilon=math.inf)
    assert res["mia_audit_eps_lb"] == pytest.approx(audit_ceiling(8))


def test_audit_draws_fresh_randomness_per_trial(world):
    """With the noise fixed the canary would show through the noise: the trials must not share a seed."""
    _, fitted = world
    seen = []

    def fit_release(customers, random_state):
        seen.append(random_state)
        return make_segmenter("mass").fit(customers).release_

    canary_audit(fit_release, fitted, make_canary(fitted), np.random.SeedSequence(5), trials=6)
    assert len(set(seen)) == 12


@pytest.mark.slow
@pytest.mark.parametrize("epsilon", [0.5, 1.0])
def test_audit_is_sound_on_dp_kmeans_over_50_seeds(world, epsilon):
    """An epsilon-DP release never shows more than epsilon: 50 audits (25 trials a side, so a perfect
    distinguisher would show 1.9) of dp_kmeans, each with its own noise."""
    fitted = make_population(1_500, random_state=3).history
    bounds = [_audit("dp_kmeans", fitted, trials=25, seed=s, epsilon=epsilon)["mia_audit_eps_lb"] for s in range(50)]
    assert max(bounds) <= epsilon


def test_tracing_finds_members_in_small_exact_profiles(world):
    """Profiles of tiny segments (10 customers each) carry their members; the attack sees it (0.10 here; about 0 on a null)."""
    pop, fitted = world
    seg = make_segmenter("kmeans", random_state=0, n_clusters=50).fit(fitted)
    cols = attack_columns(seg.release_, seg.features(fitted.iloc[:1]).columns)
    holdout = pop.holdout[pop.holdout["profiling_consent"].to_numpy(bool)]
    res = tracing_attack(seg.release_, cols, seg.features, seg.predict, fitted, holdout, np.random.default_rng(0))
    assert res["tracing_advantage"] > 0.05
    assert res["tracing_advantage"] == pytest.approx(res["tracing_advantage_raw"] - res["tracing_null"])


def test_tracing_is_null_when_profiles_come_from_other_customers(world):
    """A release computed on customers outside both candidate sets says nothing about membership."""
    pop, fitted = world
    other = make_population(3_000, random_state=12).history  # another world's customers
    holdout = pop.holdout
    seg = make_segmenter("kmeans", random_state=0, n_clusters=50).fit(fitted)
    feats = seg.features(other)
    release = {"profiles": segment_profiles(feats, seg.predict(other), seg.n_segments_)}
    cols = attack_columns(release, feats.columns)
    advs = [
        tracing_attack(release, cols, seg.features, seg.predict, fitted, holdout, np.random.default_rng(s))[
            "tracing_advantage"
        ]
        for s in range(5)
    ]
    assert abs(float(np.mean(advs))) < 0.03


def test_tracing_without_attack_features_is_zero(world):
    pop, fitted = world
    seg = make_segmenter("mass").fit(fitted)
    res = tracing_attack(seg.release_, [], seg.features, seg.predict, fitted, pop.holdout, np.random.default_rng(0))
    assert res == {"tracing_advantage": 0.0, "tracing_advantage_raw": 0.0, "tracing_null": 0.0}
