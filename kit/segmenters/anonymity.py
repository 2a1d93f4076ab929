"""Privacy-minded approaches without formal DP: k-anonymous segments, consent-only profiling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..params import ParameterError, Spec
from ..vocabulary import AGE_BANDS, GENDERS, INCOME_BANDS, N_POSTCODE_AREAS, QUASI_IDENTIFIERS
from .base import KMeansCore, Segmenter, describe_profile, describe_segments, segment_means, segment_profiles
from .clustering import N_CLUSTERS, N_INIT

# --- k-anonymous segments -----------------------------------------------------------------------

QI_CATEGORIES: dict[str, tuple[str, ...]] = {
    "age_band": AGE_BANDS,
    "gender": GENDERS,
    "postcode_area": tuple(f"PA{i:02d}" for i in range(N_POSTCODE_AREAS)),
    "income_band": INCOME_BANDS,
}


def generalise(categories: tuple[str, ...], level: int) -> tuple[np.ndarray, list[str]]:
    """Generalisation hierarchy of an ordered quasi-identifier: level l groups blocks of 2**l neighbours.

    Returns the group of each category and the groups' names ("any" once one group holds all).
    """
    size = 2**level
    group = np.arange(len(categories)) // size
    n_groups = int(group.max()) + 1
    if n_groups == 1:
        return group, ["any"]
    names = []
    for g in range(n_groups):
        members = [c for c, gg in zip(categories, group) if gg == g]
        names.append(members[0] if len(members) == 1 else f"{members[0]} to {members[-1]}")
    return group, names


def qi_codes(values: pd.Series) -> np.ndarray:
    """Code of each quasi-identifier value in its declared order; unknown or missing values are an error."""
    codes = pd.Categorical(values.astype(str), categories=list(QI_CATEGORIES[values.name])).codes
    if (codes < 0).any():
        raise ValueError(f"{values.name}: values outside {', '.join(QI_CATEGORIES[values.name])}")
    return codes


def top_level(categories: tuple[str, ...]) -> int:
    """The first level at which one group holds every category."""
    return max(0, math.ceil(math.log2(len(categories))))


class KAnonSegmenter(Segmenter):
    """k-means segments released only when every segment and every segment x quasi-identifier cell holds >= k.

    1. k-means as in `kmeans` (behaviour, age, gender, income band).
    2. Merge: while some segment holds fewer than k campaign customers, the smallest merges into the
       segment with the nearest centre (size-weighted centre of the merged pair).
    3. Generalise: for each quasi-identifier (age band, gender, postcode area, income band) the
       released profile counts customers of each segment per value group; the lowest level of its
       hierarchy (neighbouring values merged in blocks of 2, 4, ... up to "any") at which every
       segment x group cell holds at least k is used. "any" is always possible, since each segment
       holds at least k. Every cell is released, zeros included, so no cell is below k.
    """

    name = "kanon"
    extra_columns = QUASI_IDENTIFIERS  # generalised in its release
    summary = "k-means segments merged and quasi-identifier profiles generalised until every released cell holds >= k"
    releases = "segment profiles and quasi-identifier counts per segment, every cell >= k"
    feature_set = "aware"
    param_specs = {
        "n_clusters": N_CLUSTERS,
        "k": Spec(int, 50, "fewest customers any released segment or cell may hold", low=2, high=100_000),
        "n_init": N_INIT,
    }

    def __init__(self, n_clusters: int = 6, k: int = 50, n_init: int = 4, random_state: int | None = None):
        self.n_clusters = n_clusters
        self.k = k
        self.n_init = n_init
        self.random_state = random_state

    def _fit(self, customers, feats):
        n = len(feats)
        if n < self.k:
            raise ParameterError(
                f"{self.name}.k",
                f"{self.k} is more than the {n} customers fitted; no segment of at least k customers can be released",
            )
        clusters = min(self.n_clusters, n)
        self.core_ = KMeansCore(clusters, self.n_init, self.random_state).fit(feats.to_numpy())
        base = self.core_.predict(feats.to_numpy())
        self.merge_map_ = self._merge(np.bincount(base, minlength=clusters), self.core_.kmeans_.cluster_centers_)
        labels = self.merge_map_[base]
        self.qi_levels_ = {qi: self._level(customers[qi], labels) for qi in QUASI_IDENTIFIERS}
        return self

    def _merge(self, sizes: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Map from k-means cluster to released segment, merging until every segment holds >= k."""
        group = np.arange(len(sizes))
        size = {g: float(s) for g, s in enumerate(sizes) if s > 0}
        centre = {g: centres[g].astype(float) for g in size}
        # Clusters nobody falls into join the nearest non-empty one (they hold no one, but predict may use them).
        while len(size) > 1 and min(size.values()) < self.k:
            s = min(size, key=lambda g: (size[g], g))
            others = [g for g in size if g != s]
            t = min(others, key=lambda g: (float(((centre[g] - centre[s]) ** 2).sum()), g))
            total = size[s] + size[t]
            centre[t] = (size[s] * centre[s] + size[t] * centre[t]) / total
            size[t] = total
            del size[s], centre[s]
            group[group == s] = t
        live = sorted(size)
        for g in range(len(group)):
            if group[g] not in size:  # an empty cluster: the nearest live segment
                group[g] = min(live, key=lambda h: (float(((centre[h] - centres[g]) ** 2).sum()), h))
        return np.searchsorted(np.array(live), group)

    def _level(self, values: pd.Series, labels: np.ndarray) -> int:
        """Lowest generalisation level of a quasi-identifier at which every segment x group cell holds >= k."""
        cats = QI_CATEGORIES[values.name]
        codes = qi_codes(values)
        n_seg = int(labels.max()) + 1
        for level in range(top_level(cats) + 1):
            group, names = generalise(cats, level)
            cells = np.bincount(labels * len(names) + group[codes], minlength=n_seg * len(names))
            if cells.min() >= self.k:
                return level
        raise AssertionError("unreachable: the top level's cells are the segments, each >= k")

    def _predict(self, customers, feats):
        return self.merge_map_[self.core_.predict(feats.to_numpy())]

    def _count_segments(self, labels):
        return int(self.merge_map_.max()) + 1

    def qi_profiles(self, customers: pd.DataFrame, labels: np.ndarray) -> dict[str, pd.DataFrame]:
        """Per quasi-identifier: customers of each segment (rows) per value group (columns), at the fitted level."""
        out = {}
        for qi, level in self.qi_levels_.items():
            cats = QI_CATEGORIES[qi]
            group, names = generalise(cats, level)
            codes = qi_codes(customers[qi])
            cells = np.bincount(labels * len(names) + group[codes], minlength=self.n_segments_ * len(names))
            out[qi] = pd.DataFrame(
                cells.reshape(self.n_segments_, len(names)),
                columns=names,
                index=pd.RangeIndex(self.n_segments_, name="segment"),
            )
        return out

    def fit(self, customers, y=None):
        super().fit(customers)
        self.release_["qi_profiles"] = self.qi_profiles(customers, self.labels_)
        self.release_["generalisation"] = {
            qi: generalise(QI_CATEGORIES[qi], lvl)[1] for qi, lvl in self.qi_levels_.items()
        }
        return self

    def _describe(self, feats, labels):
        d = describe_segments(feats, labels, self.n_segments_)
        return {s: f"{text[:-1]}; at least {self.k} customers." for s, text in d.items()}


# --- Consent-only profiling -------------------------------------------------------------------


class ConsentOnlySegmenter(Segmenter):
    """Only customers with profiling consent are profiled; the rest form segment 0, the mass treatment.

    k-means (as `kmeans`) is fitted on the consenting customers only; their segments are 1..k.
    Customers without consent are never read beyond the consent flag: their feature rows are
    blanked (NaN) before anything uses them, their segment's released profile is its size only,
    and the policy gives that segment the mass estimate (`mass_segments_`). With fewer consenting
    customers than `n_clusters`, there are as many clusters as consenting customers.
    """

    name = "consent_only"
    extra_columns = ("profiling_consent",)
    reads_extra = "customers with profiling consent only"
    summary = "k-means on customers with profiling consent only; the rest get the mass treatment"
    releases = "centroids and profiles of consenting customers; the size of the not-profiled segment"
    feature_set = "aware"
    param_specs = {"n_clusters": N_CLUSTERS, "n_init": N_INIT}

    def __init__(self, n_clusters: int = 6, n_init: int = 4, random_state: int | None = None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state

    def profiled(self, customers):
        return customers["profiling_consent"].to_numpy(dtype=bool)

    def features(self, customers):
        feats = super().features(customers)
        feats.loc[~self.profiled(customers)] = np.nan
        return feats

    @property
    def mass_segments_(self):
        return (0,)

    def _fit(self, customers, feats):
        consent = self.profiled(customers)
        n = int(consent.sum())
        self.core_ = None
        if n:
            self.core_ = KMeansCore(min(self.n_clusters, n), self.n_init, self.random_state).fit(
                feats.to_numpy()[consent]
            )
        return self

    def _predict(self, customers, feats):
        consent = self.profiled(customers)
        labels = np.zeros(len(customers), dtype=np.int64)
        if self.core_ is not None and consent.any():
            labels[consent] = 1 + self.core_.predict(feats.to_numpy()[consent])
        return labels

    def _count_segments(self, labels):
        return 1 + (self.core_.n_clusters if self.core_ is not None else 0)

    def _describe(self, feats, labels):
        consent = labels > 0
        n = len(labels)
        out = {
            0: f"Not profiled: no profiling consent; {100 * (~consent).sum() / n:.0f}% of customers, "
            "given the mass treatment."
        }
        if self.n_segments_ > 1:
            sizes, means = segment_means(feats[consent], labels[consent], self.n_segments_)
            x = feats.to_numpy()[consent]
            d = describe_profile(means[1:], sizes[1:], x.mean(axis=0), x.std(axis=0), list(feats.columns), total=n)
            out.update({s + 1: text for s, text in d.items()})
        return out

    def _release(self, feats, labels):
        out = {"profiles": segment_profiles(feats, labels, self.n_segments_)}
        if self.core_ is not None:
            cent = pd.DataFrame(self.core_.centroids(), columns=list(feats.columns))
            cent.index = pd.RangeIndex(1, self.n_segments_, name="segment")
            out["centroids"] = cent
        return out
