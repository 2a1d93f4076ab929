"""The study report's analysis: summaries over worlds, paired comparisons, Pareto fronts, findings.

Pure functions of ``results.csv``'s table; `kit.report.html` renders them. Each seed is a world (a
new population); a setting's level is summarised by its mean over worlds with a Student-t 95%
interval, and settings are compared with the study's reference setting paired by world
(`kit.report.comparisons`). A finding claims a difference only when its paired interval excludes 0.

Every number and figure comes from ``results.csv`` and the runs' saved files (``metrics.json``,
``tables/*.csv``, ``manifest.json``); the report shows aggregates only (no customer rows, no code),
and suppresses any table cell built from fewer than `MIN_CELL` customers. Figures are also saved as
PNG under ``reports/<study>/figures/``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..measures.checks import passes_four_fifths
from ..params import KNOB_RANGES, RUN_SPECS
from ..records import OK
from .comparisons import across_worlds, paired_differences, varying

# (metric, column header, reading) for the two summary tables.
GAIN_PRIVACY_METRICS = [
    ("gain_share", "gain share", "share of the oracle's gain over mass: 1 = oracle, 0 = mass"),
    ("value_policy", "value / customer", "expected net value per held-out customer, under the truth"),
    (
        "gain_ope",
        "gain over mass (off-policy)",
        "estimated net value per customer over mass, doubly robust, from the "
        "randomised campaign log (cross-fitted); the only gain measurable on a customer table",
    ),
    (
        "value_policy_ope",
        "value / customer (off-policy)",
        "doubly robust estimate of value_policy from the campaign log",
    ),
    (
        "gain_share_best",
        "share of the best setting's gain",
        "on a customer table (no oracle): gain_ope over the largest gain_ope of any setting in the same seed, "
        "the best segment-level policy the study found",
    ),
    ("epsilon", "ε", "formal differential-privacy loss of what is released (∞: no formal guarantee)"),
    ("min_segment_size", "smallest segment", "customers in the smallest released segment"),
    ("min_audience_class", "smallest audience class", "the audience file is k-anonymous for every k up to this"),
    ("reid_rate", "re-identification", "share of customers unique in the audience file (QIs as released + segment)"),
    ("reid_rate_base", "re-id. without segment", "the same on the released quasi-identifiers alone"),
    ("tracing_advantage", "tracing advantage", "membership tracing on segment profiles, minus its null (0: nothing)"),
    ("mia_audit_eps_lb", "audited ε lower bound", "canary audit: ε the release provably exceeds (95%)"),
    ("attr_inference_lift_older", "attr. inference (older)", "how much better than base rate the segment reveals 65+"),
    ("attr_inference_lift_gender", "attr. inference (gender)", "the same for gender"),
]
FAIRNESS_METRICS = [
    (
        "di_older",
        "DI older",
        "disparate impact among contact-eligible customers: offer rate of 65+ / of younger "
        "(below 0.8 or above 1.25 fails the four-fifths rule)",
    ),
    (
        "di_older_all",
        "DI older, cap included",
        "the same over every customer, the contact cap's exclusions included",
    ),
    ("cap_excluded_older", "older excluded by cap", "share of older customers the contact cap excludes"),
    ("spd_older", "SPD older", "statistical parity difference of offer rates among the eligible, 65+ minus younger"),
    (
        "eod_older",
        "EOD older",
        "equal-opportunity difference: among eligible customers an offer truly helps, the rate offered "
        "an action that truly helps, 65+ minus younger",
    ),
    ("aod_older", "AOD older", "average odds difference: mean of the TPR and FPR differences"),
    ("di_gender", "DI gender", "disparate impact among the eligible: women / men"),
    ("spd_gender", "SPD gender", "statistical parity difference of offer rates among the eligible, women minus men"),
    ("eod_gender", "EOD gender", "equal-opportunity difference, women minus men"),
    ("aod_gender", "AOD gender", "average odds difference, women minus men"),
    ("di_age_gender", "DI age × gender", "lowest / highest offer rate over the age band × gender cells"),
    ("eod_age_gender", "EOD age × gender", "lowest − highest equal-opportunity rate over the cells"),
    ("balance_older", "balance older", "segment balance (Chierichetti et al.): 1 = every segment mirrors the mix"),
    ("balance_gender", "balance gender", "segment balance for gender"),
]
# "Feasible" = passes every ethics check in every world (the four-fifths rule is a fairness finding).
FEASIBILITY_CHECKS = ("consent_violations", "fatigue_violations", "undescribed_segments")
CHECKS = (*FEASIBILITY_CHECKS, "four_fifths_fail")
CHECK_DOCS = {
    "consent_violations": "no customer without profiling consent was profiled",
    "fatigue_violations": "no older customer was contacted at or over the contact cap",
    "undescribed_segments": "every segment has a plain-language description",
    "four_fifths_fail": "every disparate impact (older, gender, age band × gender; among contact-eligible "
    "customers) is within 0.8-1.25",
}
# The four-fifths rule per protected grouping: (disparate-impact metric, derived 0/1 failure column,
# who is compared: (unprivileged, privileged)).
FOUR_FIFTHS_GROUPS = {
    "older": ("di_older", "ff_fail_older", ("older customers", "younger customers")),
    "older_all": ("di_older_all", "ff_fail_older_all", ("older customers", "younger customers")),
    "gender": ("di_gender", "ff_fail_gender", ("women", "men")),
    "age_gender": ("di_age_gender", "ff_fail_age_gender", ("the lowest age band × gender cell", "the highest")),
}
# Derived cost columns: (name, how it is computed, axis label).
DERIVED = {
    "unfairness_older": "|1 − disparate impact|, older vs younger",
    "unfairness_gender": "|1 − disparate impact|, women vs men",
    "abs_eod_older": "|equal-opportunity difference|, older vs younger",
    **{fail: f"fails the four-fifths rule ({di}): 1, else 0" for di, fail, _ in FOUR_FIFTHS_GROUPS.values()},
}
# Metrics compared with the reference, paired by world, in comparisons.csv: gain, every privacy and
# every fairness metric (those a study's runs do not hold are skipped). Not epsilon: it is set by
# the approach's parameters, not measured (and infinite for every non-DP setting).
COMPARED_METRICS = [
    "gain_share",
    "value_policy",
    "offer_rate",
    "min_segment_size",
    "reid_rate",
    "reid_rate_base",
    "mia_advantage",
    "mia_epsilon_lb",
    "mia_audit_eps_lb",
    "attr_inference_lift_older",
    "attr_inference_lift_gender",
    *(f"{m}_{a}" for a in ("older", "gender") for m in ("spd", "di", "eod", "aod")),
    "di_older_all",
    "cap_excluded_older",
    *(f"{m}_age_gender" for m in ("spd", "di", "eod")),
    "balance_older",
    "balance_gender",
    "unfairness_older",
    "unfairness_gender",
    "abs_eod_older",
]
POP_KEYS = [*KNOB_RANGES, "budget", "older_contact_cap", "min_obs"]
# The run parameters within which settings are summarised and compared: every one a study can vary
# but the seed (the worlds a comparison pairs over) and the data source. A study that sweeps a policy
# knob (harm_cap, trust_sensitivity, retention_days, ...) compares each setting with the reference at
# the same value, never with the reference's runs at other values averaged in.
CONDITION_KEYS = [k for k in RUN_SPECS if k not in ("seed", "data")]


def gain_metric(columns) -> str:
    """The study's gain: ``gain_share`` (against the truth) on the generator, ``gain_ope`` (off-policy,
    over mass) on a customer table, where the truth and so the oracle are absent."""
    return "gain_share" if "gain_share" in columns or "gain_share_mean" in columns else "gain_ope"


# How each gain metric reads in findings: what a value is, and how to write one and a range.
GAIN_WORDS = {
    "gain_share": {
        "of": "of the oracle's gain over mass",
        "gains": "of the oracle's gain",
        "value": lambda v: f"{100 * v:.1f}%",
        "range": lambda lo, hi: f"{100 * lo:.1f}–{100 * hi:.1f}%",
        "unit": "gain share",
    },
    "gain_ope": {
        "of": "net value per customer over mass (off-policy estimate)",
        "gains": "net value per customer over mass",
        "value": lambda v: f"{v:+.2f}",
        "range": lambda lo, hi: f"{lo:+.2f} to {hi:+.2f}",
        "unit": "value per customer",
    },
}


def protected_attrs(columns) -> list[str]:
    """The protected attributes measured: ``older`` and ``gender`` on the generator, the declared
    columns on a customer table (from the ``di_<column>`` metrics present)."""
    names = [
        c[3:].removesuffix("_mean") for c in columns if c.startswith("di_") and not c.endswith(("_min", "_max", "_sd"))
    ]
    return list(dict.fromkeys(names))


def fairness_metrics(columns) -> list[tuple[str, str, str]]:
    """FAIRNESS_METRICS, plus parity and balance rows for declared protected columns it does not list."""
    known = {m for m, _, _ in FAIRNESS_METRICS}
    extra = []
    for a in protected_attrs(columns):
        for m, h, d in (
            (
                f"di_{a}",
                f"DI {a}",
                f"offer rate of the {a} group (True, or the lowest-rate group) over the other's "
                "(highest-rate) (< 0.8 fails the four-fifths rule)",
            ),
            (f"spd_{a}", f"SPD {a}", "the same as a difference of offer rates"),
            (f"balance_{a}", f"balance {a}", "segment balance (Chierichetti et al.)"),
        ):
            if m not in known:
                extra.append((m, h, d))
    return FAIRNESS_METRICS + extra


def with_derived(results: pd.DataFrame) -> pd.DataFrame:
    """Results plus the derived cost columns the frontiers plot (lower = better)."""
    r = results.copy()
    for attr in protected_attrs(r.columns):
        r[f"unfairness_{attr}"] = (1 - pd.to_numeric(r[f"di_{attr}"], errors="coerce")).abs()
    if "gain_ope" in r and "gain_share" not in r and "seed" in r:  # a customer table: no oracle
        g = pd.to_numeric(r["gain_ope"], errors="coerce")
        best = g.groupby(r["seed"]).transform("max")
        r["gain_share_best"] = np.where(best > 0, g / best.where(best > 0, 1.0), np.nan)
    if "eod_older" in r:
        r["abs_eod_older"] = pd.to_numeric(r["eod_older"], errors="coerce").abs()
    for di, fail, _ in FOUR_FIFTHS_GROUPS.values():
        if di in r:
            r[fail] = [float(not passes_four_fifths(v)) for v in pd.to_numeric(r[di], errors="coerce")]
    return r


def summarise(results: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Per approach setting and metric, over worlds (seeds): mean, min, max, sd, and the Student-t
    95% interval of the mean (`_lo`, `_hi`: the across-world uncertainty of the setting's level).

    When the study varies population or policy parameters, each combination is a row of its own,
    labelled with them, e.g. "unaware (proxy_strength=0.5, label_bias=0)": worlds of different
    populations are never averaged together."""
    ok = with_derived(results[results["status"] == OK])
    if ok.empty:
        return pd.DataFrame()
    conditions = varying(ok, CONDITION_KEYS)
    if conditions:
        ok["label"] = ok["label"] + ok[conditions].apply(
            lambda r: (
                " (" + ", ".join(f"{c}={fmt_number(v, 3) if isinstance(v, float) else v}" for c, v in r.items()) + ")"
            ),
            axis=1,
        )
    fair = fairness_metrics(ok.columns)
    derived = list(dict.fromkeys([*DERIVED, *(f"unfairness_{a}" for a in protected_attrs(ok.columns))]))
    names = metrics or ([m for m, _, _ in GAIN_PRIVACY_METRICS + fair] + derived + list(CHECKS))
    names = [m for m in names if m in ok.columns]
    rows = []
    for label, g in ok.groupby("label", sort=False):
        row = {"label": label, "approach": g["approach"].iloc[0], "runs": len(g)}
        for m in names:
            v = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            v = v[~np.isnan(v)]
            row[f"{m}_mean"] = float(np.mean(v)) if len(v) else math.nan
            row[f"{m}_min"] = float(np.min(v)) if len(v) else math.nan
            row[f"{m}_max"] = float(np.max(v)) if len(v) else math.nan
            with np.errstate(invalid="ignore"):  # inf (epsilon of a non-DP approach) has no spread
                row[f"{m}_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
        rows.append(row)
    out = pd.DataFrame(rows)
    levels = across_worlds(ok, names).set_index("label")
    for m in names:
        for part in ("lo", "hi"):
            col = levels[f"{m}_{part}"] if f"{m}_{part}" in levels else math.nan
            out[f"{m}_{part}"] = out["label"].map(col) if isinstance(col, pd.Series) else col
        # A value the same in every world (one world, or epsilon = inf for a non-DP setting) has no
        # spread to show: the interval is the value itself.
        same = out[f"{m}_min"] == out[f"{m}_max"]
        for part in ("lo", "hi"):
            out[f"{m}_{part}"] = out[f"{m}_{part}"].where(~same, out[f"{m}_mean"])
    return out


def comparisons(results: pd.DataFrame, reference: str, metrics=None) -> pd.DataFrame:
    """comparisons.csv: every setting (and condition, when a study varies population or policy
    parameters) x metric against `reference`, paired by world (`paired_differences`)."""
    ok = with_derived(results)
    conditions = varying(ok[ok["status"] == OK], CONDITION_KEYS)
    return paired_differences(ok, reference, metrics or COMPARED_METRICS, conditions=conditions)


def pareto_front(summary: pd.DataFrame, gain: str, cost: str) -> set[str]:
    """Labels not dominated: no other setting has at least the gain and at most the cost, one strictly.

    Means over seeds are compared; settings whose mean is not a number are left out.
    """
    cols = [f"{gain}_mean", f"{cost}_mean"]
    if not set(cols) <= set(summary.columns):
        return set()
    pts = summary[["label", *cols]].dropna()  # inf stays: an infinite cost (epsilon) is the worst
    front = set()
    g_all, c_all = pts[cols[0]].to_numpy(), pts[cols[1]].to_numpy()
    for label, g, c in zip(pts["label"], g_all, c_all):
        dominated = ((g_all >= g) & (c_all <= c) & ((g_all > g) | (c_all < c))).any()
        if not dominated:
            front.add(label)
    return front


def fmt_number(v, digits=3) -> str:
    """A number for reading: fixed digits, ∞ for infinity, – for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        return f"{v:.{digits}f}"
    return str(v)


def feasible_mask(summary: pd.DataFrame) -> pd.Series:
    """Settings a firm could run: not the oracle (it reads the truth), and no customer profiled without
    profiling consent in any seed (runs with respect_consent false carry their violations)."""
    ok = summary["approach"] != "oracle"
    if "consent_violations_max" in summary:
        ok &= ~(pd.to_numeric(summary["consent_violations_max"], errors="coerce") > 0)
    return ok
