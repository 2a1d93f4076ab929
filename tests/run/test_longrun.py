"""The multi-period trust simulation: horizon 1 is today's campaign, the trust rules on hand cases,
and the properties the design promises (no trust response: the same churn for every approach)."""

import math

import numpy as np
import pytest

from kit.params import RUN_SPECS
from kit.run import run_experiment, validate_run
from kit.run.longrun import TRUST_KNOBS, TrustModel

LONGRUN_METRICS = {
    "value_longrun",
    "churn_rate",
    "optout_rate",
    "trust_end",
    *(f"{m}_{g}" for m in ("value_longrun", "churn_rate", "optout_rate") for g in ("older", "low_income")),
}


def run(approach="kmeans", **kw):
    return run_experiment(validate_run({"approach": approach, "n_customers": 3000, "seed": 5, **kw}))


def same(x, y):
    return x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))


def test_every_knob_is_a_run_parameter_and_the_default_model_matches():
    assert set(TRUST_KNOBS) <= set(RUN_SPECS)
    assert RUN_SPECS["horizon"].default == 1
    defaults = TrustModel.from_params(validate_run({"approach": "mass"}))
    assert defaults == TrustModel()


def test_horizon_one_is_the_single_campaign():
    one, three = run(horizon=1), run(horizon=3)
    assert one.metrics["value_longrun"] == one.metrics["value_policy"]
    assert LONGRUN_METRICS <= set(one.metrics)
    # Later periods change nothing of period 1: every other metric is the same bit for bit.
    for k, v in one.metrics.items():
        if k not in LONGRUN_METRICS:
            assert same(v, three.metrics[k]), k
    assert len(one.tables["longrun_by_period"]) == 1 and len(three.tables["longrun_by_period"]) == 3
    assert three.metrics["value_longrun"] > one.metrics["value_longrun"]


def test_without_trust_response_every_approach_loses_the_same_customers():
    res = {a: run(a, horizon=4, trust_sensitivity=0.0).metrics for a in ("mass", "kmeans", "oracle", "fair_targeting")}
    churn = {a: m["churn_rate"] for a, m in res.items()}
    assert len(set(churn.values())) == 1 and churn["mass"] > 0  # base churn, common random numbers
    assert all(m["optout_rate"] == 0.0 and m["trust_end"] == 1.0 for m in res.values())
    assert len({m["churn_rate_older"] for m in res.values()}) == 1


def test_trust_response_raises_churn_and_lowers_value():
    calm, touchy = run(horizon=4, trust_sensitivity=0.0), run(horizon=4, trust_sensitivity=0.3)
    assert touchy.metrics["churn_rate"] > calm.metrics["churn_rate"]
    assert touchy.metrics["optout_rate"] > 0 and touchy.metrics["trust_end"] < 1
    assert touchy.metrics["value_longrun"] < calm.metrics["value_longrun"]


def test_run_is_reproducible_bit_for_bit():
    a, b = run(horizon=3), run(horizon=3)
    assert all(same(v, b.metrics[k]) for k, v in a.metrics.items())


def test_update_trust_hand_computed():
    m = TrustModel(trust_sensitivity=0.1, contact_tolerance=3, intrusion_weight=5.0, trust_recovery=0.5)
    trust = np.array([1.0, 1.0, 0.6, 0.6, 0.05])
    contacted = np.array([True, True, False, True, True])
    window = np.array([5, 2, 9, 3, 9])
    bits = np.array([0.0, 0.2, 0.9, 0.0, 0.0])
    # 0: 2 contacts over -> 1 - 0.2 = 0.8; 1: 0.2 bits x 5 = 1 -> 0.9; 2: not contacted, recovers 0.6 + 0.5 * 0.4;
    # 3: at tolerance -> 0.6 + 0.2; 4: 6 over -> 0.05 - 0.6 + 0.475 < 0 -> 0.
    assert m.update_trust(trust, contacted, window, bits) == pytest.approx([0.8, 0.9, 0.8, 0.8, 0.0])
    noticed = TrustModel(trust_sensitivity=0.0, notice_effect=0.1, trust_recovery=0.0)
    assert noticed.update_trust(
        np.array([0.5, 0.5]), np.array([True, False]), np.array([0, 0]), np.zeros(2)
    ).tolist() == [
        0.6,
        0.5,
    ]


def test_react_hand_computed():
    m = TrustModel(base_churn=0.1, distrust_churn=0.4, distrust_optout=0.5)
    trust = np.array([1.0, 0.5, 0.5, 0.0])
    churn, optout = m.react(trust, np.array([0.05, 0.25, 0.35, 0.9]), np.array([0.0, 0.3, 0.2, 0.4]))
    # churn below 0.1 + 0.4 * (1 - trust): 0.1, 0.3, 0.3, 0.5; opt-out below 0.5 * (1 - trust) if staying.
    assert churn.tolist() == [True, True, False, False]
    assert optout.tolist() == [False, False, True, True]


@pytest.mark.slow
def test_churn_rises_with_trust_sensitivity_over_ten_worlds():
    churn = {
        s: np.mean(
            [
                run_experiment(
                    validate_run(
                        {"approach": "kmeans", "n_customers": 2000, "seed": w, "horizon": 4, "trust_sensitivity": s}
                    )
                ).metrics["churn_rate"]
                for w in range(10)
            ]
        )
        for s in (0.0, 0.1, 0.3)
    }
    assert churn[0.0] < churn[0.1] < churn[0.3]


def test_truthful_notices_move_trust_only_when_truthful():
    m = TrustModel(trust_sensitivity=0.0, notice_effect=0.2, trust_recovery=0.0)
    got = m.update_trust(
        np.full(3, 0.5), np.array([True, True, False]), np.zeros(3), np.zeros(3), np.array([True, False, True])
    )
    assert got.tolist() == [0.7, 0.5, 0.5]
    base = run(horizon=3, trust_sensitivity=0.3)
    noticed = run(horizon=3, trust_sensitivity=0.3, notice_effect=0.2)
    assert base.metrics["notice_truthful"] == 1.0  # the kit's notices name what was read
    assert noticed.metrics["trust_end"] > base.metrics["trust_end"]
    assert noticed.metrics["value_policy"] == base.metrics["value_policy"]


def test_retention_window_holds_in_every_period():
    one, three = run(horizon=1, retention_days=90), run(horizon=3, retention_days=90)
    for k, v in one.metrics.items():
        if k not in LONGRUN_METRICS:
            assert same(v, three.metrics[k]), k
    assert three.metrics["value_longrun"] > one.metrics["value_longrun"]
