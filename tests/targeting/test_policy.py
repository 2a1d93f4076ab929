import math

import numpy as np
import pandas as pd

from kit.segmenters import KMeansSegmenter
from kit.targeting import Policy, assign_actions, cap_harm, decide, estimate_segment_values, vulnerable
from kit.vocabulary import ACTIONS, INCOME_BANDS


def _history():
    # Two segments; segment 0: 'discount' books 10 per customer, segment 1: 'loyalty' books 6.
    rows = []
    for seg, act, value, n in [
        (0, "none", 0.0, 4),
        (0, "discount", 10.0, 4),
        (0, "loyalty", 2.0, 4),
        (0, "new_product", 1.0, 4),
        (1, "none", 1.0, 4),
        (1, "discount", 0.0, 4),
        (1, "loyalty", 6.0, 4),
        (1, "new_product", 0.0, 4),
    ]:
        rows += [{"seg": seg, "hist_action": act, "hist_value": value}] * n
    df = pd.DataFrame(rows)
    df["hist_action"] = pd.Categorical(df["hist_action"], categories=list(ACTIONS))
    return df


def test_segment_estimates_hand_computed():
    h = _history()
    est = estimate_segment_values(h, h["seg"].to_numpy(), 2, min_obs=4)
    # mean booked value minus cost (none 0, discount 2, loyalty 1, new_product 0.5)
    assert est.loc[0, list(ACTIONS)].tolist() == [0.0, 8.0, 1.0, 0.5]
    assert est.loc[1, list(ACTIONS)].tolist() == [1.0, -2.0, 5.0, -0.5]
    assert not est["fallback"].any()


def test_thin_segment_falls_back_to_mass_estimate():
    h = _history()
    est = estimate_segment_values(h, h["seg"].to_numpy(), 2, min_obs=5)
    mass = [0.5, 3.0, 3.0, 0.0]  # pooled means: none 0.5, discount 5-2, loyalty 4-1, new_product 0.5-0.5
    assert est.loc[0, list(ACTIONS)].tolist() == mass and est["fallback"].all()


def _customers(n, older=False, contacts=0, consent=True):
    return pd.DataFrame({"older": [older] * n, "contacts_90d": [contacts] * n, "marketing_consent": [consent] * n})


def test_budget_contacts_largest_lift_first():
    values = np.array([[0, 5, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0], [2, 0, 0, 1]], dtype=float)
    d = assign_actions(values, _customers(4), Policy(budget=0.5), np.random.default_rng(0))
    assert d["offered"].tolist() == [True, False, True, False]
    assert d["action"].astype(str).tolist() == ["discount", "none", "loyalty", "none"]
    assert d["blocked"].tolist() == ["", "budget", "", ""]  # customer 3: no positive lift, not wanted


def test_no_marketing_consent_no_contact_and_older_cap():
    cust = pd.concat(
        [_customers(2, consent=False), _customers(2, older=True, contacts=3), _customers(2)], ignore_index=True
    )
    values = np.tile([0.0, 5.0, 0.0, 0.0], (6, 1))
    d = assign_actions(values, cust, Policy(budget=1.0, older_contact_cap=3), np.random.default_rng(0))
    assert d["offered"].tolist() == [False, False, False, False, True, True]
    assert d["blocked"].tolist()[:4] == ["no_consent", "no_consent", "older_cap", "older_cap"]
    assert d["eligible"].tolist() == [False, False, False, False, True, True]


def test_ties_broken_by_seed_not_order():
    values = np.tile([0.0, 1.0, 0.0, 0.0], (1000, 1))
    a = assign_actions(values, _customers(1000), Policy(budget=0.3), np.random.default_rng(1))["offered"]
    b = assign_actions(values, _customers(1000), Policy(budget=0.3), np.random.default_rng(1))["offered"]
    assert a.sum() == 300 and (a == b).all()
    assert 100 < a[:500].sum() < 200  # not simply the first 300 rows


def test_mass_segments_get_the_mass_estimate():
    h = _history()
    est = estimate_segment_values(h, h["seg"].to_numpy(), 2, min_obs=4, mass_segments=(1,))
    assert est.loc[0, list(ACTIONS)].tolist() == [0.0, 8.0, 1.0, 0.5]  # enough data, its own estimate
    assert est.loc[1, list(ACTIONS)].tolist() == [0.5, 3.0, 3.0, 0.0]  # the pooled (mass) estimate
    assert est["fallback"].tolist() == [False, True]


def _vulnerable_customers():
    # 0: older; 1: low income; 2: neither; 3: lower-middle income.
    return pd.DataFrame(
        {
            "older": [True, False, False, False],
            "income_band": pd.Categorical(["high", "low", "middle", "lower-middle"], categories=list(INCOME_BANDS)),
            "contacts_90d": [0, 0, 0, 0],
            "marketing_consent": [True] * 4,
        }
    )


def test_cap_harm_hand_computed():
    cust = _vulnerable_customers()
    assert vulnerable(cust).tolist() == [True, True, False, True]
    # none 1; discount net 8 (extra spending 8 + 2 - 1 = 9); loyalty net 3 (3 + 1 - 1 = 3); new_product net 1 (1.5)
    values = np.tile([1.0, 8.0, 3.0, 1.0], (4, 1))
    capped = cap_harm(values, cust, 5.0)
    assert capped[2].tolist() == [1.0, 8.0, 3.0, 1.0]  # not vulnerable: untouched
    for i in (0, 1, 3):
        assert capped[i].tolist() == [1.0, -math.inf, 3.0, 1.0]
    assert cap_harm(values, cust, math.inf) is values  # no cap: the very same values
    d = decide(KMeansSegmenter(), values, cust, Policy(budget=1.0, harm_cap=5.0), np.random.default_rng(0))
    assert d["action"].astype(str).tolist() == ["loyalty", "loyalty", "discount", "loyalty"]
    d = decide(KMeansSegmenter(), values, cust, Policy(budget=1.0, harm_cap=1.0), np.random.default_rng(0))
    assert d["action"].astype(str).tolist() == ["none", "none", "discount", "none"]
    assert d["blocked"].tolist() == ["harm_cap", "harm_cap", "", "harm_cap"]
