"""Findings of a study on one customer table: seeds are not worlds there, so the best gain is stated with
the runs' own bootstrap intervals over the table's customers, and the four-fifths rule by seeds failed."""

import pandas as pd

from kit.report.data_findings import SEEDS_ON_A_TABLE, data_findings


def _table_study():
    runs = pd.DataFrame(
        [
            {
                "label": lab,
                "approach": lab,
                "seed": s,
                "status": "ok",
                "gain_ope": g,
                "gain_ope_lo": lo,
                "gain_ope_hi": hi,
            }
            for lab, rows in {
                "mass": [(0.0, 0.0, 0.0)] * 3,
                "kmeans": [(1.0, -0.2, 2.2), (1.5, 0.1, 2.9), (2.0, 0.4, 3.6)],
                "gmm": [(0.5, -0.5, 1.5)] * 3,
            }.items()
            for s, (g, lo, hi) in enumerate(rows)
        ]
    )
    summary = pd.DataFrame(
        {
            "label": ["mass", "kmeans", "gmm"],
            "approach": ["mass", "kmeans", "gmm"],
            "runs": [3, 3, 3],
            "gain_ope_mean": [0.0, 1.5, 0.5],
            "gain_ope_min": [0.0, 1.0, 0.5],
            "gain_ope_max": [0.0, 2.0, 0.5],
            "four_fifths_fail_failed_seeds": [3, 0, 1],
        }
    )
    return summary, runs


def test_best_gain_carries_the_runs_interval_over_customers_and_the_spread_over_seeds():
    summary, runs = _table_study()
    first = data_findings(summary, runs)[0]
    assert first == (
        "Highest estimated gain among feasible settings: kmeans, +1.50 net value per customer over mass "
        "(off-policy estimate); 95% bootstrap interval over the table's customers +0.10 to +2.90 (median ends "
        "over 3 seed(s)), above zero in 2 of 3; over 3 seeds it ranges +1.00 to +2.00."
    )
    # Without the runs the sentence still stands, without the interval.
    assert data_findings(summary)[0].startswith("Highest estimated gain among feasible settings: kmeans, +1.50 ")


def test_four_fifths_rule_is_counted_in_seeds_and_no_dead_epsilon_sentence():
    summary, runs = _table_study()
    found = data_findings(summary, runs)
    assert found[-1] == (
        "Four-fifths rule (a protected column's DI outside 0.8–1.25), failed in every seed: mass; "
        "in some seeds only: gmm (1 of 3)."
    )
    assert not any("at least one seed" in f or "What ε costs" in f for f in found)


def test_seeds_are_said_not_to_be_worlds():
    assert "a seed draws no new customers" in SEEDS_ON_A_TABLE
