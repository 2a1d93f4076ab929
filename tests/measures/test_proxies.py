"""Behaviour as a proxy for protected attributes: the AUC that kit.measures.proxies reports."""

import numpy as np
import pytest

from kit.features import FEATURES, behaviour_features
from kit.measures.proxies import proxy_auc, proxy_auc_by_strength
from kit.population import make_population
from kit.vocabulary import CHANNELS


def test_behaviour_features_by_hand():
    c = make_population(1_000, random_state=3).customers.head(5)
    X = behaviour_features(c)
    assert list(X.columns) == list(FEATURES)
    assert np.allclose(X["log_recency"], np.log1p(c["recency_days"].to_numpy(dtype=float)))
    assert np.allclose(X["log_monetary"], np.log1p(c["monetary"].to_numpy(dtype=float)))
    assert np.array_equal(X["engagement"], c["engagement"].to_numpy(dtype=float))
    for i, ch in enumerate(c["channel"]):
        assert [X[f"channel_{name}"].iloc[i] for name in CHANNELS] == [float(ch == name) for name in CHANNELS]
    # Nothing protected and nothing true goes in: age, gender, segment and p/v are not features.
    assert not {"age", "older", "gender", "gender_female", "latent_segment"} & set(X.columns)


@pytest.fixture(scope="module")
def sweep():
    return proxy_auc_by_strength([0.0, 0.5, 1.0], n_customers=20_000, random_state=5)


def test_proxy_auc_tracks_proxy_strength(sweep):
    auc = sweep.pivot(index="proxy_strength", columns="target", values="auc")
    # 6,000 scored customers: the AUC's standard error at chance is about 0.008 (gender) - 0.009 (older).
    assert (abs(auc.loc[0.0] - 0.5) <= 0.03).all()
    assert (auc.loc[1.0] >= 0.8).all()
    assert (auc.loc[0.0] < auc.loc[0.5]).all() and (auc.loc[0.5] < auc.loc[1.0]).all()
    assert set(sweep["target"]) == {"older", "gender"} and (sweep["n_customers"] == 20_000).all()
    older = sweep[sweep["target"] == "older"]["base_rate"]
    assert ((older > 0.23) & (older < 0.27)).all()  # older_share 0.25


def test_sweep_rows_are_proxy_auc_of_that_population(sweep):
    c = make_population(20_000, proxy_strength=0.5, random_state=5).customers
    row = sweep[(sweep["proxy_strength"] == 0.5) & (sweep["target"] == "older")]
    assert row["auc"].item() == proxy_auc(c, "older", random_state=5)
    assert row["base_rate"].item() == c["older"].mean()


def test_proxy_auc_is_reproducible():
    c = make_population(4_000, proxy_strength=1.0, random_state=2).customers
    assert proxy_auc(c, "gender", random_state=1) == proxy_auc(c, "gender", random_state=1)


def test_unknown_target():
    c = make_population(1_000, random_state=3).customers
    with pytest.raises(ValueError, match=r"^target: unknown 'income'; expected one of older, gender$"):
        proxy_auc(c, "income")
