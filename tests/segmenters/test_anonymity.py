"""kanon: no class of the audience file (released quasi-identifiers + label) under k, for any population and k."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.params import ParameterError
from kit.population import make_population
from kit.segmenters import make_segmenter
from kit.segmenters.anonymity import QI_CATEGORIES, generalise
from kit.vocabulary import AGE_BANDS, QUASI_IDENTIFIERS

_POPS = {}


def _population(seed: int, older_share: float, proxy: float):
    key = (seed, older_share, proxy)
    if key not in _POPS:
        _POPS[key] = make_population(1_000, older_share=older_share, proxy_strength=proxy, random_state=seed)
    return _POPS[key]


def check_audience(seg, customers, k):
    """The audience file for `customers`: every (released quasi-identifiers + label) class holds >= k."""
    labels = seg.predict(customers)
    qis, out = seg.release_audience(customers, labels)
    assert list(qis.columns) == list(QUASI_IDENTIFIERS) and len(out) == len(customers)
    mass = seg.mass_segments_[0]
    moved = out != labels
    assert (out[moved] == mass).all()  # labels only ever move to the mass segment
    assert seg.suppressed_ == int(moved.sum())
    for qi, level in seg.audience_levels_.items():
        assert set(qis[qi]) <= set(generalise(QI_CATEGORIES[qi], level)[1])
    classes = (
        pd.Series(1, index=pd.MultiIndex.from_arrays([*(qis[c] for c in qis.columns), out]))
        .groupby(level=[0, 1, 2, 3, 4])
        .size()
    )
    if len(customers) >= k:
        assert classes.min() >= k
    return qis, out


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5),
    older_share=st.sampled_from([0.02, 0.25, 0.9]),
    proxy=st.sampled_from([0.0, 1.0]),
    n=st.integers(2, 500),
    m=st.integers(1, 500),
    k=st.integers(2, 120),
    n_clusters=st.integers(1, 30),
)
def test_no_audience_class_under_k(seed, older_share, proxy, n, m, k, n_clusters):
    pop = _population(seed, older_share, proxy)
    customers = pop.history.iloc[:n]
    seg = make_segmenter("kanon", random_state=seed, k=k, n_clusters=n_clusters, n_init=1)
    if n < k:
        with pytest.raises(ParameterError):
            seg.fit(customers)
        return
    seg.fit(customers)
    assert (seg.release_["profiles"]["size"].to_numpy()[:-1] >= k).all()  # merged segments at fit
    assert seg.n_segments_ <= n_clusters + 1
    assert set(seg.descriptions_) == set(range(seg.n_segments_))
    check_audience(seg, pop.holdout.iloc[:m], k)


def test_too_few_customers_message():
    customers = _population(0, 0.25, 0.0).history.iloc[:30]
    with pytest.raises(ParameterError) as e:
        make_segmenter("kanon", k=31).fit(customers)
    assert str(e.value) == (
        "kanon.k: 31 is more than the 30 customers fitted; no segment of at least k customers can be released"
    )


def test_generalisation_hierarchy_by_hand():
    group, names = generalise(AGE_BANDS, 1)
    assert group.tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert names == ["18-24 to 25-34", "35-44 to 45-54", "55-64 to 65-74", "75+"]
    assert generalise(AGE_BANDS, 3)[1] == ["any"]
    assert generalise(("female", "male"), 0)[1] == ["female", "male"]


def test_generalises_and_suppresses_only_as_needed():
    pop = make_population(20_000, random_state=1)
    small = make_segmenter("kanon", random_state=0, k=2, n_clusters=6).fit(pop.history)
    km = make_segmenter("kmeans", random_state=0).fit(pop.history)
    assert (small.labels_ == km.labels_).all()  # 6 segments of ~1,600: nothing to merge at k = 2
    check_audience(small, pop.holdout, 2)
    assert small.suppressed_ == 0
    assert sum(small.audience_levels_.values()) < 9  # some detail kept (all at "any" would be 3+1+5+3)
    big = make_segmenter("kanon", random_state=0, k=400, n_clusters=30).fit(pop.history)
    qis, labels = check_audience(big, pop.holdout, 400)
    assert big.audience_levels_["postcode_area"] > 0  # 24 areas cannot hold 400 customers each per segment
    merged = make_segmenter("kanon", random_state=0, k=3000, n_clusters=6).fit(pop.history)
    assert merged.n_segments_ - 1 < 6
    # Merging only joins whole k-means clusters.
    for s in range(merged.n_segments_ - 1):
        joined = np.unique(km.labels_[merged.labels_ == s])
        assert set(np.unique(merged.labels_[np.isin(km.labels_, joined)])) == {s}


def test_quasi_identifiers_are_generalised_jointly():
    """Each quasi-identifier alone may be fine while their combination is not: the check is on the joint
    class (the old kanon checked them one at a time, leaving every joint class under k)."""
    pop = make_population(4_000, random_state=2)
    seg = make_segmenter("kanon", random_state=0, k=30, n_clusters=4).fit(pop.history)
    qis, labels = check_audience(seg, pop.holdout, 30)
    raw = pop.holdout[list(QUASI_IDENTIFIERS)].astype(str)
    assert raw.value_counts().min() < 30  # the raw combination would break k
