import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate

from kit.measures import ethics_checks, fairness_metrics, gain_share, min_segment_size, policy_value


def test_gain_share_hand_computed():
    assert gain_share(15.0, 10.0, 20.0) == 0.5
    assert gain_share(10.0, 10.0, 20.0) == 0.0
    assert math.isnan(gain_share(10.0, 10.0, 10.0))


def test_policy_value_hand_computed():
    df = pd.DataFrame({"p_none": [0.5, 0.2], "v_none": [10.0, 10.0], "p_discount": [0.5, 0.9],
                       "v_discount": [10.0, 10.0], "p_loyalty": [0.0, 0.0], "v_loyalty": [0.0, 0.0],
                       "p_new_product": [0.0, 0.0], "v_new_product": [0.0, 0.0]})
    # customer 0: none -> 5; customer 1: discount -> 0.9 * 10 - 2 = 7
    assert policy_value(df, np.array([0, 1])) == 6.0


def test_fairness_hand_computed():
    # unprivileged: 4 customers, 1 offered; privileged: 4 customers, 2 offered.
    offered = np.array([1, 0, 0, 0, 1, 1, 0, 0], bool)
    helps = np.array([1, 1, 0, 0, 1, 1, 1, 0], bool)
    unpriv = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    m = fairness_metrics(offered, helps, unpriv, "older")
    assert m["spd_older"] == pytest.approx(0.25 - 0.5)
    assert m["di_older"] == pytest.approx(0.5)
    assert m["eod_older"] == pytest.approx(0.5 - 2 / 3)  # TPR among helped: 1/2 vs 2/3
    # FPR: unpriv 0/2, priv 0/1 -> AOD = ((0-0) + (1/2 - 2/3)) / 2
    assert m["aod_older"] == pytest.approx((0.5 - 2 / 3) / 2)


def test_fairness_matches_fairlearn():
    rng = np.random.default_rng(0)
    n = 5_000
    offered = rng.random(n) < 0.4
    helps = rng.random(n) < 0.5
    unpriv = rng.random(n) < 0.3
    m = fairness_metrics(offered, helps, unpriv, "g")
    mf = MetricFrame(metrics={"sr": selection_rate, "tpr": true_positive_rate}, y_true=helps, y_pred=offered,
                     sensitive_features=unpriv)
    sr, tpr = mf.by_group["sr"], mf.by_group["tpr"]
    assert abs(m["spd_g"] - (sr[True] - sr[False])) < 1e-9
    assert abs(m["di_g"] - sr[True] / sr[False]) < 1e-9
    assert abs(m["eod_g"] - (tpr[True] - tpr[False])) < 1e-9


def test_min_segment_size_ignores_empty():
    assert min_segment_size(pd.Series([5, 0, 3, 9])) == 3
    assert min_segment_size(np.array([0, 0])) == 0


def test_ethics_checks_hand_computed():
    hold = pd.DataFrame({"profiling_consent": [True, False, False], "older": [True, True, False],
                         "contacts_90d": [5, 1, 9]})
    dec = pd.DataFrame({"offered": [True, True, True]})
    out = ethics_checks(hold, dec, np.array([True, True, False]), {0: "a", 1: ""}, 2, 3,
                        {"di_older": 0.7, "di_gender": 0.9})
    assert out == {"consent_violations": 1, "fatigue_violations": 1, "undescribed_segments": 1, "four_fifths_fail": 1}
