"""Measurements of a run, on the held-out customers: gain, privacy loss, fairness, ethics checks.

One module per axis: `gain` (against the generator's truth, with bootstrap intervals), `privacy`
(k-anonymity of the audience file, re-identification, attribute inference), `audit` (membership:
canary audit and tracing attack), `fairness` (aif360 rates,
multi-group table, segment balance) and `checks` (ethics checks). Every function takes computed
arrays or tables and returns plain numbers or tables; `kit.run.pipeline.measure` puts them together.
"""

from ..vocabulary import MIN_CELL
from .audit import attack_columns, canary_audit, make_canary, tracing_attack
from .checks import FOUR_FIFTHS, ethics_checks, passes_four_fifths
from .fairness import (
    FAIRNESS_ATTRS,
    INTERSECTION,
    INTERSECTION_NAME,
    cap_excluded_share,
    fairness_metrics,
    fairness_metrics_many,
    fairness_table,
    group_table,
    intersection_metrics,
    offer_beneficial,
    segment_balance,
)
from .gain import (
    N_BOOT,
    bootstrap_cell_sums,
    customer_values,
    gain_by_group,
    gain_share,
    policy_value,
    truly_helps,
)
from .privacy import (
    ATTR_INFERENCE_QI,
    attribute_inference,
    audience_privacy,
    best_threshold,
    clopper_pearson,
    epsilon_lower_bound,
    majority_predict,
    min_segment_size,
    unique_share,
    wilson_interval,
)

__all__ = [
    "MIN_CELL",
    "ATTR_INFERENCE_QI",
    "FAIRNESS_ATTRS",
    "FOUR_FIFTHS",
    "INTERSECTION",
    "INTERSECTION_NAME",
    "N_BOOT",
    "attack_columns",
    "attribute_inference",
    "audience_privacy",
    "canary_audit",
    "make_canary",
    "tracing_attack",
    "best_threshold",
    "bootstrap_cell_sums",
    "cap_excluded_share",
    "clopper_pearson",
    "customer_values",
    "epsilon_lower_bound",
    "ethics_checks",
    "fairness_metrics",
    "fairness_metrics_many",
    "fairness_table",
    "gain_by_group",
    "gain_share",
    "group_table",
    "intersection_metrics",
    "majority_predict",
    "min_segment_size",
    "offer_beneficial",
    "passes_four_fifths",
    "policy_value",
    "segment_balance",
    "truly_helps",
    "unique_share",
    "wilson_interval",
]
