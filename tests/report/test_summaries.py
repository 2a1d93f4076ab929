"""Report logic on hand-made results (no papermill): summaries, Pareto sets, findings, suppression."""

import math

import pandas as pd

from kit.report.groups import pivot_by_group
from kit.report.summaries import efficiency, headline_findings, pareto_front, privacy_findings, summarise


def _results():
    rows = []
    for label, approach, gains, dis, mias in [
        ("mass", "mass", [0.0, 0.0], [0.6, 0.8], [0.0, 0.0]),
        ("kmeans", "kmeans", [0.5, 0.7], [0.7, 0.9], [0.10, 0.14]),
        ("rfm", "rfm", [0.3, 0.3], [0.5, 0.5], [0.20, 0.20]),
        ("oracle", "oracle", [1.0, 1.0], [0.7, 0.7], [0.3, 0.3]),
    ]:
        for seed, (g, d, m) in enumerate(zip(gains, dis, mias)):
            rows.append(
                {
                    "run_id": f"{label}{seed}",
                    "label": label,
                    "approach": approach,
                    "seed": seed,
                    "status": "ok",
                    "gain_share": g,
                    "di_older": d,
                    "tracing_advantage": m,
                    "epsilon": math.inf,
                    "four_fifths_fail": int(d < 0.8),
                }
            )
    rows.append({"run_id": "x", "label": "kmeans", "approach": "kmeans", "seed": 9, "status": "failed"})
    return pd.DataFrame(rows)


def test_summarise_means_ranges_and_skips_failures():
    s = summarise(_results()).set_index("label")
    assert s.loc["kmeans", "runs"] == 2
    assert s.loc["kmeans", "gain_share_mean"] == 0.6
    assert (s.loc["kmeans", "gain_share_min"], s.loc["kmeans", "gain_share_max"]) == (0.5, 0.7)
    assert math.isclose(s.loc["mass", "unfairness_older_mean"], 0.3)
    assert s.loc["mass", "four_fifths_fail_max"] == 1


def test_pareto_front_hand_computed():
    s = summarise(_results())
    # rfm: less gain than kmeans at more membership advantage -> dominated.
    assert pareto_front(s, "gain_share", "tracing_advantage") == {"mass", "kmeans", "oracle"}
    # unfairness |1-DI|: mass 0.3, kmeans 0.2, rfm 0.5, oracle 0.3 -> mass and rfm dominated by kmeans.
    assert pareto_front(s, "gain_share", "unfairness_older") == {"kmeans", "oracle"}


def test_efficiency_gain_per_unit_cost():
    eff = efficiency(summarise(_results()), "tracing_advantage").set_index("label")
    assert math.isclose(eff.loc["kmeans", "per_unit"], 0.6 / 0.12)
    assert math.isclose(eff.loc["rfm", "per_unit"], 0.3 / 0.20)
    assert "oracle" not in eff.index and "mass" not in eff.index


def test_findings_are_written_from_results():
    text = " ".join(headline_findings(summarise(_results())))
    assert "Highest gain among feasible approaches: kmeans, reaching 60.0%" in text
    assert "Most gain per unit of membership tracing advantage given up (vs mass): kmeans, 5.00" in text
    assert "Failing the four-fifths rule in at least one seed: mass, kmeans, rfm, oracle." in text


def test_runs_ignoring_consent_are_infeasible():
    r = _results()
    extra = r[r["label"] == "kmeans"].assign(label="kmeans (ignoring consent)", gain_share=0.9, consent_violations=3000)
    r = pd.concat([r.assign(consent_violations=0), extra], ignore_index=True)
    text = " ".join(headline_findings(summarise(r)))
    assert "Highest gain among feasible approaches: kmeans, reaching 60.0%" in text
    assert "kmeans (ignoring consent)" not in set(efficiency(summarise(r), "tracing_advantage")["label"])


def test_privacy_findings_from_results():
    r = _results().assign(consent_violations=0, mia_audit_eps_lb=1.2, min_audience_class=1, reid_rate=0.4)
    extra = [
        r[r["label"] == "kmeans"].assign(label="kmeans (ignoring consent)", gain_share=0.8, consent_violations=3000),
        r[r["label"] == "kmeans"].assign(label="kanon(k=50)", approach="kanon", min_audience_class=57, reid_rate=0.0),
        r[r["label"] == "kmeans"].assign(label="dp_kmeans", approach="dp_kmeans", mia_audit_eps_lb=0.0, epsilon=1.0),
    ]
    text = " ".join(privacy_findings(summarise(pd.concat([r, *extra], ignore_index=True))))
    assert (
        "Infeasible: kmeans (ignoring consent) profiles 3000 held-out customers without profiling consent for "
        "80.0% of the oracle's gain (+20.0 points over kmeans, which respects it)." in text
    )
    assert "k-anonymous audience files: kanon(k=50) 60.0% gain, smallest class 57, re-identification 0.0%." in text
    assert "6 setting(s) show ε ≥ 1.20 in every seed" in text
    assert "below that: dp_kmeans ≤ 0.00 (formal ε 1.00)." in text


def test_small_cells_suppressed():
    stacked = pd.DataFrame(
        {
            "label": ["a", "a", "a"],
            "seed": [0, 0, 1],
            "age_band": ["75+", "18-24", "75+"],
            "gender": ["female"] * 3,
            "customers": [9, 50, 12],
            "offer_rate": [0.9, 0.5, 0.4],
        }
    )
    p = pivot_by_group(stacked, ["age_band", "gender"], "offer_rate", ["a"])
    assert p.loc["a", "18-24 / female"] == 0.5
    assert p.loc["a", "75+ / female"] == 0.4  # the 9-customer cell of seed 0 is left out of the mean
