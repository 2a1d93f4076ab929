"""Notices per run, purpose limitation and what each approach reads (`columns_read_`)."""

import numpy as np
import pandas as pd
import pytest

from kit.features import masked_columns, purpose_view
from kit.population import make_population
from kit.run import run_experiment, validate_run
from kit.run.notices import notice_text, segment_notices
from kit.segmenters import REGISTRY, make_segmenter
from kit.vocabulary import FIRM_COLUMNS


@pytest.fixture(scope="module")
def pop():
    return make_population(4000, random_state=11)


def test_masked_columns_follow_the_declared_purposes():
    assert masked_columns("marketing", True) == ("income_band",)  # collected for credit checks only
    assert masked_columns("marketing", False) == ()
    hidden = set(masked_columns("credit_check", True))
    assert {"recency_days", "age", "gender", "channel"} <= hidden and "income_band" not in hidden


def test_purpose_view_hides_a_column_and_nothing_else(pop):
    c = pop.customers
    view = purpose_view(c, ("income_band",))
    assert view["income_band"].nunique() == 1 and view["income_band"].dtype == c["income_band"].dtype
    others = [col for col in c.columns if col != "income_band"]
    pd.testing.assert_frame_equal(view[others], c[others])
    assert c["income_band"].nunique() > 1  # the original is untouched


@pytest.mark.parametrize("approach", [a for a in REGISTRY if a != "oracle"])
def test_columns_read_are_all_an_approach_reads(approach, pop):
    """Scramble every firm column an approach says it does not read: its segments do not change."""
    h = pop.history
    seg = make_segmenter(approach, random_state=0).fit(h)
    rng = np.random.default_rng(0)
    scrambled = h.copy()
    for col in set(FIRM_COLUMNS) - set(seg.columns_read_) - {"customer_id", "in_campaign"}:
        scrambled[col] = scrambled[col].to_numpy()[rng.permutation(len(h))]
    again = make_segmenter(approach, random_state=0).fit(scrambled)
    assert np.array_equal(seg.labels_, again.labels_), approach


@pytest.mark.parametrize("approach", ["mass", "kmeans", "unaware", "rfm", "kanon", "fair_targeting"])
def test_every_notice_is_truthful_and_readable(approach):
    r = run_experiment(validate_run({"approach": approach, "n_customers": 4000, "seed": 3}))
    notices = r.tables["notices"]
    assert notices["truthful"].all() and r.metrics["notice_truthful"] == 1.0
    assert r.metrics["notice_reading_ease"] >= 60
    assert notices["customers"].sum() == len(r.population.holdout)  # every customer gets one notice
    assert not notices["notice"].str.contains("income").any()  # hidden from marketing, so never named
    assert r.metrics["purpose_violations"] == 0


def test_ignoring_purpose_counts_the_income_band(pop):
    on = run_experiment(validate_run({"approach": "kmeans", "n_customers": 4000, "seed": 3}))
    off = run_experiment(
        validate_run({"approach": "kmeans", "n_customers": 4000, "seed": 3, "purpose_limitation": False})
    )
    assert on.metrics["purpose_violations"] == 0 and off.metrics["purpose_violations"] == 1
    assert "your income band" in off.tables["notices"]["notice"].iloc[0]
    mass = run_experiment(
        validate_run({"approach": "mass", "n_customers": 4000, "seed": 3, "purpose_limitation": False})
    )
    assert mass.metrics["purpose_violations"] == 0  # reads no personal data at all


def test_a_harm_cap_reads_the_income_band_and_says_so():
    """The harm cap protects low-income customers, so the policy reads the income band, collected for
    credit checks: the notice names it (checked before writing) and it counts as read outside the
    marketing purpose, even when purpose limitation hides it from the approach."""
    base = {"approach": "mass", "n_customers": 4000, "seed": 3}
    uncapped = run_experiment(validate_run(base))
    capped = run_experiment(validate_run({**base, "harm_cap": 20.0}))
    assert uncapped.metrics["purpose_violations"] == 0 and capped.metrics["purpose_violations"] == 1
    assert "your income band" not in uncapped.tables["notices"]["notice"].iloc[0]
    assert "we also checked" in capped.tables["notices"]["notice"].iloc[0]
    assert "your income band" in capped.tables["notices"]["notice"].iloc[0].split("we also checked")[1]
    assert capped.metrics["notice_truthful"] == 1.0


def test_a_notice_that_names_unread_data_is_caught():
    seg = make_segmenter("unaware", random_state=0).fit(make_population(4000, random_state=1).history)
    labels = seg.labels_
    notices = segment_notices(seg, labels, np.ones(len(labels), dtype=bool))
    assert notices["truthful"].all()
    seg.descriptions_ = {s: "10% of customers; mostly women." for s in seg.descriptions_}  # gender was not read
    assert not segment_notices(seg, labels, np.ones(len(labels), dtype=bool))["truthful"].any()


def test_notice_for_customers_not_profiled():
    text = notice_text([], ["consent", "age"], None)
    assert "did not sort you into a group" in text and "your age" in text
