"""`experiment.measure` on whole runs: every metric present, documented and reproducible; tables with no
small cells; saved decisions that recompute the fairness numbers; known properties of the truth."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

from kit.measures import MIN_CELL
from kit.records import load_metrics
from kit.run import run_experiment, save_run, validate_run

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_METRICS = {
    "value_policy",
    "value_mass",
    "value_oracle",
    "gain_share",
    "gain_share_lo",
    "gain_share_hi",
    "offer_rate",
    "epsilon",
    "n_released_segments",
    "min_segment_size",
    "reid_rate",
    "reid_rate_base",
    "min_audience_class",
    "mia_audit_eps_lb",
    "mia_audit_trials",
    "tracing_advantage",
    *(f"attr_inference_{m}_{a}" for a in ("older", "gender") for m in ("lift", "r_attack", "r_base")),
    *(f"attr_inference_lift_{a}_{e}" for a in ("older", "gender") for e in ("lo", "hi")),
    *(f"{m}_{a}" for m in ("spd", "di", "eod", "aod", "balance") for a in ("older", "gender")),
    *(f"{m}_age_gender" for m in ("spd", "di", "eod")),
    "cap_excluded_older",
    "di_older_all",
    "consent_violations",
    "fatigue_violations",
    "undescribed_segments",
    "four_fifths_fail",
    "intrusiveness",
    "harm_low_income",
    "harm_older",
    "value_longrun",
    "churn_rate",
    "optout_rate",
    "trust_end",
    *(f"{m}_{g}" for m in ("value_longrun", "churn_rate", "optout_rate") for g in ("older", "low_income")),
    "purpose_violations",
    "notice_reading_ease",
    "notice_truthful",
    # off-policy estimates from the campaign log (kit.run.offpolicy), checked against the truth above
    *(f"value_{r}_ope{e}" for r in ("policy", "mass", "oracle") for e in ("", "_lo", "_hi")),
    *(f"value_policy_{m}{e}" for m in ("ips", "snips") for e in ("", "_lo", "_hi")),
    *(f"{g}{e}" for g in ("gain_ope", "gain_oracle_ope", "gain_share_ope") for e in ("", "_lo", "_hi")),
}


def same(a: dict, b: dict) -> bool:
    """Equal bit for bit, nan equal to nan."""
    return a.keys() == b.keys() and all(
        (x == y) or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a.values(), b.values())
    )


@pytest.fixture(scope="module")
def kmeans_run():
    return run_experiment(validate_run({"approach": "kmeans", "n_customers": 4000, "seed": 11}))


def test_every_metric_is_there(kmeans_run):
    assert set(kmeans_run.metrics) == EXPECTED_METRICS
    for k, v in kmeans_run.metrics.items():
        assert isinstance(v, (int, float)) and not isinstance(v, bool), k


def test_every_metric_is_documented_in_the_readme(kmeans_run):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The measurements", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    missing = set(kmeans_run.metrics) - documented
    assert not missing, f"metrics missing from the README's measurements table: {sorted(missing)}"


def test_metrics_are_sane(kmeans_run):
    m = kmeans_run.metrics
    assert m["gain_share_lo"] <= m["gain_share"] <= m["gain_share_hi"]
    assert 0 <= m["reid_rate_base"] <= m["reid_rate"] <= 1  # a label can only split cells
    assert m["mia_audit_trials"] == 28 and m["mia_audit_eps_lb"] == pytest.approx(1.20, abs=0.01)  # exact release
    assert -1 <= m["tracing_advantage"] <= 1 and m["min_audience_class"] >= 1
    for a in ("older", "gender"):
        assert m[f"attr_inference_lift_{a}_lo"] <= m[f"attr_inference_lift_{a}"] <= m[f"attr_inference_lift_{a}_hi"]
        assert 0 <= m[f"balance_{a}"] <= 1


def test_measure_is_reproducible_bit_for_bit(kmeans_run):
    again = run_experiment(kmeans_run.params)
    assert same(again.metrics, kmeans_run.metrics)
    for name, table in kmeans_run.tables.items():
        pd.testing.assert_frame_equal(table, again.tables[name], check_exact=True)


def test_tables_are_returned_without_small_cells(kmeans_run):
    t = kmeans_run.tables
    assert {"by_age_band_gender", "by_older", "gain_by_group", "fairness_by_age_band_gender"} <= set(t)
    for name, table in t.items():
        assert len(table) and (table["customers"] >= MIN_CELL).all(), name
    g = t["gain_by_group"]
    assert set(g["grouping"]) == {"all", "age band", "gender", "older x gender"}
    assert g.iloc[0]["gain_share"] == kmeans_run.metrics["gain_share"]
    assert t["fairness_by_age_band_gender"]["di_vs_best"].max() == 1.0


def test_min_cell_suppresses_small_groups():
    # 1,000 customers: ~500 held out, a few in the smallest age band x gender cells.
    run = run_experiment(validate_run({"approach": "kmeans", "n_customers": 1000, "seed": 2, "older_share": 0.05}))
    hold = run.population.holdout
    sizes = hold.groupby(["age_band", "gender"], observed=True).size()
    assert (sizes < MIN_CELL).any()  # the case is real
    shown = run.tables["fairness_by_age_band_gender"]
    assert len(shown) == int((sizes >= MIN_CELL).sum())
    assert (run.tables["gain_by_group"]["customers"] >= MIN_CELL).all()


def test_reference_points_truth(kmeans_run):
    params = kmeans_run.params
    oracle = run_experiment(
        validate_run({**params.as_dict(), "approach": "oracle", "approach_params": {}, "respect_consent": False})
    )
    m = oracle.metrics
    assert m["gain_share"] == 1.0 and m["gain_share_lo"] == 1.0 and m["gain_share_hi"] == 1.0
    mass = run_experiment(validate_run({**params.as_dict(), "approach": "mass", "approach_params": {}}))
    m = mass.metrics
    assert m["gain_share"] == 0.0 and m["reid_rate"] == m["reid_rate_base"]
    assert m["tracing_advantage"] == 0.0 and m["attr_inference_lift_gender"] == 0.0
    assert m["n_released_segments"] == 1


def test_segments_reveal_gender_only_when_behaviour_does():
    # Known property of the generator: with proxy_strength 0 behaviour says nothing of gender, so
    # neither do segments of behaviour; at 1 it does.
    def run(proxy):
        p = {"approach": "kmeans", "n_customers": 8000, "seed": 5, "proxy_strength": proxy}
        return run_experiment(validate_run(p)).metrics

    blind, proxied = run(0.0), run(1.0)
    # Blind: the interval on the lift holds 0; proxied: it lies above 0.
    assert blind["attr_inference_lift_gender_lo"] < 0.0 < blind["attr_inference_lift_gender_hi"]
    assert proxied["attr_inference_lift_gender_lo"] > 0.0
    assert blind["balance_gender"] > 0.6 > proxied["balance_gender"]


def test_saved_decisions_recompute_the_fairness_metrics(kmeans_run, tmp_path):
    save_run(kmeans_run, tmp_path)
    dec = pd.read_parquet(tmp_path / "decisions.parquet")
    saved = load_metrics(tmp_path / "metrics.json")["metrics"]
    assert list(dec.columns) == [
        "customer_id",
        "older",
        "gender",
        "segment",
        "action",
        "eligible",
        "offered",
        "beneficial",
        "helps",
    ]
    assert len(dec) == len(kmeans_run.population.holdout)
    assert not (dec["offered"] & ~dec["eligible"]).any() and not (dec["beneficial"] & ~dec["offered"]).any()
    el = dec[dec["eligible"]]
    for attr, unpriv in (("older", el["older"].to_numpy()), ("gender", (el["gender"] == "female").to_numpy())):
        sr = MetricFrame(metrics=selection_rate, y_true=el["helps"], y_pred=el["offered"], sensitive_features=unpriv)
        tpr = MetricFrame(
            metrics=true_positive_rate, y_true=el["helps"], y_pred=el["beneficial"], sensitive_features=unpriv
        )
        fpr = MetricFrame(
            metrics=false_positive_rate, y_true=el["helps"], y_pred=el["offered"], sensitive_features=unpriv
        )
        sr, tpr, fpr = sr.by_group, tpr.by_group, fpr.by_group
        assert abs(saved[f"spd_{attr}"] - (sr[True] - sr[False])) < 1e-9
        assert abs(saved[f"di_{attr}"] - sr[True] / sr[False]) < 1e-9
        assert abs(saved[f"eod_{attr}"] - (tpr[True] - tpr[False])) < 1e-9
        aod = ((fpr[True] - fpr[False]) + (tpr[True] - tpr[False])) / 2
        assert abs(saved[f"aod_{attr}"] - aod) < 1e-9
    # Over everyone, the contact cap's exclusions included.
    rates = dec.groupby("older")["offered"].mean()
    assert abs(saved["di_older_all"] - rates[True] / rates[False]) < 1e-12
    assert saved["offer_rate"] == dec["offered"].mean()
    assert np.isclose(saved["balance_older"], _balance(dec["segment"], dec["older"]), rtol=0, atol=1e-12)


def _balance(segment: pd.Series, group: pd.Series) -> float:
    """Chierichetti et al.'s balance, written out with pandas (independent of the kit's)."""
    ct = pd.crosstab(segment, group)
    return float(min(min(r[True] / r[False], r[False] / r[True]) if r.min() > 0 else 0.0 for _, r in ct.iterrows()))


def test_harm_cap_lowers_harm_and_default_is_no_cap(kmeans_run):
    m = kmeans_run.metrics
    assert validate_run({"approach": "kmeans"}).harm_cap == math.inf
    assert m["intrusiveness"] > 0 and m["harm_older"] > 0 and m["harm_low_income"] > 0
    capped = run_experiment(validate_run({"approach": "kmeans", "n_customers": 4000, "seed": 11, "harm_cap": 0.0}))
    # The cap works on estimates; with cap 0 no vulnerable customer gets an action estimated to raise spending.
    assert capped.metrics["harm_older"] < 0.5 * m["harm_older"]
    assert capped.metrics["harm_low_income"] < 0.5 * m["harm_low_income"]
    assert (capped.decisions["blocked"] == "harm_cap").any()
