"""Report logic on hand-made results (no papermill): summaries, Pareto sets, findings, suppression."""

import math

import numpy as np
import pandas as pd
import pytest

from kit.report.findings import feasible, headline_findings, privacy_findings, worst_cells
from kit.report.groups import pivot_by_group
from kit.report.summaries import comparisons, pareto_front, summarise


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


def test_summary_intervals_are_over_worlds():
    s = summarise(_results()).set_index("label")
    # kmeans: gain 0.5 and 0.7 in two worlds -> mean 0.6 -/+ t(0.975, 1) * sd / sqrt(2)
    half = 12.706204736174698 * np.std([0.5, 0.7], ddof=1) / math.sqrt(2)
    assert (s.loc["kmeans", "gain_share_lo"], s.loc["kmeans", "gain_share_hi"]) == pytest.approx(
        (0.6 - half, 0.6 + half)
    )
    # The same value in every world (rfm's gain; epsilon = inf) is its own interval.
    assert s.loc["rfm", "gain_share_lo"] == s.loc["rfm", "gain_share_hi"] == 0.3
    assert s.loc["rfm", "epsilon_lo"] == math.inf


def _worlds(n=20, seed=0):
    """Hand-made results over n worlds. kmeans(n_clusters=6) is the reference; kmeans(n_clusters=8)
    gains 0.05 more in every world (+ small noise); fair_targeting's gain differs by noise only and it
    fixes di_older; rfm profiles customers without consent; mass fails the four-fifths rule only
    over everyone (the cap's exclusions included)."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(n):
        level = rng.normal(0.5, 0.15)
        for label, approach, gain, di, di_all, consent in [
            ("mass", "mass", 0.0, 1.0 + rng.normal(0, 0.02), 0.6, 0),
            ("oracle", "oracle", 1.0, 0.9, 0.6, 0),
            ("kmeans(n_clusters=6)", "kmeans", level, 0.7 + rng.normal(0, 0.02), 0.5, 0),
            ("kmeans(n_clusters=8)", "kmeans", level + 0.05 + rng.normal(0, 0.01), 0.7, 0.5, 0),
            ("fair_targeting", "fair_targeting", level + rng.normal(0, 0.02), 0.95 + rng.normal(0, 0.02), 0.7, 0),
            ("rfm", "rfm", level - 0.2, 1.0, 0.6, 3),
        ]:
            rows.append(
                {
                    "run_id": f"{label}-{w}",
                    "label": label,
                    "approach": approach,
                    "seed": w,
                    "status": "ok",
                    "gain_share": gain,
                    "di_older": di,
                    "di_older_all": di_all,
                    "di_gender": 1.0 + rng.normal(0, 0.01),
                    "cap_excluded_older": 0.4,
                    "balance_older": 0.1,
                    "consent_violations": consent,
                    "fatigue_violations": 0,
                    "undescribed_segments": 0,
                }
            )
    return pd.DataFrame(rows)


def test_comparisons_are_paired_with_the_reference():
    c = comparisons(_worlds(), "kmeans(n_clusters=6)")
    assert set(c["setting"]) == set(_worlds()["label"]) and (c["n_worlds"] == 20).all()
    g = c[c["metric"] == "gain_share"].set_index("setting")
    assert (
        g.loc["kmeans(n_clusters=8)", "diff_lo"] > 0.03
        and g.loc["fair_targeting", "diff_lo"] < 0 < g.loc["fair_targeting", "diff_hi"]
    )
    assert {"gain_share", "di_older", "di_gender", "unfairness_older"} <= set(c["metric"])


def test_findings_claim_only_what_the_worlds_support():
    r = _worlds()
    s = summarise(r)
    ref = "kmeans(n_clusters=6)"
    text = " ".join(headline_findings(s, comparisons(r, ref), ref))
    # The best feasible setting: kmeans(8) (rfm is infeasible; the oracle never counts).
    assert (
        "Highest mean gain among feasible settings (passing the consent, contact-cap and description checks in "
        "every world): kmeans(n_clusters=8)" in text
    )
    assert "Not feasible (an ethics check fails in some world): rfm (consent_violations)." in text
    assert (
        "Gain share against kmeans(n_clusters=6), paired by world: higher for kmeans(n_clusters=8) +4.8 points" in text
    )
    assert "not distinguishable from kmeans(n_clusters=6) over 20 worlds for fair_targeting" in text
    assert (
        "What fair_targeting changes against kmeans(n_clusters=6) over 20 worlds: segment balance (older) "
        "+0.000 (95% interval +0.000 to +0.000), not distinguishable from kmeans(n_clusters=6); DI older +0.2" in text
    )
    # Four-fifths: who fails in most worlds, and where the cap rather than the approach is the cause.
    assert (
        "Four-fifths rule, older vs younger customers (among contact-eligible customers): fails in most worlds "
        "for kmeans(n_clusters=6) in 20 of 20 worlds (DI 0.699 (95% interval 0.689–0.709): older customers offered less)"
        in text
    )
    assert ": older customers offered less)" in text
    assert (
        "Four-fifths rule, women vs men (among contact-eligible customers): no setting fails it in most worlds." in text
    )
    assert (
        "the rule would also fail in most worlds for mass, oracle, fair_targeting, rfm: there the cap, a wellbeing protection, "
        "not the approach, makes the gap." in text
    )


def test_feasible_means_every_ethics_check_in_every_world():
    s = summarise(_worlds()).set_index("label")
    f = feasible(s.reset_index()).to_numpy()
    assert dict(zip(s.index, f)) == {
        "mass": True,
        "oracle": False,
        "kmeans(n_clusters=6)": True,
        "kmeans(n_clusters=8)": True,
        "fair_targeting": True,
        "rfm": False,
    }


def test_worst_cells_counts_the_lowest_cell_per_world():
    t = pd.DataFrame(
        {
            "label": ["a"] * 6,
            "seed": [0, 0, 1, 1, 2, 2],
            "age_band": ["75+", "18-24"] * 3,
            "gender": ["male"] * 6,
            "offer_rate": [0.2, 0.5, 0.3, 0.4, 0.6, np.nan],
        }
    )
    assert worst_cells(t) == {"a": ("75+ / male", 3)}


def test_runs_ignoring_consent_are_infeasible():
    r = _results()
    extra = r[r["label"] == "kmeans"].assign(label="kmeans (ignoring consent)", gain_share=0.9, consent_violations=3000)
    r = pd.concat([r.assign(consent_violations=0), extra], ignore_index=True)
    text = " ".join(headline_findings(summarise(r)))
    assert "Highest mean gain among feasible settings" in text and "): kmeans, 60.0%" in text
    assert "Not feasible (an ethics check fails in some world): kmeans (ignoring consent) (consent_violations)." in text


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
    assert (
        "the others' highest bound over the seeds: dp_kmeans 0.00 (formal ε 1.00): the audit proves no leak for "
        "them, as their formal ε allows (it proves lower bounds only)." in text
    )


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


def test_a_sweep_is_summarised_and_compared_condition_by_condition():
    a, b = _worlds(6), _worlds(6, seed=1)
    a["proxy_strength"], b["proxy_strength"] = 0.0, 1.0
    b.loc[b["label"] == "kmeans(n_clusters=8)", "gain_share"] -= 0.3  # worse than the reference at strength 1
    r = pd.concat([a, b], ignore_index=True)
    s = summarise(r)
    assert "kmeans(n_clusters=8) (proxy_strength=0.000)" in set(s["label"]) and len(s) == 12
    ref = "kmeans(n_clusters=6)"
    text = " ".join(headline_findings(s, comparisons(r, ref), ref))
    assert (
        "kmeans(n_clusters=8)'s gain share against kmeans(n_clusters=6), paired over 6 worlds each: "
        "proxy_strength=0.000: +4." in text
    )
    assert "; proxy_strength=1.000: -2" in text
    assert "Gain share against" not in text  # no sentence mixes the conditions


def test_four_fifths_finding_condenses_many_failures_and_says_when_the_oracle_fails_too():
    """19 failing settings once made one sentence each; past MAX_LISTED_FAILURES the finding names them
    and gives the range, and a failing oracle says part of the gap is who truly benefits."""
    from kit.report.findings import MAX_LISTED_FAILURES, ORACLE_FAILS_TOO, four_fifths_sentences

    n = MAX_LISTED_FAILURES + 1
    labels = ["oracle", *(f"kmeans(n_clusters={k})" for k in range(2, 2 + n))]
    rows = []
    for i, label in enumerate(labels):
        for seed, di in enumerate([0.5 + 0.01 * i, 0.6 + 0.01 * i]):
            rows.append(
                {
                    "run_id": f"{label}{seed}",
                    "label": label,
                    "approach": label.split("(")[0],
                    "seed": seed,
                    "status": "ok",
                    "gain_share": 0.5,
                    "di_age_gender": di,
                }
            )
    text = " ".join(four_fifths_sentences(summarise(pd.DataFrame(rows))))
    assert (
        f"fails in most worlds for {n + 1} of {n + 1} settings ({', '.join(labels)}); their mean DI ranges from "
        "0.550 to 0.610, lowest for oracle (DI 0.550" in text
    )
    assert text.endswith(ORACLE_FAILS_TOO.strip())


def test_a_study_sweeping_a_policy_knob_is_compared_within_each_value():
    """harm_cap is a policy knob, not a population knob: comparisons (and the summary) must pair each
    setting with the reference at the same cap. Hand-computed: at cap inf kmeans(8) is +0.05 over the
    reference in every world, at cap 0 it is -0.10; pooled over both caps the old rule paired each
    world's two kmeans(8) runs with two reference runs and reported neither number."""
    rows = []
    for w in range(5):
        for cap, ref_gain, k8_gain in [
            (float("inf"), 0.5 + 0.01 * w, 0.55 + 0.01 * w),
            (0.0, 0.3 + 0.01 * w, 0.2 + 0.01 * w),
        ]:
            for label, gain in [("kmeans(n_clusters=6)", ref_gain), ("kmeans(n_clusters=8)", k8_gain)]:
                rows.append(
                    {
                        "run_id": f"{label}{w}{cap}",
                        "label": label,
                        "approach": "kmeans",
                        "seed": w,
                        "status": "ok",
                        "harm_cap": cap,
                        "gain_share": gain,
                    }
                )
    c = comparisons(pd.DataFrame(rows), "kmeans(n_clusters=6)", metrics=["gain_share"])
    k8 = c[c["setting"] == "kmeans(n_clusters=8)"].set_index("harm_cap")
    assert list(c.columns[:2]) == ["setting", "harm_cap"]
    assert k8.loc[float("inf"), "diff_mean"] == pytest.approx(0.05) and k8.loc[0.0, "diff_mean"] == pytest.approx(-0.10)
    assert (k8["n_worlds"] == 5).all() and (
        k8["diff_hi"] - k8["diff_lo"] < 1e-9
    ).all()  # no spread: the same gap each world
    s = summarise(pd.DataFrame(rows))
    assert "kmeans(n_clusters=8) (harm_cap=0.000)" in set(s["label"])


def test_one_world_says_there_is_no_interval_instead_of_printing_nan():
    """The smoke study has one seed: its findings read '(95% interval +nan to +nan)' and
    '30.5% (95% interval 30.5–30.5%)'."""
    from kit.report.findings import NO_INTERVAL, diff_text, level_text

    row = {"diff_mean": 0.305, "diff_lo": float("nan"), "diff_hi": float("nan")}
    assert diff_text(row, pct=True) == f"+30.5 points {NO_INTERVAL}"
    one = {"gain_share_n": 1, "gain_share_mean": 0.305, "gain_share_lo": 0.305, "gain_share_hi": 0.305}
    assert level_text(one, "gain_share", pct=True) == f"30.5% {NO_INTERVAL}"
    two = {**one, "gain_share_n": 2, "gain_share_lo": 0.2, "gain_share_hi": 0.4}
    assert level_text(two, "gain_share", pct=True) == "30.5% (95% interval 20.0–40.0%)"
