"""Wellbeing measures on hand-computed cases: intrusiveness and financial harm."""

import math

import numpy as np
import pandas as pd
import pytest

from kit.measures.wellbeing import (
    LOW_INCOME_BANDS,
    harm,
    intrusion,
    intrusiveness,
    low_income,
    message_codes,
    protected_cells,
    pushed_spending,
    wellbeing_metrics,
)


def test_message_codes_distinguish_segment_and_action():
    codes = message_codes(np.array([0, 0, 1, 1, 2]), np.array([1, 2, 1, 0, 3]))
    assert codes[3] == -1  # not offered
    assert len(set(codes[[0, 1, 2, 4]])) == 4


def test_intrusion_hand_computed():
    cells = np.array([0, 0, 1, 1])  # P(Z) = (1/2, 1/2)
    seg = np.zeros(4, int)
    # Customers 0 and 1 get the same message; its audience is all cell 0:
    # KL = 1 * log2(1 / 0.5) = 1 bit; sigma = 1 - 2/4 = 0.5; intrusion 0.5 each, 0 for the others.
    acts = np.array([1, 1, 0, 0])
    assert intrusion(seg, acts, cells).tolist() == [0.5, 0.5, 0.0, 0.0]
    assert intrusiveness(seg, acts, cells) == 0.25


def test_intrusion_unequal_cells_hand_computed():
    cells = np.array([0, 0, 0, 1])  # P(Z) = (3/4, 1/4)
    seg = np.array([0, 0, 1, 1])
    acts = np.array([0, 0, 2, 2])  # one message to customers 2 and 3: P(Z | m) = (1/2, 1/2)
    kl = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    expected = (1 - 2 / 4) * kl
    assert intrusion(seg, acts, cells) == pytest.approx([0, 0, expected, expected], abs=1e-15)
    assert intrusiveness(seg, acts, cells) == pytest.approx(expected / 2, abs=1e-15)


def test_no_intrusion_when_offers_say_nothing_or_single_no_one_out():
    cells = np.array([0, 1, 0, 1])
    seg = np.array([0, 0, 1, 1])
    # Everyone gets one message: sigma = 0.
    assert intrusiveness(np.zeros(4, int), np.ones(4, int), cells) == 0.0
    # Two messages, each to one customer of each cell: KL = 0.
    assert intrusiveness(seg, np.ones(4, int), cells) == 0.0
    # Nobody offered.
    assert intrusiveness(seg, np.zeros(4, int), cells) == 0.0


def test_intrusiveness_bounded_by_mutual_information():
    rng = np.random.default_rng(0)
    n = 2_000
    cells = rng.integers(0, 4, n)
    seg = np.where(rng.random(n) < 0.8, cells, rng.integers(0, 4, n))  # segments reveal the cell
    acts = rng.integers(0, 4, n)
    msg = message_codes(seg, acts)
    joint = pd.crosstab(msg, cells).to_numpy() / n
    pm, pz = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = np.nansum(np.where(joint > 0, joint * np.log2(joint / (pm * pz)), 0.0))
    value = intrusiveness(seg, acts, cells)
    assert 0.3 < value < mi <= 2.0


def test_protected_cells():
    df = pd.DataFrame(
        {
            "older": [False, False, True, True],
            "gender": pd.Categorical(["female", "male", "female", "male"], categories=["female", "male"]),
        }
    )
    assert protected_cells(df).tolist() == [0, 1, 2, 3]


def truth(p_none, v_none, p_disc, v_disc, income, older):
    n = len(p_none)
    return pd.DataFrame(
        {
            "p_none": p_none,
            "v_none": v_none,
            "p_discount": p_disc,
            "v_discount": v_disc,
            "p_loyalty": [0.0] * n,
            "v_loyalty": [0.0] * n,
            "p_new_product": [0.0] * n,
            "v_new_product": [0.0] * n,
            "income_band": pd.Categorical(income, categories=["low", "lower-middle", "middle", "upper-middle", "high"]),
            "older": older,
            "gender": pd.Categorical(["female"] * n, categories=["female", "male"]),
        }
    )


def test_pushed_spending_and_harm_hand_computed():
    df = truth(
        p_none=[0.2, 0.2, 0.5, 0.2],
        v_none=[10.0, 10.0, 10.0, 10.0],
        p_disc=[0.6, 0.6, 0.4, 0.6],
        v_disc=[7.5, 7.5, 7.5, 7.5],
        income=["low", "high", "lower-middle", "middle"],
        older=[True, False, True, False],
    )
    acts = np.array([1, 1, 1, 0])
    # offered: 0.6 * 7.5 - 0.2 * 10 = 2.5 (customers 0, 1); customer 2: 0.4 * 7.5 - 5 < 0 -> 0;
    # customer 3 not offered -> 0.
    assert pushed_spending(df, acts) == pytest.approx([2.5, 2.5, 0.0, 0.0])
    assert low_income(df).tolist() == [True, False, True, False]
    assert harm(df, acts, low_income(df)) == pytest.approx(1.25)  # (2.5 + 0) / 2
    assert harm(df, acts, df["older"].to_numpy()) == pytest.approx(1.25)
    assert math.isnan(harm(df, acts, np.zeros(4, bool)))
    m = wellbeing_metrics(df, np.zeros(4, int), acts)
    assert m["harm_low_income"] == pytest.approx(1.25) and m["harm_older"] == pytest.approx(1.25)
    assert LOW_INCOME_BANDS == ("low", "lower-middle")
