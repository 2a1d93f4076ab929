import numpy as np
import pytest

from kit.params import ParameterError
from kit.population import TRUTH_COLUMNS, true_net_values
from kit.segmenters import REGISTRY, behaviour_features, make_segmenter


def test_registry_names():
    assert list(REGISTRY) == ["mass", "kmeans", "oracle"]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_approach_fits_describes_and_releases(name, small_pop):
    seg = make_segmenter(name, random_state=0).fit(small_pop.history)
    labels = seg.predict(small_pop.holdout)
    assert labels.min() >= 0 and labels.max() < seg.n_segments_
    assert set(seg.descriptions_) == set(range(seg.n_segments_))
    assert all(isinstance(d, str) and d for d in seg.descriptions_.values())
    assert seg.release_["profiles"]["size"].sum() == len(small_pop.history)


def test_mass_is_one_segment_and_profiles_no_one(small_pop):
    seg = make_segmenter("mass").fit(small_pop.history)
    assert seg.n_segments_ == 1
    assert not seg.profiled(small_pop.holdout).any()


def test_kmeans_reproducible_and_blind_to_truth(small_pop):
    a = make_segmenter("kmeans", random_state=3, n_clusters=5).fit(small_pop.history)
    b = make_segmenter("kmeans", random_state=3, n_clusters=5).fit(small_pop.history.drop(columns=list(TRUTH_COLUMNS)))
    assert (a.predict(small_pop.holdout) == b.predict(small_pop.holdout)).all()
    assert a.n_segments_ == 5
    assert list(a.release_["centroids"].columns) == list(behaviour_features(small_pop.holdout).columns)


def test_oracle_segment_is_true_best_action(small_pop):
    seg = make_segmenter("oracle").fit(small_pop.history)
    assert (seg.predict(small_pop.holdout) == true_net_values(small_pop.holdout).argmax(axis=1)).all()


def test_kmeans_parameter_checked_in_fit(small_pop):
    seg = make_segmenter("kmeans")
    seg.n_clusters = 0
    with pytest.raises(ParameterError, match=r"kmeans.n_clusters: 0 is out of range; expected an integer >= 1 and <= 50"):
        seg.fit(small_pop.history)


def test_unknown_approach_and_parameter_named():
    with pytest.raises(ParameterError, match="unknown approach 'dbscan'; expected one of mass, kmeans, oracle"):
        make_segmenter("dbscan")
    with pytest.raises(ParameterError, match="approach_params.eps: unknown parameter of approach 'mass'; allowed: none"):
        make_segmenter("mass", eps=1.0)
