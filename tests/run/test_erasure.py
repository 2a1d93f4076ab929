"""Erasure requests (GDPR art. 17): who is erased, what the firm keeps, what the audit still finds."""

import numpy as np
import pandas as pd
import pytest

from kit.measures.audit import canary_audit, make_canary
from kit.params import ParameterError
from kit.population import make_population
from kit.run import run_experiment, validate_run
from kit.run.erasure import after_erasure, erased_rows, firm_population
from kit.run.pipeline import fit_segmenter
from kit.segmenters import make_segmenter

N = 4000


def _run(**kw):
    return run_experiment(validate_run({"approach": "kmeans", "n_customers": N, "seed": 2, **kw}))


def test_erased_customers_are_a_seeded_share_of_the_campaign_only():
    in_campaign = np.r_[np.ones(600, bool), np.zeros(400, bool)]
    a, b = erased_rows(0.1, in_campaign, 7), erased_rows(0.1, in_campaign, 7)
    assert a.sum() == 60 and not a[~in_campaign].any()  # round(0.1 x 600), never a held-out customer
    assert np.array_equal(a, b)  # the same seed erases the same customers
    assert not np.array_equal(a, erased_rows(0.1, in_campaign, 8))
    assert not erased_rows(0.0, in_campaign, 7).any()


def test_refit_deletes_the_rows_and_none_keeps_them():
    pop = make_population(N, random_state=1)
    gone = erased_rows(0.2, pop.customers["in_campaign"].to_numpy(), 1)
    refit, kept = firm_population(pop, gone, "refit"), firm_population(pop, gone, "none")
    assert kept is pop
    assert len(refit.customers) == len(pop.customers) - gone.sum()
    assert not refit.customers.index.isin(pop.customers.index[gone]).any()
    assert refit.holdout.index.equals(pop.holdout.index)  # the customers measured are the same


def test_refit_fits_as_if_the_erased_customers_had_never_been_there():
    """Exact retraining: the refitted approach equals one fitted on the remaining customers alone."""
    params = validate_run({"approach": "kmeans", "n_customers": N, "seed": 3, "erasure_rate": 0.2})
    pop = make_population(N, random_state=3)
    seg = fit_segmenter(params, pop)
    gone = erased_rows(0.2, pop.customers["in_campaign"].to_numpy(), 3)
    plain = validate_run({"approach": "kmeans", "n_customers": N, "seed": 3})
    never = fit_segmenter(plain, firm_population(pop, gone, "refit"))
    pd.testing.assert_frame_equal(seg.release_["profiles"], never.release_["profiles"])


def test_the_audit_finds_the_erased_canary_when_the_release_is_kept_and_nothing_after_a_refit():
    pop = make_population(N, random_state=4)
    data = pop.history[pop.history["profiling_consent"]].iloc[:800]

    def fit_release(customers, random_state):
        return make_segmenter("kmeans", random_state=random_state, n_clusters=4).fit(customers).release_

    seed = np.random.SeedSequence(5)
    kept = canary_audit(after_erasure(fit_release, "none"), data, make_canary(data), seed, trials=6)
    refit = canary_audit(after_erasure(fit_release, "refit"), data, make_canary(data), seed, trials=6)
    assert kept["tp"] == 6 and kept["fp"] == 0 and kept["mia_audit_eps_lb"] > 0  # the sizes still count it
    assert refit["tp"] == 0 and refit["fp"] == 0 and refit["mia_audit_eps_lb"] == 0.0


def test_a_run_reports_erasure_only_when_someone_asked():
    plain, kept, refit = _run(), _run(erasure_rate=0.1, erasure="none"), _run(erasure_rate=0.1)
    assert "erasure_residual_eps_lb" not in plain.metrics and "erased_customers" not in plain.metrics
    assert (
        kept.metrics["erased_customers"]
        == refit.metrics["erased_customers"]
        == round(0.1 * len(plain.population.history))
    )
    # Keeping the release is the run without erasure, number for number; and it still reveals the erased.
    assert kept.metrics["value_policy"] == plain.metrics["value_policy"]
    assert kept.metrics["erasure_residual_eps_lb"] == kept.metrics["mia_audit_eps_lb"] > 1
    assert refit.metrics["erasure_residual_eps_lb"] == 0.0
    assert refit.metrics["value_policy"] != plain.metrics["value_policy"]  # the refit changed the segments


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"erasure_rate": 0.95}, "parameters.erasure_rate: 0.95 is out of range; expected a number >= 0 and <= 0.9"),
        ({"erasure": "forget"}, "parameters.erasure: 'forget' is not allowed; expected one of 'refit', 'none'"),
        (
            {"erasure_rate": 0.1, "horizon": 3},
            "parameters.erasure_rate: erasure requests are modelled for a single campaign on the generator's "
            "population; with horizon > 1 use erasure_rate 0",
        ),
    ],
)
def test_bad_erasure_parameters_are_named(kw, message):
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "kmeans", **kw})
    assert str(e.value) == message
