"""Paired-by-world comparisons: the t interval, pairing by seed within conditions, the reference."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kit.report.comparisons import (
    COMPARISON_COLUMNS,
    UNKNOWN_REFERENCE,
    across_worlds,
    distinguishable,
    paired_differences,
    t_interval,
    varying,
)


def test_t_interval_matches_scipy_one_sample_t():
    x = np.array([1.0, 2.0, 3.0, 4.0, 7.5])
    n, mean, lo, hi = t_interval(x)
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert n == 5 and mean == pytest.approx(3.5) and (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-12)
    # by hand: 3.5 -/+ t(0.975, 4) * sd / sqrt(5)
    assert hi - mean == pytest.approx(2.7764451051977987 * np.std(x, ddof=1) / math.sqrt(5))


def test_t_interval_edge_cases():
    assert t_interval([])[0] == 0 and math.isnan(t_interval([])[1])
    n, mean, lo, hi = t_interval([2.0, np.inf, np.nan])  # only finite values count
    assert (n, mean) == (1, 2.0) and math.isnan(lo) and math.isnan(hi)
    assert t_interval([0.3, 0.3, 0.3])[1:] == (0.3, 0.3, 0.3)


def _results(n_worlds=20, shift=0.02, noise=0.005, world_sd=0.15, seed=0):
    """Two settings whose levels move together across worlds; 'b' is better than 'a' by `shift`."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0.5, world_sd, n_worlds)
    rows = []
    for s in range(n_worlds):
        rows.append({"label": "a", "seed": s, "status": "ok", "gain_share": level[s]})
        rows.append({"label": "b", "seed": s, "status": "ok", "gain_share": level[s] + shift + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_paired_differences_by_hand_and_row_order_does_not_matter():
    r = pd.DataFrame(
        {"label": ["ref", "x"] * 3, "seed": [0, 0, 1, 1, 2, 2], "status": "ok", "m": [1.0, 1.5, 2.0, 2.25, 3.0, 3.75]}
    )
    out = paired_differences(r.sample(frac=1, random_state=3), "ref", ["m"])
    assert list(out.columns) == COMPARISON_COLUMNS
    x = out.set_index("setting").loc["x"]
    n, mean, lo, hi = t_interval([0.5, 0.25, 0.75])
    assert (x["n_worlds"], x["diff_mean"], x["diff_lo"], x["diff_hi"]) == (3, mean, lo, hi) and mean == 0.5
    ref = out.set_index("setting").loc["ref"]  # the reference is listed, at zero
    assert (ref["n_worlds"], ref["diff_mean"], ref["diff_lo"], ref["diff_hi"]) == (3, 0.0, 0.0, 0.0)


def test_pairing_finds_a_difference_the_across_world_intervals_hide():
    r = _results()
    d = paired_differences(r, "a", ["gain_share"]).set_index("setting").loc["b"]
    assert distinguishable(d) and d["diff_lo"] > 0.01
    lv = across_worlds(r, ["gain_share"]).set_index("label")
    assert lv.loc["b", "gain_share_lo"] < lv.loc["a", "gain_share_hi"]  # unpaired intervals overlap


def test_only_worlds_where_both_finished_and_are_finite_count():
    r = _results(n_worlds=6)
    r.loc[(r["label"] == "b") & (r["seed"] == 0), "status"] = "failed"
    r.loc[(r["label"] == "a") & (r["seed"] == 1), "gain_share"] = np.nan
    r.loc[(r["label"] == "b") & (r["seed"] == 2), "gain_share"] = np.inf
    d = paired_differences(r, "a", ["gain_share", "not_a_metric"])
    assert set(d["metric"]) == {"gain_share"}
    assert d.set_index("setting").loc["b", "n_worlds"] == 3


def test_worlds_matched_within_conditions():
    r1, r2 = _results(6, shift=0.1), _results(6, shift=-0.1, seed=1)
    r1["proxy_strength"], r2["proxy_strength"] = 0.0, 1.0
    r = pd.concat([r1, r2], ignore_index=True)
    assert varying(r, ["proxy_strength", "budget", "seed"]) == ["proxy_strength", "seed"]
    d = paired_differences(r, "a", ["gain_share"], conditions=["proxy_strength"])
    assert list(d.columns) == ["setting", "proxy_strength", *COMPARISON_COLUMNS[1:]]
    b = d[d["setting"] == "b"].set_index("proxy_strength")["diff_mean"]
    assert b[0.0] == pytest.approx(0.1, abs=0.01) and b[1.0] == pytest.approx(-0.1, abs=0.01)


def test_unknown_reference_message():
    with pytest.raises(ValueError) as e:
        paired_differences(_results(3), "kmeans", ["gain_share"])
    assert str(e.value) == UNKNOWN_REFERENCE.format(reference="kmeans", labels="a, b")
    assert str(e.value) == "reference 'kmeans' is not a setting of this study; expected one of a, b"


def test_distinguishable():
    assert distinguishable({"diff_lo": 0.01, "diff_hi": 0.2}) and distinguishable({"diff_lo": -0.3, "diff_hi": -0.1})
    assert not distinguishable({"diff_lo": -0.01, "diff_hi": 0.2})
    assert not distinguishable({"diff_lo": np.nan, "diff_hi": np.nan})
