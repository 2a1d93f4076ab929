"""Privacy measurements: hand-computed cases, and the statistics checked against scipy and scikit-learn."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_curve

from kit.measures import (
    attribute_inference,
    audience_privacy,
    best_threshold,
    clopper_pearson,
    epsilon_lower_bound,
    majority_predict,
    unique_share,
    wilson_interval,
)
from kit.measures.privacy import ATTR_INFERENCE_QI, combined_codes


def _qi_frame(rows):
    return pd.DataFrame(rows, columns=["age_band", "gender", "postcode_area", "income_band"])


def test_unique_share_and_reid_hand_computed():
    qi = _qi_frame(
        [
            ("25-34", "female", "PA01", "low"),
            ("25-34", "female", "PA01", "low"),
            ("25-34", "female", "PA01", "low"),
            ("75+", "male", "PA02", "high"),
            ("75+", "male", "PA02", "high"),
            ("45-54", "male", "PA03", "middle"),
        ]
    )
    # On the QIs alone only the last customer is unique: 1/6. With labels, the first group of three
    # splits 2 + 1 and the pair splits 1 + 1: customers 2, 3, 4 and 5 are unique: 4/6.
    out = audience_privacy(qi, np.array([0, 0, 1, 0, 1, 0]))
    # Classes (QIs + label): {0, 1}, {2}, {3}, {4}, {5}: the smallest holds 1.
    assert out == {"reid_rate": 4 / 6, "reid_rate_base": 1 / 6, "min_audience_class": 1}
    # Generalised quasi-identifiers released: one class of 3 per label.
    released = _qi_frame([("any", "any", "PA01 to PA02", "any")] * 6)
    assert audience_privacy(released, np.array([0, 0, 0, 1, 1, 1])) == {
        "reid_rate": 0.0,
        "reid_rate_base": 0.0,
        "min_audience_class": 3,
    }
    assert unique_share(np.array([7, 7, 9])) == 1 / 3
    assert math.isnan(unique_share(np.array([], dtype=int)))


def test_combined_codes_distinguish_exactly_the_distinct_rows():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": pd.Categorical(rng.integers(0, 5, 500)), "b": rng.integers(0, 3, 500).astype(str)})
    extra = rng.integers(0, 4, 500)
    codes = combined_codes(df, ["a", "b"], extra)
    tuples = list(zip(df["a"], df["b"], extra))
    assert len(set(codes)) == len(set(tuples))
    for i in range(0, 500, 7):
        for j in range(0, 500, 11):
            assert (codes[i] == codes[j]) == (tuples[i] == tuples[j])


def test_best_threshold_hand_computed():
    # Member if score >= t. Scores 5 (m), 4 (n), 3 (m), 3 (m), 1 (n), 0 (n).
    scores = np.array([5, 4, 3, 3, 1, 0], float)
    member = np.array([1, 0, 1, 1, 0, 0], bool)
    # t=5: 1/3 - 0; t=4: 1/3 - 1/3; t=3: 3/3 - 1/3 = 2/3 (best); t=1: 1 - 2/3; t=0: 0.
    best = best_threshold(scores, member)
    assert best["advantage"] == pytest.approx(2 / 3)
    assert (best["tp"], best["fp"], best["members"], best["non_members"]) == (3, 1, 3, 3)
    # Ties are never split: both 3s count together, so no threshold gives TPR 2/3 with FPR 1/3.
    assert best_threshold(np.zeros(4), np.array([1, 0, 1, 0], bool))["advantage"] == 0.0


def test_best_threshold_matches_sklearn_roc():
    rng = np.random.default_rng(1)
    member = rng.random(2_000) < 0.5
    scores = np.round(rng.normal(member * 0.3, 1.0), 2)  # rounding makes ties
    fpr, tpr, _ = roc_curve(member, scores)
    assert best_threshold(scores, member)["advantage"] == pytest.approx(max(0.0, (tpr - fpr).max()), abs=1e-12)


def test_best_threshold_error_names_the_argument():
    with pytest.raises(ValueError) as e:
        best_threshold(np.zeros(3), np.zeros(3, bool))
    assert str(e.value) == "is_member: needs at least one member and one non-member"


def test_clopper_pearson_against_scipy_and_closed_form():
    for k, n in [(3, 10), (0, 25), (25, 25), (417, 1000)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        lo, hi = clopper_pearson(k, n)
        assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)
    assert clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)


def test_epsilon_lower_bound_hand_computed():
    # A perfect attack on 1000 members and 1000 non-members: FP = FN = 0, both upper bounds are
    # 1 - 0.025^(1/1000), so eps_lb = log((1 - u) / u).
    u = 1 - 0.025 ** (1 / 1000)
    assert epsilon_lower_bound(0, 1000, 0, 1000) == pytest.approx(math.log((1 - u) / u), rel=1e-12)
    # A coin flip proves nothing.
    assert epsilon_lower_bound(500, 1000, 500, 1000) == 0.0
    # Asymmetric: FP = 10 of 1000, FN = 600 of 1000.
    fpr_hi = stats.beta.isf(0.025, 11, 990)
    fnr_hi = stats.beta.isf(0.025, 601, 400)
    want = max(math.log((1 - fnr_hi) / fpr_hi), math.log((1 - fpr_hi) / fnr_hi), 0.0)
    assert epsilon_lower_bound(10, 1000, 600, 1000) == pytest.approx(want, rel=1e-12)
    assert want > 3.0


def test_wilson_interval_against_scipy():
    for k, n in [(3, 10), (0, 40), (40, 40), (6123, 10000)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_majority_predict_hand_computed():
    train_keys = np.array([1, 1, 1, 2, 2, 3])
    train_y = np.array([1, 1, 0, 1, 0, 0], bool)
    test_keys = np.array([1, 2, 3, 4])
    fallback = np.array([False, True, True, True])
    # key 1: majority True; key 2: tie -> fallback True; key 3: False; key 4 unseen -> fallback True.
    assert majority_predict(train_keys, train_y, test_keys, fallback).tolist() == [True, True, False, True]
    # Large or negative keys take the general path and give the same answers.
    big = np.array([-5, 10**12, 7])
    assert majority_predict(big[[0, 0, 1]], np.array([1, 1, 0], bool), big, np.array([False, True, True])).tolist() == [
        True,
        False,
        True,
    ]


def test_attribute_inference_hand_computed():
    # One QI (postcode). Training: in PA1, 3 women 1 man; in PA2, 1 woman 2 men. The segment label
    # separates the genders perfectly (segment 0 = women, 1 = men).
    def frame(pcs, genders):
        return pd.DataFrame({"postcode_area": pcs, "gender": genders})

    train = frame(["PA1"] * 4 + ["PA2"] * 3, ["f", "f", "f", "m", "f", "m", "m"])
    train_labels = np.array([0, 0, 0, 1, 0, 1, 1])
    test = frame(["PA1", "PA1", "PA2", "PA2", "PA3"], ["f", "m", "f", "m", "m"])
    test_labels = np.array([0, 1, 0, 1, 1])
    out = attribute_inference(train, train_labels, test, test_labels, "gender", "f", ("postcode_area",))
    # Baseline: PA1 -> f, PA2 -> m, PA3 unseen -> overall majority (4 f of 7) -> f: right on 0, 3: 2/5.
    # Attack: every seen (segment, postcode) cell is pure; PA3 backs off to the baseline (f, wrong): 4/5.
    assert out["r_base"] == 2 / 5 and out["r_attack"] == 4 / 5
    assert out["lift"] == pytest.approx((4 / 5 - 2 / 5) / (1 - 2 / 5))
    assert (out["r_attack_lo"], out["r_attack_hi"]) == wilson_interval(4, 5)


def test_attribute_inference_attacker_never_sees_the_target():
    assert "age_band" not in ATTR_INFERENCE_QI["older"]  # age band gives `older` away
    assert "gender" not in ATTR_INFERENCE_QI["gender"]
    assert set(ATTR_INFERENCE_QI["older"]) == {"gender", "postcode_area", "income_band"}
