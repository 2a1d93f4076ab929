"""Dated purchases behind the RFM columns, and what a retention window leaves of them."""

import numpy as np
import pytest

from kit.population import make_population
from kit.population.history import YEAR, purchase_days, retained_behaviour


@pytest.fixture(scope="module")
def customers():
    return make_population(5000, random_state=4).customers


def test_dates_agree_with_the_summary(customers):
    owner, days = purchase_days(customers, np.random.default_rng(0))
    n = len(customers)
    r, f = customers["recency_days"].to_numpy(), customers["frequency"].to_numpy()
    assert np.array_equal(days[:n], r)  # the last purchase of each customer comes first
    last = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(last, owner, days)
    # The generator draws recency and frequency apart, so a few rows contradict each other: a last
    # purchase over a year ago with purchases in the year, or one within the year with f = 0.
    odd = ((r > YEAR) & (f > 0)) | ((r <= YEAR) & (f == 0))
    assert odd.mean() < 0.15  # 1.3% at seed 0, 8.6% here
    assert np.array_equal(last[~odd], r[~odd])  # no purchase is more recent than recency says
    in_year = np.bincount(owner[days <= YEAR], minlength=n)
    assert np.array_equal(in_year[~odd], f[~odd])


def test_no_window_changes_nothing(customers):
    assert retained_behaviour(customers, 0, np.random.default_rng(0)) is customers


def test_a_window_only_removes_information(customers):
    r, f = customers["recency_days"].to_numpy(), customers["frequency"].to_numpy()
    views = {w: retained_behaviour(customers, w, np.random.default_rng(7)) for w in (30, 90, 365, 730)}
    for w, v in views.items():
        assert np.array_equal(v["recency_days"], np.minimum(r, w))
        assert (v["frequency"].to_numpy() <= f).all()
        unchanged = [c for c in customers.columns if c not in ("recency_days", "frequency", "monetary")]
        assert v[unchanged].equals(customers[unchanged])
    assert (views[30]["frequency"].to_numpy() <= views[90]["frequency"].to_numpy()).all()
    assert (views[90]["frequency"].to_numpy() <= views[365]["frequency"].to_numpy()).all()
    assert np.array_equal(views[365]["frequency"], np.minimum(f, views[365]["frequency"]))
    # A 90-day window sees about a quarter of a year's purchases.
    assert 0.2 < views[90]["frequency"].sum() / f.sum() < 0.4


def test_monetary_kept_while_a_purchase_remains(customers):
    v = retained_behaviour(customers, 30, np.random.default_rng(1))
    recent = customers["recency_days"].to_numpy() <= 30
    assert np.array_equal(v["monetary"].to_numpy()[recent], customers["monetary"].to_numpy()[recent])
    gone = v["frequency"].to_numpy() == 0
    assert len(np.unique(v["monetary"].to_numpy()[gone & ~recent])) == 1  # unknown: one imputed value
