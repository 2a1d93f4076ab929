import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

from kit.measures import (
    ethics_checks,
    fairness_metrics,
    fairness_metrics_many,
    fairness_table,
    gain_share,
    min_segment_size,
    policy_value,
    segment_balance,
)
from kit.targeting import Policy, assign_actions


def test_gain_share_hand_computed():
    assert gain_share(15.0, 10.0, 20.0) == 0.5
    assert gain_share(10.0, 10.0, 20.0) == 0.0
    assert math.isnan(gain_share(10.0, 10.0, 10.0))


def test_policy_value_hand_computed():
    df = pd.DataFrame(
        {
            "p_none": [0.5, 0.2],
            "v_none": [10.0, 10.0],
            "p_discount": [0.5, 0.9],
            "v_discount": [10.0, 10.0],
            "p_loyalty": [0.0, 0.0],
            "v_loyalty": [0.0, 0.0],
            "p_new_product": [0.0, 0.0],
            "v_new_product": [0.0, 0.0],
        }
    )
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


def fairlearn_rates(offered, helps, unpriv) -> dict:
    """SPD, DI, EOD and AOD from fairlearn's per-group rates: the independent reference."""
    mf = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=helps,
        y_pred=offered,
        sensitive_features=unpriv,
    )
    g = mf.by_group
    return {
        "spd": g["sr"][True] - g["sr"][False],
        "di": g["sr"][True] / g["sr"][False],
        "eod": g["tpr"][True] - g["tpr"][False],
        "aod": ((g["fpr"][True] - g["fpr"][False]) + (g["tpr"][True] - g["tpr"][False])) / 2,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fairness_matches_fairlearn(seed):
    rng = np.random.default_rng(seed)
    n = 5_000
    helps = rng.random(n) < 0.5
    older = rng.random(n) < 0.3
    female = rng.random(n) < 0.5
    # Offers depend on group and label, so the differences are far from zero.
    offered = rng.random(n) < 0.25 + 0.3 * helps - 0.15 * older + 0.05 * female
    m = fairness_metrics_many(offered, helps, {"older": older, "gender": female})
    for attr, mask in (("older", older), ("gender", female)):
        ref = fairlearn_rates(offered, helps, mask)
        for name, value in ref.items():
            assert abs(m[f"{name}_{attr}"] - value) < 1e-9, (name, attr)
    assert m["spd_older"] < -0.1  # the test data do carry a disparity
    assert fairness_metrics(offered, helps, older, "older") == {k: v for k, v in m.items() if k.endswith("_older")}


def test_segment_balance_hand_computed():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    group = np.array([1, 0, 0, 1, 1, 0, 0], bool)
    # segment 0: 1 in, 2 out -> 1/2; segment 1: 2 and 2 -> 1; balance = min = 1/2.
    assert segment_balance(labels, group) == 0.5
    # Labels need not be contiguous; a segment holding only one group has balance 0.
    assert segment_balance(np.array([5, 5, 9]), np.array([True, False, True])) == 0.0
    # One segment: the population's own ratio, min(r, 1/r).
    assert segment_balance(np.zeros(8, int), np.array([1, 1, 0, 0, 0, 0, 0, 0], bool)) == 2 / 6
    assert math.isnan(segment_balance(np.array([], int), np.array([], bool)))


def test_segment_balance_signature_and_error():
    import inspect

    sig = inspect.signature(segment_balance)
    assert list(sig.parameters) == ["labels", "group_mask"] and sig.return_annotation in (float, "float")
    with pytest.raises(ValueError) as e:
        segment_balance(np.zeros(3, int), np.zeros(2, bool))
    assert str(e.value) == "labels and group_mask must have the same shape, got (3,) and (2,)"


def test_fairness_table_hand_computed():
    from kit.vocabulary import ACTIONS, AGE_BANDS, GENDERS

    n = 40
    hold = pd.DataFrame(
        {
            "age_band": pd.Categorical(["25-34"] * 20 + ["75+"] * 20, categories=list(AGE_BANDS)),
            "gender": pd.Categorical((["female"] * 10 + ["male"] * 10) * 2, categories=list(GENDERS)),
        }
    )
    for a in ACTIONS:  # discount truly helps everyone: p=1, v=10 - cost 2 = 8 > 0
        hold[f"p_{a}"], hold[f"v_{a}"] = (1.0, 10.0) if a == "discount" else (0.0, 0.0)
    offered = np.zeros(n, bool)
    offered[[0, 1, 2, 3, 4, 5, 6, 7]] = True  # young women: 8 of 10
    offered[[10, 11, 12, 13]] = True  # young men: 4 of 10
    offered[[20, 21]] = True  # older women: 2 of 10; older men: 0 of 10
    dec = pd.DataFrame(
        {"offered": offered, "action": pd.Categorical.from_codes(offered.astype(int), categories=list(ACTIONS))}
    )
    t = fairness_table(hold, dec, min_cell=10)
    assert t["offer_rate"].tolist() == [0.8, 0.4, 0.2, 0.0]
    assert t["di_vs_best"].tolist() == pytest.approx([1.0, 0.5, 0.25, 0.0])
    assert t["value_per_customer"].tolist() == pytest.approx([6.4, 3.2, 1.6, 0.0])
    # With a bigger minimum cell, cells are suppressed rather than shown.
    assert fairness_table(hold, dec, min_cell=11).empty


def test_min_segment_size_ignores_empty():
    assert min_segment_size(pd.Series([5, 0, 3, 9])) == 3
    assert min_segment_size(np.array([0, 0])) == 0


def test_ethics_checks_hand_computed():
    hold = pd.DataFrame(
        {"profiling_consent": [True, False, False], "older": [True, True, False], "contacts_90d": [5, 1, 9]}
    )
    dec = pd.DataFrame({"offered": [True, True, True]})
    out = ethics_checks(
        hold, dec, np.array([True, True, False]), {0: "a", 1: ""}, 2, 3, {"di_older": 0.7, "di_gender": 0.9}
    )
    assert out == {"consent_violations": 1, "fatigue_violations": 1, "undescribed_segments": 1, "four_fifths_fail": 1}


def test_fatigue_counts_contacts_at_the_cap_like_targeting():
    # Older customers with contacts_90d >= cap must not be contacted; exactly at the cap counts.
    hold = pd.DataFrame(
        {"profiling_consent": [True] * 4, "older": [True, True, True, False], "contacts_90d": [2, 3, 4, 9]}
    )
    dec = pd.DataFrame({"offered": [True, True, True, True]})
    out = ethics_checks(hold, dec, np.zeros(4, bool), {0: "a"}, 1, 3, {})
    assert out["fatigue_violations"] == 2


def test_targeting_never_breaches_the_fatigue_cap(small_pop):
    hold = small_pop.holdout
    values = np.tile([0.0, 5.0, 1.0, 1.0], (len(hold), 1))  # everyone wants a discount
    for cap in (0, 1, 3):
        dec = assign_actions(values, hold, Policy(budget=1.0, older_contact_cap=cap), np.random.default_rng(0))
        assert ethics_checks(hold, dec, np.zeros(len(hold), bool), {}, 0, cap, {})["fatigue_violations"] == 0
        everyone = pd.DataFrame({"offered": np.ones(len(hold), bool)})
        at_cap = int((hold["older"] & (hold["contacts_90d"] >= cap)).sum())
        assert at_cap > 0
        assert ethics_checks(hold, everyone, np.zeros(len(hold), bool), {}, 0, cap, {})["fatigue_violations"] == at_cap


def test_four_fifths_counts_each_failing_ratio():
    hold = pd.DataFrame({"profiling_consent": [True], "older": [False], "contacts_90d": [0]})
    dec = pd.DataFrame({"offered": [False]})
    fair = {"di_older": 0.79, "di_gender": 0.8, "spd_older": -0.5}
    assert ethics_checks(hold, dec, np.zeros(1, bool), {}, 0, 3, fair)["four_fifths_fail"] == 1
    fair = {"di_older": math.nan, "di_gender": 1.3}
    assert ethics_checks(hold, dec, np.zeros(1, bool), {}, 0, 3, fair)["four_fifths_fail"] == 1
