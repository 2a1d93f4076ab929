import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

from kit.measures import (
    cap_excluded_share,
    ethics_checks,
    fairness_metrics,
    fairness_metrics_many,
    fairness_table,
    gain_share,
    intersection_metrics,
    min_segment_size,
    offer_beneficial,
    passes_four_fifths,
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
    # 10 customers; the last two are not eligible (e.g. older at the cap) and must not count.
    unpriv = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1], bool)
    elig = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
    offered = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0], bool)
    helps = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1], bool)
    hit = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 0], bool)  # customer 1: helped, but offered a harmful action
    m = fairness_metrics(offered, hit, helps, unpriv, "older", eligible=elig)
    assert m["spd_older"] == pytest.approx(2 / 4 - 3 / 4)
    assert m["di_older"] == pytest.approx((2 / 4) / (3 / 4))
    # TPR = hits among helped: unpriv 1 of 3 (customer 1's harmful offer is no hit), priv 2 of 3.
    assert m["eod_older"] == pytest.approx(1 / 3 - 2 / 3)
    # FPR = offers among not helped: unpriv 0 of 1, priv 1 of 1.
    assert m["aod_older"] == pytest.approx(((0 - 1) + (1 / 3 - 2 / 3)) / 2)
    # Counting everyone (no eligibility) and any offer as a hit gives the old, cap-distorted numbers.
    old = fairness_metrics(offered, offered, helps, unpriv, "older")
    assert old["di_older"] == pytest.approx((2 / 6) / (3 / 4)) and old["eod_older"] == pytest.approx(2 / 5 - 2 / 3)


def fairlearn_rates(offered, hit, helps, unpriv) -> dict:
    """SPD, DI, EOD and AOD from fairlearn's per-group rates: the independent reference."""
    sr = MetricFrame(metrics=selection_rate, y_true=helps, y_pred=offered, sensitive_features=unpriv).by_group
    tpr = MetricFrame(metrics=true_positive_rate, y_true=helps, y_pred=hit, sensitive_features=unpriv).by_group
    fpr = MetricFrame(metrics=false_positive_rate, y_true=helps, y_pred=offered, sensitive_features=unpriv).by_group
    return {
        "spd": sr[True] - sr[False],
        "di": sr[True] / sr[False],
        "eod": tpr[True] - tpr[False],
        "aod": ((fpr[True] - fpr[False]) + (tpr[True] - tpr[False])) / 2,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fairness_matches_fairlearn(seed):
    rng = np.random.default_rng(seed)
    n = 5_000
    helps = rng.random(n) < 0.5
    older = rng.random(n) < 0.3
    female = rng.random(n) < 0.5
    eligible = ~(older & (rng.random(n) < 0.4))  # a cap that excludes 40% of older customers
    # Offers depend on group and label, so the differences are far from zero; some offers to helped
    # customers are of a harmful action (no hit).
    offered = eligible & (rng.random(n) < 0.25 + 0.3 * helps - 0.15 * older + 0.05 * female)
    hit = offered & helps & (rng.random(n) < 0.8 - 0.2 * older)
    m = fairness_metrics_many(offered, hit, helps, {"older": older, "gender": female}, eligible=eligible)
    for attr, mask in (("older", older), ("gender", female)):
        ref = fairlearn_rates(offered[eligible], hit[eligible], helps[eligible], mask[eligible])
        for name, value in ref.items():
            assert abs(m[f"{name}_{attr}"] - value) < 1e-9, (name, attr)
    assert m["spd_older"] < -0.1 and m["eod_older"] < -0.1  # the test data do carry disparities
    assert fairness_metrics(offered, hit, helps, older, "older", eligible) == {
        k: v for k, v in m.items() if k.endswith("_older")
    }


def test_uniform_offers_among_the_eligible_have_parity_whatever_the_cap_excludes():
    rng = np.random.default_rng(5)
    n = 20_000
    older = rng.random(n) < 0.25
    eligible = ~(older & (rng.random(n) < 0.5))  # the cap excludes half of the older customers
    offered = eligible & (rng.random(n) < 0.6)  # everyone eligible alike, like mass
    helps = rng.random(n) < 0.5
    m = fairness_metrics(offered, offered & helps, helps, older, "older", eligible)
    assert abs(1 - m["di_older"]) < 0.05
    assert fairness_metrics(offered, offered & helps, helps, older, "older")["di_older"] < 0.6  # over everyone


def test_intersection_metrics_hand_computed():
    cells = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 3)
    offered = np.r_[np.ones(8), np.zeros(2), np.ones(4), np.zeros(6), np.zeros(3)].astype(bool)
    helps = np.ones(23, bool)
    hit = offered.copy()
    hit[0:4] = False  # half of cell a's offers are harmful
    m = intersection_metrics(cells, offered, hit, helps, min_cell=5)  # cell c (3 customers) left out
    assert m == pytest.approx({"spd_age_gender": 0.4 - 0.8, "di_age_gender": 0.5, "eod_age_gender": 0.4 - 0.4})
    elig = np.ones(23, bool)
    elig[10:17] = False  # cell b keeps 3 eligible customers: too few, one cell left, nothing to compare
    m = intersection_metrics(cells, offered, hit, helps, eligible=elig, min_cell=5)
    assert all(math.isnan(v) for v in m.values())


def test_cap_excluded_share_and_offer_beneficial():
    assert cap_excluded_share(np.array([1, 1, 1, 1, 0], bool), np.array([0, 3, 5, 2, 9]), 3) == 0.5
    assert math.isnan(cap_excluded_share(np.zeros(3, bool), np.array([5, 5, 5]), 3))
    from kit.vocabulary import ACTIONS

    df = pd.DataFrame({f"{c}_{a}": [0.0, 0.0] for a in ACTIONS for c in ("p", "v")})
    df["p_none"], df["v_none"] = 0.5, 10.0  # no contact is worth 5
    df["p_discount"], df["v_discount"] = 1.0, 10.0  # discount: 10 - 2 = 8 > 5
    df["p_loyalty"], df["v_loyalty"] = 0.5, 10.0  # loyalty: 5 - 1 = 4 < 5
    assert offer_beneficial(df, np.array([1, 2])).tolist() == [True, False]
    assert offer_beneficial(df, np.array([0, 0])).tolist() == [False, False]  # no offer is no hit


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
    # Either direction fails: women offered 1.3x as often as men means men get under 0.8x women's rate.
    fair = {"di_older": math.nan, "di_gender": 1.3}
    assert ethics_checks(hold, dec, np.zeros(1, bool), {}, 0, 3, fair)["four_fifths_fail"] == 2
    fair = {"di_older": 1.25, "di_gender": 0.8, "di_age_gender": 0.5}
    assert ethics_checks(hold, dec, np.zeros(1, bool), {}, 0, 3, fair)["four_fifths_fail"] == 1


def test_passes_four_fifths_both_ways():
    assert [passes_four_fifths(d) for d in (0.8, 1.0, 1.25)] == [True] * 3
    assert [passes_four_fifths(d) for d in (0.79, 1.26, math.nan, math.inf, 0.0)] == [False] * 5
