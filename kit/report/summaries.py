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
from ..params import KNOB_RANGES
from ..records import OK
from .comparisons import across_worlds, distinguishable, paired_differences, varying

# (metric, column header, reading) for the two summary tables.
GAIN_PRIVACY_METRICS = [
    ("gain_share", "gain share", "share of the oracle's gain over mass: 1 = oracle, 0 = mass"),
    ("value_policy", "value / customer", "expected net value per held-out customer, under the truth"),
    ("epsilon", "ε", "formal differential-privacy loss of what is released (∞: no formal guarantee)"),
    ("min_segment_size", "smallest segment", "customers in the smallest released segment"),
    ("reid_rate", "re-identification", "share of customers unique on quasi-identifiers + segment"),
    ("reid_rate_base", "re-id. without segment", "the same on quasi-identifiers alone"),
    ("mia_advantage", "membership adv.", "TPR − FPR of the best membership-inference threshold"),
    ("mia_epsilon_lb", "empirical ε lower bound", "from Clopper-Pearson bounds on the attack's rates"),
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
    ("eod_gender", "EOD gender", "equal-opportunity difference, women minus men"),
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


def with_derived(results: pd.DataFrame) -> pd.DataFrame:
    """Results plus the derived cost columns the frontiers plot (lower = better)."""
    r = results.copy()
    for attr in ("older", "gender"):
        if f"di_{attr}" in r:
            r[f"unfairness_{attr}"] = (1 - pd.to_numeric(r[f"di_{attr}"], errors="coerce")).abs()
    if "eod_older" in r:
        r["abs_eod_older"] = pd.to_numeric(r["eod_older"], errors="coerce").abs()
    for di, fail, _ in FOUR_FIFTHS_GROUPS.values():
        if di in r:
            r[fail] = [float(not passes_four_fifths(v)) for v in pd.to_numeric(r[di], errors="coerce")]
    return r


def summarise(results: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Per approach setting and metric, over worlds (seeds): mean, min, max, sd, and the Student-t
    95% interval of the mean (`_lo`, `_hi`: the across-world uncertainty of the setting's level)."""
    ok = with_derived(results[results["status"] == OK])
    if ok.empty:
        return pd.DataFrame()
    names = metrics or ([m for m, _, _ in GAIN_PRIVACY_METRICS + FAIRNESS_METRICS] + list(DERIVED) + list(CHECKS))
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
    conditions = varying(ok[ok["status"] == OK], POP_KEYS)
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


def feasible(summary: pd.DataFrame) -> pd.Series:
    """True for settings that pass every ethics check (consent, contact cap, described segments) in
    every world; the oracle, which reads the truth, never is."""
    ok = summary["approach"] != "oracle"
    for c in FEASIBILITY_CHECKS:
        if f"{c}_max" in summary:
            ok &= summary[f"{c}_max"].fillna(1) == 0
    return ok


def _signed(v: float, pct: bool) -> str:
    return f"{100 * v:+.1f} points" if pct else f"{v:+.3f}"


def diff_text(row, pct: bool = False) -> str:
    """A paired difference for reading: '+0.063 (95% interval +0.035 to +0.091)'."""
    lo, hi = (f"{100 * row[k]:+.1f}" if pct else f"{row[k]:+.3f}" for k in ("diff_lo", "diff_hi"))
    return f"{_signed(row['diff_mean'], pct)} (95% interval {lo} to {hi})"


def level_text(summary_row, metric: str, pct: bool = False) -> str:
    """A setting's mean over worlds with its t interval: '56.4% (95% interval 51.2-61.6%)'."""
    m, lo, hi = (summary_row.get(f"{metric}_{k}", math.nan) for k in ("mean", "lo", "hi"))
    if pct:
        return f"{100 * m:.1f}% (95% interval {100 * lo:.1f}–{100 * hi:.1f}%)"
    return f"{m:.3f} (95% interval {lo:.3f}–{hi:.3f})"


def comparison_sentence(
    comps: pd.DataFrame, metric: str, what: str, reference: str, pct: bool = False, settings=None, exclude=()
) -> str | None:
    """One finding from comparisons.csv's rows for `metric`: which settings are higher, which lower
    than the reference (paired interval excluding 0), and which are not distinguishable from it.
    `settings` keeps only those settings; `exclude` leaves some out (e.g. the oracle, an upper
    bound rather than an option)."""
    rows = comps[(comps["metric"] == metric) & (comps["setting"] != reference) & (comps["n_worlds"] > 1)]
    rows = rows[~rows["setting"].isin(exclude)]
    if settings is not None:
        rows = rows[rows["setting"].isin(settings)]
    if rows.empty:
        return None
    n = int(rows["n_worlds"].min())
    sig = rows.apply(distinguishable, axis=1)
    up, down = rows[sig & (rows["diff_mean"] > 0)], rows[sig & (rows["diff_mean"] < 0)]
    same = rows[~sig]
    parts = []
    for name, part in (("higher", up), ("lower", down)):
        if not part.empty:
            part = part.sort_values("diff_mean", ascending=name == "lower")
            parts.append(f"{name} for " + "; ".join(f"{r['setting']} {diff_text(r, pct)}" for _, r in part.iterrows()))
    if not same.empty:
        parts.append(f"not distinguishable from {reference} over {n} worlds for " + ", ".join(same["setting"]))
    return f"{what} against {reference}, paired by world: " + "; ".join(parts) + "."


def _rows(comps: pd.DataFrame, setting: str) -> dict:
    return {r["metric"]: r for _, r in comps[comps["setting"] == setting].iterrows()}


def _effect(row, name: str, reference: str, pct: bool = False) -> str:
    if not distinguishable(row):
        return f"{name} {diff_text(row, pct)}, not distinguishable from {reference}"
    return f"{name} {diff_text(row, pct)}"


def four_fifths_sentences(summary: pd.DataFrame, worst_cells: dict | None = None) -> list[str]:
    """Who fails the four-fifths rule in most worlds, per protected grouping, with the disparate
    impact's mean over worlds and its interval; and, for older customers, whether the contact cap
    rather than the approach is the cause (fails over everyone, passes among the eligible)."""
    out = []
    for key in ("older", "gender", "age_gender"):
        di, fail, (unpriv, priv) = FOUR_FIFTHS_GROUPS[key]
        if f"{fail}_mean" not in summary:
            continue
        bad = summary[summary[f"{fail}_mean"] > 0.5]
        head = {
            "older": "Four-fifths rule, older vs younger customers (among contact-eligible customers)",
            "gender": "Four-fifths rule, women vs men (among contact-eligible customers)",
            "age_gender": "Four-fifths rule across the age band × gender cells (lowest / highest offer rate)",
        }[key]
        if bad.empty:
            out.append(f"{head}: no setting fails it in most worlds.")
            continue
        items = []
        for _, r in bad.iterrows():
            n_fail, n = round(r[f"{fail}_mean"] * r["runs"]), int(r["runs"])
            who = ""
            if key != "age_gender":
                who = f": {unpriv if r[f'{di}_mean'] < 1 else priv} offered less"
            elif worst_cells and r["label"] in worst_cells:
                cell, k = worst_cells[r["label"]]
                who = f"; lowest most often: {cell}, in {k} of {n} worlds"
            items.append(f"{r['label']} in {n_fail} of {n} worlds (DI {level_text(r, di)}{who})")
        out.append(f"{head}: fails in most worlds for " + "; ".join(items) + ".")
    if {"ff_fail_older_all_mean", "ff_fail_older_mean"} <= set(summary.columns):
        cap = summary[(summary["ff_fail_older_all_mean"] > 0.5) & (summary["ff_fail_older_mean"] <= 0.5)]
        if not cap.empty:
            excl = summary["cap_excluded_older_mean"].mean() if "cap_excluded_older_mean" in summary else math.nan
            out.append(
                "Counting every customer, the contact cap's exclusions included (it excludes "
                f"{100 * excl:.0f}% of older customers on average), the rule would also fail in most worlds for "
                + ", ".join(cap["label"])
                + ": there the cap, a wellbeing protection, not the approach, makes the gap."
            )
    return out


def headline_findings(
    summary: pd.DataFrame, comps: pd.DataFrame | None = None, reference: str | None = None, worst_cells=None
) -> list[str]:
    """Sentences written from the summary over worlds and the paired comparisons with the reference.

    A difference is claimed only when its paired 95% interval over worlds excludes 0; otherwise the
    sentence says the settings are not distinguishable over that many worlds. "Feasible" means
    passing every ethics check (consent, contact cap, described segments) in every world.
    """
    if summary.empty:
        return ["No run finished successfully; see the failures below."]
    out = []
    have_comps = comps is not None and reference is not None and not comps.empty
    n_worlds = int(summary["runs"].max())
    ok = feasible(summary)
    infeasible = summary[~ok & (summary["approach"] != "oracle")]
    fea = summary[ok]
    if not fea.empty and "gain_share_mean" in fea:
        best = fea.loc[fea["gain_share_mean"].idxmax()]
        txt = (
            f"Highest mean gain among feasible settings (passing the consent, contact-cap and description checks "
            f"in every world): {best['label']}, {level_text(best, 'gain_share', pct=True)} of the oracle's gain "
            f"over mass, over {int(best['runs'])} worlds"
        )
        if have_comps and best["label"] != reference:
            row = _rows(comps, best["label"]).get("gain_share")
            if row is not None:
                txt += f"; paired with {reference}: " + _effect(row, "gain share", reference, pct=True)
        out.append(txt + ".")
    if not infeasible.empty:
        why = []
        for _, r in infeasible.iterrows():
            failed = [c for c in FEASIBILITY_CHECKS if r.get(f"{c}_max", 0) > 0]
            why.append(f"{r['label']} ({', '.join(failed)})")
        out.append("Not feasible (an ethics check fails in some world): " + "; ".join(why) + ".")
    if have_comps:
        oracle = list(summary.loc[summary["approach"] == "oracle", "label"])
        for metric, what, pct in (
            ("gain_share", "Gain share", True),
            ("di_older", "Disparate impact for older customers (among the eligible)", False),
            ("eod_older", "Equal opportunity for older customers (beneficial offers to those an offer helps)", False),
            ("di_gender", "Disparate impact for women", False),
            ("di_age_gender", "Disparate impact across age band × gender (lowest / highest cell)", False),
        ):
            sentence = comparison_sentence(comps, metric, what, reference, pct=pct, exclude=oracle)
            if sentence:
                out.append(sentence)
        fair = summary[summary["approach"].isin(["fair_kmeans", "fair_targeting"])]
        for _, r in fair.iterrows():
            rows = _rows(comps, r["label"])
            parts = [
                _effect(rows[m], name, reference, pct=m == "gain_share")
                for m, name in (
                    ("balance_older", "segment balance (older)"),
                    ("di_older", "DI older"),
                    ("eod_older", "EOD older"),
                    ("di_gender", "DI gender"),
                    ("gain_share", "gain share"),
                )
                if m in rows and rows[m]["n_worlds"] > 1
            ]
            if parts:
                out.append(
                    f"What {r['label']} changes against {reference} over {n_worlds} worlds: " + "; ".join(parts) + "."
                )
        dp = (
            summary[summary["approach"] == "dp_kmeans"].sort_values("epsilon_mean") if "epsilon_mean" in summary else []
        )
        parts = []
        for _, r in getattr(dp, "iterrows", lambda: [])():
            row = _rows(comps, r["label"]).get("gain_share")
            if row is not None and row["n_worlds"] > 1:
                parts.append(f"ε = {fmt_number(r['epsilon_mean'], 2)}: " + _effect(row, "gain share", reference, True))
        if parts:
            out.append(f"What ε costs, differentially private k-means against {reference}: " + "; ".join(parts) + ".")
    out.extend(four_fifths_sentences(summary, worst_cells))
    return out


def worst_cells(stacked: pd.DataFrame) -> dict:
    """For each setting, the age band × gender cell with the lowest offer rate (among the eligible)
    in the most worlds, and in how many: {label: (cell, worlds)}. `stacked` is every run's
    fairness_by_age_band_gender table with its label and seed (blanked small cells are skipped)."""
    need = {"label", "seed", "age_band", "gender", "offer_rate"}
    if stacked.empty or not need <= set(stacked.columns):
        return {}
    t = stacked.dropna(subset=["offer_rate"])
    low = t.loc[t.groupby(["label", "seed"])["offer_rate"].idxmin()]
    cell = low["age_band"].astype(str) + " / " + low["gender"].astype(str)
    counts = cell.groupby(low["label"]).value_counts()
    return {
        label: (c.index[0][1] if isinstance(c.index[0], tuple) else c.index[0], int(c.iloc[0]))
        for label, c in counts.groupby(level=0)
    }
