"""Segmentation approaches, in scikit-learn's estimator conventions, behind one registry.

One module per family: `base` (profiles, descriptions, the `Segmenter` base class), `reference`
(mass, oracle), `rules` (rfm, tree), `clustering` (kmeans, gmm, unaware, minimised), `dp`
(dp_kmeans), `anonymity` (kanon; `ConsentGate`, which enforces consent for any approach), `fair` (fair_kmeans, fair_targeting). Feature
sets live in `kit.features`. Everything public is importable from `kit.segmenters`.
"""

from __future__ import annotations

import inspect

from ..params import ParameterError, Spec
from .anonymity import CONSENT_EXEMPT, ConsentGate, KAnonSegmenter, audience_file, consent_gated, raw_audience
from .base import MAX_FIT_SAMPLES, Segmenter, describe_segments, segment_profiles
from .clustering import GMMSegmenter, KMeansSegmenter, MinimisedSegmenter, UnawareSegmenter
from .dp import DPKMeansSegmenter, budget_ledger, dp_lloyd
from .fair import FairKMeansSegmenter, FairTargetingSegmenter
from .reference import MassSegmenter, OracleSegmenter
from .rules import RFMSegmenter, TreeSegmenter

MSG_UNKNOWN_APPROACH = "unknown approach {approach!r}; expected one of {allowed}"
# Approaches that no longer exist, and what replaced them (a study naming one gets this message).
MSG_CONSENT_ONLY_RETIRED = (
    "consent_only was retired: every approach now fits on and profiles only customers with profiling consent "
    "(the others get the mass treatment); use kmeans, and the run parameter respect_consent (default true; "
    "false shows what ignoring consent would buy)"
)
RETIRED: dict[str, str] = {"consent_only": MSG_CONSENT_ONLY_RETIRED}
MSG_UNKNOWN_APPROACH_PARAM = "unknown parameter of approach {approach!r}; allowed: {allowed}"

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
    return REGISTRY[approach].reads()


def unknown_approach_message(approach) -> str:
    """Why an approach name is not accepted: retired (and what replaced it), or unknown (and what is allowed)."""
    if isinstance(approach, str) and approach in RETIRED:
        return RETIRED[approach]
    return MSG_UNKNOWN_APPROACH.format(approach=approach, allowed=", ".join(REGISTRY))


def check_approach(approach, where: str = "approach") -> None:
    """An approach name must be registered; the error names the allowed ones."""
    if approach not in REGISTRY:
        raise ParameterError(where, unknown_approach_message(approach))


def check_approach_params(approach: str, params: dict, where: str = "approach_params") -> dict:
    """Check an approach's own parameters (unknown names, types, ranges) and fill in defaults.

    The one validation path for approach parameters: runs, study files and `make_segmenter` use it.
    """
    check_approach(approach)
    specs = REGISTRY[approach].param_specs
    checked = {}
    for k, v in params.items():
        if k not in specs:
            allowed = ", ".join(specs) if specs else "none"
            raise ParameterError(f"{where}.{k}", MSG_UNKNOWN_APPROACH_PARAM.format(approach=approach, allowed=allowed))
        checked[k] = specs[k].check(f"{where}.{k}", v)
    for k, spec in specs.items():
        checked.setdefault(k, spec.default)
    return checked


def make_segmenter(approach: str, random_state: int | None = None, **params) -> Segmenter:
    """Build a segmenter by registry name; unknown names and parameters are named in the error."""
    check_approach_params(approach, params)
    cls = REGISTRY[approach]
    if "random_state" in inspect.signature(cls).parameters:
        params["random_state"] = random_state
    return cls(**params)


__all__ = [
    "REGISTRY",
    "MSG_CONSENT_ONLY_RETIRED",
    "RETIRED",
    "unknown_approach_message",
    "ConsentGate",
    "consent_gated",
    "CONSENT_EXEMPT",
    "audience_file",
    "raw_audience",
    "approach_specs",
    "approach_features",
    "make_segmenter",
    "check_approach_params",
    "Segmenter",
    "MAX_FIT_SAMPLES",
    "describe_segments",
    "segment_profiles",
    "budget_ledger",
    "dp_lloyd",
    *(cls.__name__ for cls in REGISTRY.values()),
]
