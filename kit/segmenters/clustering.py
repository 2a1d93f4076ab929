"""Clustering approaches: k-means on three feature sets (aware, unaware, minimised) and a Gaussian mixture.

They differ only in which of the firm's columns they read (`FEATURE_SETS`):
- ``kmeans`` and ``gmm`` use behaviour plus age, gender and income band, as a naive firm would;
- ``unaware`` drops the protected attributes (age, gender) but keeps the rest, so their proxies
  (channel, spend, tenure ... which the generator ties to age and gender) still leak into segments:
  fairness through unawareness;
- ``minimised`` reads only a declared minimal set (recency, frequency, monetary value,
  engagement): data minimisation.
"""

from __future__ import annotations

import pandas as pd
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from ..params import Spec
from .base import KMeansCore, Segmenter, check_enough, fit_sample, segment_profiles

N_CLUSTERS = Spec(int, 6, "number of segments", low=1, high=50)
N_INIT = Spec(int, 4, "k-means restarts; the best is kept", low=1, high=50)


class KMeansSegmenter(Segmenter):
    """k-means (k-means++, `n_init` restarts) on standardised behaviour + demographic features."""

    name = "kmeans"
    summary = "k-means clustering of standardised behaviour, age, gender and income band"
    releases = "centroids (natural units) and segment profiles"
    feature_set = "aware"
    param_specs = {"n_clusters": N_CLUSTERS, "n_init": N_INIT}

    def __init__(self, n_clusters: int = 6, n_init: int = 4, random_state: int | None = None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state

    def _fit(self, customers, feats):
        check_enough(f"{self.name}.n_clusters", self.n_clusters, len(feats))
        self.core_ = KMeansCore(self.n_clusters, self.n_init, self.random_state).fit(feats.to_numpy())
        return self

    def _predict(self, customers, feats):
        return self.core_.predict(feats.to_numpy())

    def _count_segments(self, labels):
        return self.n_clusters

    def _release(self, feats, labels):
        return {
            "centroids": pd.DataFrame(self.core_.centroids(), columns=list(feats.columns)),
            "profiles": segment_profiles(feats, labels, self.n_segments_),
        }


class UnawareSegmenter(KMeansSegmenter):
    """k-means without the protected attributes (age, gender): fairness through unawareness.

    Income band and all behaviour stay, so proxies of age and gender still shape the segments.
    """

    name = "unaware"
    summary = "k-means without age and gender (fairness through unawareness; proxies remain)"
    feature_set = "unaware"


class MinimisedSegmenter(KMeansSegmenter):
    """k-means on a declared minimal feature set: recency, frequency, monetary value and engagement."""

    name = "minimised"
    summary = "k-means on a declared minimal set: recency, frequency, monetary value, engagement"
    feature_set = "minimal"


class GMMSegmenter(Segmenter):
    """Gaussian mixture on standardised behaviour + demographic features; segment = most likely component.

    Fits on at most `MAX_FIT_SAMPLES` customers (a seeded sample above that) to stay fast at 1M.
    """

    name = "gmm"
    summary = "Gaussian mixture model of standardised behaviour, age, gender and income band"
    releases = "component means (natural units), mixture weights and segment profiles"
    feature_set = "aware"
    param_specs = {
        "n_components": Spec(int, 6, "number of mixture components (segments)", low=1, high=50),
        "covariance_type": Spec(
            str, "diag", "shape of each component's covariance", choices=("diag", "full", "spherical")
        ),
        "max_iter": Spec(int, 100, "EM iterations at most", low=1, high=1000),
    }

    def __init__(
        self, n_components: int = 6, covariance_type: str = "diag", max_iter: int = 100, random_state: int | None = None
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit(self, customers, feats):
        check_enough(f"{self.name}.n_components", self.n_components, len(feats))
        x = feats.to_numpy()[fit_sample(len(feats), self.random_state)]
        self.scaler_ = StandardScaler().fit(x)
        self.gmm_ = GaussianMixture(
            self.n_components,
            covariance_type=self.covariance_type,
            max_iter=self.max_iter,
            # The channel one-hot columns sum to 1, so covariances are singular without some regularisation.
            reg_covar=1e-4,
            random_state=self.random_state,
        ).fit(self.scaler_.transform(x))
        return self

    def _predict(self, customers, feats):
        return self.gmm_.predict(self.scaler_.transform(feats.to_numpy()))

    def _count_segments(self, labels):
        return self.n_components

    def _release(self, feats, labels):
        return {
            "centroids": pd.DataFrame(self.scaler_.inverse_transform(self.gmm_.means_), columns=list(feats.columns)),
            "mixture_weights": pd.Series(self.gmm_.weights_, name="weight"),
            "profiles": segment_profiles(feats, labels, self.n_segments_),
        }
