"""Privacy without formal DP: consent enforced for any approach (`ConsentGate`), and k-anonymous
audience files (`kanon`)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ..params import ParameterError, Spec
from ..vocabulary import ACTIONS, AGE_BANDS, GENDERS, INCOME_BANDS, N_POSTCODE_AREAS, QUASI_IDENTIFIERS
from .base import KMeansCore, Segmenter, describe_segments
from .clustering import N_INIT

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


def raw_audience(customers: pd.DataFrame) -> pd.DataFrame:
    """The quasi-identifiers as the firm holds them, one string column each: what an audience file carries
    when nothing is generalised."""
    return pd.DataFrame({qi: customers[qi].astype(str).to_numpy() for qi in QUASI_IDENTIFIERS}, index=customers.index)


def audience_file(seg: Segmenter, customers: pd.DataFrame, labels: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The audience file an approach hands on for `customers` (e.g. to a mailing house): each customer's
    quasi-identifiers as released and segment label. Approaches with a `release_audience` method (kanon)
    generalise and may move customers to the mass segment; every other one releases the raw values."""
    release = getattr(seg, "release_audience", None)
    if release is None:
        return raw_audience(customers), np.asarray(labels)
    return release(customers, np.asarray(labels))


class KAnonSegmenter(Segmenter):
    """Fine k-means segments whose audience file is k-anonymous: every released class (generalised
    quasi-identifiers + segment label) holds at least k held-out customers.

    Fit (campaign customers): k-means into `n_clusters` fine segments on the **aware** features;
    while some segment holds fewer than k customers, the smallest merges into the one with the nearest
    centre. One more segment, the last, is the mass segment (the mass treatment; empty at fit).

    Release (`release_audience`, on the customers the file is for), jointly over labels and
    quasi-identifiers (age band, gender, postcode area, income band; each with a hierarchy that merges
    neighbouring values in blocks of 2, 4, ... up to "any"):
    1. labels first (they carry the gain): a segment holding fewer than k of these customers is not
       released; its customers move to the mass segment, and while the mass segment holds between 1
       and k - 1 customers the smallest remaining segment follows;
    2. then the quasi-identifiers: of every combination of generalisation levels (full-domain, one
       level per quasi-identifier, 192 combinations), those whose (generalised quasi-identifiers +
       label) classes all hold at least k, the one that keeps the most detail (smallest discernibility,
       the sum of squared class sizes; Bayardo & Agrawal 2005) is used. All at "any" always qualifies,
       so every class holds >= k whenever the file holds >= k customers.
    """

    name = "kanon"
    extra_columns = QUASI_IDENTIFIERS  # generalised in its audience file
    summary = "fine k-means segments; the audience file's labels and quasi-identifiers generalised jointly until every class holds >= k"
    releases = "segment profiles; an audience file whose every (quasi-identifiers + label) class holds >= k"
    feature_set = "aware"
    param_specs = {
        "n_clusters": Spec(int, 20, "fine segments k-means starts from (merged while under k)", low=1, high=200),
        "k": Spec(int, 50, "fewest customers any released class of the audience file may hold", low=2, high=100_000),
        "n_init": N_INIT,
    }

    def __init__(self, n_clusters: int = 20, k: int = 50, n_init: int = 4, random_state: int | None = None):
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
        return self

    def _merge(self, sizes: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Map from k-means cluster to segment, merging until every segment holds >= k."""
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

    def _predict(self, customers, feats):
        return self.merge_map_[self.core_.predict(feats.to_numpy())]

    def _count_segments(self, labels):
        return int(self.merge_map_.max()) + 2  # the merged segments, then the mass segment

    @property
    def mass_segments_(self):
        return (self.n_segments_ - 1,)

    def _describe(self, feats, labels):
        d = describe_segments(feats, labels, self.n_segments_)
        out = {s: f"{text[:-1]}; at least {self.k} customers." for s, text in d.items()}
        out[self.n_segments_ - 1] = (
            f"Released without a segment (its class in the audience file would hold fewer than {self.k}): "
            "the mass treatment."
        )
        return out

    def release_audience(self, customers: pd.DataFrame, labels: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """The k-anonymous audience file for `customers` (see the class docstring): generalised
        quasi-identifiers (strings such as "25-34 to 35-44" or "any") and labels, some moved to the mass
        segment. Sets `audience_levels_` (level per quasi-identifier) and `suppressed_` (customers moved)."""
        labels = np.asarray(labels, dtype=np.int64).copy()
        mass = self.n_segments_ - 1
        n_lab = max(self.n_segments_, int(labels.max(initial=0)) + 1)
        sizes = np.bincount(labels, minlength=n_lab)
        before = labels != mass
        small = [s for s in range(n_lab) if s != mass and 0 < sizes[s] < self.k]
        labels[np.isin(labels, small)] = mass
        sizes = np.bincount(labels, minlength=n_lab)
        while 0 < sizes[mass] < self.k and (sizes > 0).sum() > 1:
            s = min((g for g in range(n_lab) if g != mass and sizes[g] > 0), key=lambda g: (sizes[g], g))
            labels[labels == s] = mass
            sizes = np.bincount(labels, minlength=n_lab)
        self.suppressed_ = int((before & (labels == mass)).sum())
        codes = {qi: qi_codes(customers[qi]) for qi in QUASI_IDENTIFIERS}
        levels = [range(top_level(QI_CATEGORIES[qi]) + 1) for qi in QUASI_IDENTIFIERS]
        best, best_key = None, None
        for combo in itertools.product(*levels):
            cls = labels.copy()
            for qi, lvl in zip(QUASI_IDENTIFIERS, combo):
                group, names = generalise(QI_CATEGORIES[qi], lvl)
                cls = cls * len(names) + group[codes[qi]]
            counts = np.unique(cls, return_counts=True)[1]
            if len(labels) and counts.min() < self.k:
                continue
            key = (float((counts.astype(float) ** 2).sum()), sum(combo))
            if best_key is None or key < best_key:
                best, best_key = combo, key
        if best is None:  # fewer than k customers in the file: nothing can be k-anonymous; release the least
            best = tuple(top_level(QI_CATEGORIES[qi]) for qi in QUASI_IDENTIFIERS)
        self.audience_levels_ = dict(zip(QUASI_IDENTIFIERS, best))
        qis = {}
        for qi, lvl in self.audience_levels_.items():
            group, names = generalise(QI_CATEGORIES[qi], lvl)
            qis[qi] = np.asarray(names, dtype=object)[group[codes[qi]]]
        return pd.DataFrame(qis, index=customers.index), labels


# --- Consent, enforced for any approach ----------------------------------------------------------

# Not gated: mass reads no personal data (and is the mass treatment itself).
CONSENT_EXEMPT: tuple[str, ...] = ("mass",)
NOT_PROFILED = "Not profiled (no profiling consent): {share:.0f}% of customers, given the mass treatment."


class ConsentGate(Segmenter):
    """Any approach, fitted on and applied to customers with profiling consent only.

    `estimator` (an unfitted segmenter) is fitted on the consenting customers; it never sees anyone
    else's rows. Customers without consent go to the not-profiled segment: the estimator's own mass
    segment if it has one (kanon), else one more segment after its own. The policy gives it the mass
    estimate, its released profile is its size only, and `profiled` is False for it. Everything else
    (release, epsilon, targeting, descriptions of the other segments) is the estimator's. With no
    consenting customer at all, everyone is in the one not-profiled segment.
    """

    def __init__(self, estimator: Segmenter):
        self.estimator = estimator

    def __getattr__(self, name: str):
        # The estimator's parameters and fitted state (ledger_, protected, parity_target, ...).
        inner = self.__dict__.get("estimator")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    name = property(lambda self: self.estimator.name)
    summary = property(lambda self: self.estimator.summary)
    releases = property(lambda self: self.estimator.releases)
    targeting = property(lambda self: self.estimator.targeting)
    feature_set = property(lambda self: self.estimator.feature_set)
    uses_truth = property(lambda self: self.estimator.uses_truth)
    # What it reads: the estimator's columns, and the consent flag that decides who it may read.
    extra_columns = property(lambda self: (*self.estimator.extra_columns, "profiling_consent"))

    @staticmethod
    def consents(customers: pd.DataFrame) -> np.ndarray:
        """Who gave profiling consent."""
        return customers["profiling_consent"].to_numpy(dtype=bool)

    def features(self, customers):
        return self.estimator.features(customers)

    def fit(self, customers: pd.DataFrame, y=None) -> ConsentGate:
        consent = self.consents(customers)
        self.fitted_ = bool(consent.any())
        inner = self.estimator
        if self.fitted_:
            inner.fit(customers[consent])
            own = tuple(inner.mass_segments_)
            self.not_profiled_ = own[0] if own else inner.n_segments_
            self.n_segments_ = max(inner.n_segments_, self.not_profiled_ + 1)
        else:
            self.not_profiled_, self.n_segments_ = 0, 1
        self.labels_ = self.predict(customers).astype(np.int32)
        share = 100 * (~consent).mean() if len(consent) else 0.0
        text = NOT_PROFILED.format(share=share)
        self.descriptions_ = dict(inner.descriptions_) if self.fitted_ else {}
        own_text = self.descriptions_.get(self.not_profiled_)
        self.descriptions_[self.not_profiled_] = text + (f" Also: {own_text}" if own_text else "")
        release = dict(inner.release_) if self.fitted_ else {}
        prof = release.get("profiles", pd.DataFrame({"size": []}))
        prof = prof.reindex(pd.RangeIndex(self.n_segments_, name="segment"))
        prof["size"] = prof["size"].fillna(0).astype(np.int64)
        prof.loc[self.not_profiled_, "size"] += int((~consent).sum())
        release["profiles"] = prof
        self.release_ = release
        return self

    def predict(self, customers: pd.DataFrame) -> np.ndarray:
        consent = self.consents(customers)
        labels = np.full(len(customers), self.not_profiled_, dtype=np.int32)
        if self.fitted_ and consent.any():
            labels[consent] = self.estimator.predict(customers[consent])
        return labels

    def profiled(self, customers: pd.DataFrame) -> np.ndarray:
        consent = self.consents(customers)
        out = np.zeros(len(customers), dtype=bool)
        if self.fitted_ and consent.any():
            out[consent] = self.estimator.profiled(customers[consent])
        return out

    @property
    def epsilon_(self) -> float:
        return self.estimator.epsilon_

    @property
    def mass_segments_(self) -> tuple[int, ...]:
        own = tuple(self.estimator.mass_segments_) if self.fitted_ else ()
        return tuple(sorted({*own, self.not_profiled_}))

    def customer_values(self, customers):
        """The estimator's per-customer values (the oracle's) for consenting customers; nan for the rest,
        whose not-profiled segment gets the mass estimate."""
        consent = self.consents(customers)
        if not self.fitted_ or self.estimator.customer_values(customers.iloc[:0]) is None:
            return None
        out = np.full((len(customers), len(ACTIONS)), np.nan)
        if consent.any():
            out[consent] = self.estimator.customer_values(customers[consent])
        return out


def consent_gated(approach: str, seg: Segmenter, respect_consent: bool) -> Segmenter:
    """The segmenter a run uses: `seg` behind a `ConsentGate` when consent is respected and the approach
    is not exempt (`CONSENT_EXEMPT`: mass)."""
    return ConsentGate(seg) if respect_consent and approach not in CONSENT_EXEMPT else seg
