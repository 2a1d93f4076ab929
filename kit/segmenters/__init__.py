"""Segmentation approaches, in scikit-learn's estimator conventions, behind one registry.

One module per family: `base` (features, profiles, descriptions, the `Segmenter` base class),
`reference` (mass, oracle), `rules` (rfm, tree), `clustering` (kmeans, gmm, unaware, minimised),
`private` (dp_kmeans, kanon, consent_only), `fair` (fair_kmeans, fair_targeting). Everything
public is importable from `kit.segmenters`.
"""

from __future__ import annotations

import inspect

from ..params import ParameterError, Spec
from .base import (
    DEMOGRAPHIC,
    FEATURE_BOUNDS,
    FEATURE_SET_DOCS,
    FEATURE_SETS,
    FEATURES,
    MAX_FIT_SAMPLES,
    Segmenter,
    behaviour_features,
    demographic_features,
    describe_segments,
    feature_table,
    segment_profiles,
)
from .clustering import GMMSegmenter, KMeansSegmenter, MinimisedSegmenter, UnawareSegmenter
from .fair import FairKMeansSegmenter, FairTargetingSegmenter
from .private import ConsentOnlySegmenter, DPKMeansSegmenter, KAnonSegmenter, budget_ledger, dp_lloyd
from .reference import MassSegmenter, OracleSegmenter
from .rules import RFMSegmenter, TreeSegmenter

REGISTRY: dict[str, type[Segmenter]] = {
    cls.name: cls
    for cls in (
        MassSegmenter,
        OracleSegmenter,
        RFMSegmenter,
        KMeansSegmenter,
        GMMSegmenter,
        TreeSegmenter,
        UnawareSegmenter,
        DPKMeansSegmenter,
        KAnonSegmenter,
        ConsentOnlySegmenter,
        MinimisedSegmenter,
        FairKMeansSegmenter,
        FairTargetingSegmenter,
    )
}


def approach_specs(approach: str) -> dict[str, Spec]:
    """The parameters an approach accepts (name -> Spec)."""
    return dict(REGISTRY[approach].param_specs)


def approach_features(approach: str) -> str:
    """Which of the firm's columns an approach reads, in words (for listings and the README)."""
    cls = REGISTRY[approach]
    if cls is MassSegmenter:
        return "no personal data"
    if cls is OracleSegmenter:
        return "the generator's truth (reference only)"
    if cls is RFMSegmenter:
        return "recency, frequency, monetary"
    if cls is DPKMeansSegmenter:
        return f"{FEATURE_SET_DOCS[cls.feature_set]} (parameter feature_set), clipped into declared bounds"
    text = FEATURE_SET_DOCS[cls.feature_set]
    if cls is TreeSegmenter:
        text += "; the campaign's actions and booked values"
    if cls is ConsentOnlySegmenter:
        text += "; customers with profiling consent only"
    if cls is FairKMeansSegmenter:
        text += "; the protected attribute, to balance segments"
    if cls is FairTargetingSegmenter:
        text += "; the protected attribute, to equalise offer rates"
    return text


def make_segmenter(approach: str, random_state: int | None = None, **params) -> Segmenter:
    """Build a segmenter by registry name; unknown names and parameters are named in the error."""
    if approach not in REGISTRY:
        raise ParameterError("approach", f"unknown approach {approach!r}; expected one of {', '.join(REGISTRY)}")
    cls = REGISTRY[approach]
    specs = cls.param_specs
    for k, v in params.items():
        if k not in specs:
            allowed = ", ".join(specs) if specs else "none"
            raise ParameterError(f"approach_params.{k}", f"unknown parameter of approach {approach!r}; allowed: {allowed}")
        specs[k].check(f"approach_params.{k}", v)
    if "random_state" in inspect.signature(cls).parameters:
        params["random_state"] = random_state
    return cls(**params)


__all__ = [
    "REGISTRY", "approach_specs", "approach_features", "make_segmenter", "Segmenter", "FEATURES", "DEMOGRAPHIC",
    "FEATURE_SETS", "FEATURE_SET_DOCS", "FEATURE_BOUNDS", "MAX_FIT_SAMPLES", "behaviour_features",
    "demographic_features", "feature_table", "describe_segments", "segment_profiles", "budget_ledger", "dp_lloyd",
    *(cls.__name__ for cls in REGISTRY.values()),
]
