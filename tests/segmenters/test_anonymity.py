"""kanon: no released segment or segment x quasi-identifier cell under k, for any population and k."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.params import ParameterError
from kit.population import make_population
from kit.segmenters import make_segmenter
from kit.segmenters.anonymity import generalise
from kit.vocabulary import AGE_BANDS, QUASI_IDENTIFIERS

_POPS = {}


def _population(seed: int, older_share: float, proxy: float):
    key = (seed, older_share, proxy)
    if key not in _POPS:
        _POPS[key] = make_population(1_000, older_share=older_share, proxy_strength=proxy, random_state=seed)
    return _POPS[key]


def check_release(seg, customers):
    """Every released number about a group of customers counts at least k of them."""
    k = seg.k
    sizes = seg.release_["profiles"]["size"].to_numpy()
    assert (sizes >= k).all()
    assert sizes.sum() == len(customers)
    for qi in QUASI_IDENTIFIERS:
        table = seg.release_["qi_profiles"][qi]
        assert (table.to_numpy() >= k).all(), (qi, table)
        assert (table.sum(axis=1).to_numpy() == sizes).all()  # every customer counted once per QI
        assert list(table.columns) == seg.release_["generalisation"][qi]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5),
    older_share=st.sampled_from([0.02, 0.25, 0.9]),
    proxy=st.sampled_from([0.0, 1.0]),
    n=st.integers(2, 500),
    k=st.integers(2, 120),
    n_clusters=st.integers(1, 12),
)
def test_no_released_cell_under_k(seed, older_share, proxy, n, k, n_clusters):
    customers = _population(seed, older_share, proxy).history.iloc[:n]
    seg = make_segmenter("kanon", random_state=seed, k=k, n_clusters=n_clusters, n_init=1)
    if n < k:
        with pytest.raises(ParameterError):
            seg.fit(customers)
        return
    seg.fit(customers)
    check_release(seg, customers)
    assert seg.n_segments_ <= n_clusters
    assert set(seg.descriptions_) == set(range(seg.n_segments_))


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


def test_merges_and_generalises_only_as_needed():
    pop = make_population(20_000, random_state=1)
    small = make_segmenter("kanon", random_state=0, k=5).fit(pop.history)
    km = make_segmenter("kmeans", random_state=0).fit(pop.history)
    assert (small.labels_ == km.labels_).all()  # 6 segments of ~1,600: nothing to merge at k = 5
    assert small.qi_levels_["gender"] == 0 and small.qi_levels_["age_band"] == 0
    big = make_segmenter("kanon", random_state=0, k=3000).fit(pop.history)
    assert big.n_segments_ < 6
    assert big.qi_levels_["postcode_area"] > 0  # 24 areas cannot hold 3000 customers each per segment
    check_release(big, pop.history)
    # Merging only joins whole k-means clusters.
    for s in range(big.n_segments_):
        assert set(np.unique(big.labels_[np.isin(km.labels_, np.unique(km.labels_[big.labels_ == s]))])) == {s}
