"""Personalisation gain per group and its bootstrap intervals: hand-computed cases and known properties."""

import math

import numpy as np
import pandas as pd
import pytest

from kit.measures import bootstrap_cell_sums, gain_by_group, policy_value
from kit.measures.gain import _POISSON_TABLE, _U16
from kit.population import true_net_values
from kit.vocabulary import ACTIONS, AGE_BANDS, GENDERS


def _customers(age_bands, genders, net):
    """A held-out table whose true net value of action j for customer i is net[i][j] (p = 1, cost added back)."""
    from kit.vocabulary import ACTION_COST

    net = np.asarray(net, dtype=float)
    df = pd.DataFrame(
        {
            "age_band": pd.Categorical(age_bands, categories=list(AGE_BANDS)),
            "gender": pd.Categorical(genders, categories=list(GENDERS)),
        }
    )
    df["older"] = df["age_band"].isin(["65-74", "75+"])
    for j, a in enumerate(ACTIONS):
        df[f"p_{a}"] = 1.0
        df[f"v_{a}"] = net[:, j] + ACTION_COST[a]
    return df


def test_poisson_table_is_poisson_one():
    w = _POISSON_TABLE
    assert len(w) == _U16
    # Each table entry carries probability 2**-16: mean and variance of Poisson(1) to within 1e-3,
    # P(0) = e^-1 to within one table step.
    assert abs(w.mean() - 1) < 1e-3 and abs(w.var() - 1) < 1e-3
    assert abs((w == 0).mean() - math.exp(-1)) <= 1 / _U16


def test_bootstrap_cell_sums_hand_computed():
    cells = np.array([1, 0, 1, 1, 0])
    cols = np.array([[1.0, 10.0], [1.0, 20.0], [1.0, 30.0], [1.0, 40.0], [1.0, 50.0]])
    out = bootstrap_cell_sums(cells, cols, 3, np.random.default_rng(5), n_boot=4)
    # The same draws, by hand: the weights are read in customer order sorted by cell (stable).
    w = _POISSON_TABLE[np.random.default_rng(5).integers(0, _U16, (4, 5), dtype=np.uint16)]
    order = [1, 4, 0, 2, 3]  # cell 0: customers 1, 4; cell 1: customers 0, 2, 3
    for r in range(4):
        wr = dict(zip(order, w[r]))
        assert out[r, 0, 0] == wr[1] + wr[4]
        assert out[r, 0, 1] == 20 * wr[1] + 50 * wr[4]
        assert out[r, 1, 1] == 10 * wr[0] + 30 * wr[2] + 40 * wr[3]
        assert out[r, 2].tolist() == [0.0, 0.0]  # empty cell


def test_bootstrap_interval_width_matches_normal_theory():
    # For a mean of n iid values the bootstrap's 95% interval is close to +-1.96 sd / sqrt(n).
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.exponential(3.0, n)
    out = bootstrap_cell_sums(np.zeros(n, int), np.c_[np.ones(n), x], 1, np.random.default_rng(1), n_boot=400)
    means = out[:, 0, 1] / out[:, 0, 0]
    width = np.percentile(means, 97.5) - np.percentile(means, 2.5)
    expected = 2 * 1.959964 * x.std() / math.sqrt(n)
    assert width == pytest.approx(expected, rel=0.15)
    assert abs(means.mean() - x.mean()) < 0.2 * x.std() / math.sqrt(n) * 3


def test_gain_by_group_hand_computed():
    # Net values per action (none, discount, loyalty, new_product).
    hold = _customers(
        ["25-34", "25-34", "65-74", "75+"],
        ["female", "male", "female", "female"],
        [[0, 4, 1, 1], [2, 0, 0, 6], [1, 1, 3, 1], [0, 5, 0, 0]],
    )
    actions = {
        "mass": np.array([1, 1, 1, 1]),  # 4, 0, 1, 5
        "oracle": np.array([1, 3, 2, 1]),  # 4, 6, 3, 5
        "policy": np.array([1, 0, 1, 1]),  # 4, 2, 1, 5
    }
    t = gain_by_group(hold, actions, np.random.default_rng(0), n_boot=50).set_index(["grouping", "group"])
    everyone = t.loc[("all", "all")]
    assert everyone["customers"] == 4
    assert everyone["value_mass"] == 2.5 and everyone["value_oracle"] == 4.5 and everyone["value_policy"] == 3.0
    assert everyone["gain_share"] == pytest.approx((3.0 - 2.5) / (4.5 - 2.5))
    assert everyone["value_policy"] == policy_value(hold, actions["policy"])
    women = t.loc[("gender", "female")]
    assert women["customers"] == 3 and women["gain_share"] == 0.0  # policy = mass for the three women
    men = t.loc[("gender", "male")]
    assert men["gain_share"] == pytest.approx((2 - 0) / (6 - 0))
    older_women = t.loc[("older x gender", "older (65+), female")]
    assert older_women["customers"] == 2 and older_women["value_oracle"] == 4.0
    # Women's policy value equals mass in every resample, so their interval is exactly 0.
    assert women["gain_share_lo"] == 0.0 and women["gain_share_hi"] == 0.0
    assert ("age band", "45-54") not in t.index  # groups without customers are not shown


def test_gain_by_group_intervals_and_suppression(small_pop):
    hold = small_pop.holdout
    rng = np.random.default_rng(3)
    best = true_net_values(hold).argmax(1)
    actions = {
        "mass": np.ones(len(hold), int),
        "oracle": best,
        "policy": np.where(rng.random(len(hold)) < 0.5, 1, best),  # half mass, half oracle
    }
    t = gain_by_group(hold, actions, np.random.default_rng(1), min_cell=10)
    assert (t["customers"] >= 10).all()
    assert 0.3 < t.loc[0, "gain_share"] < 0.7  # half the customers get the oracle's action
    for col in ("value_policy", "value_mass", "value_oracle", "gain_share"):
        assert (t[f"{col}_lo"] <= t[col]).all() and (t[col] <= t[f"{col}_hi"]).all()
    sizes = hold.groupby("age_band", observed=True).size()
    big = gain_by_group(hold, actions, np.random.default_rng(1), min_cell=int(sizes.min()) + 1)
    assert len(big) == len(t) - 1  # only the smallest age band is dropped
    again = gain_by_group(hold, actions, np.random.default_rng(1), min_cell=10)
    pd.testing.assert_frame_equal(t, again, check_exact=True)  # seeded: bit for bit
