"""The study report's headline findings: sentences written from the summary over worlds and the
paired comparisons with the reference setting, claiming only what the numbers carry.

A difference is claimed only when its paired 95% interval over worlds excludes zero; otherwise the
sentence says the settings are not distinguishable over that many worlds. "Feasible" means passing
every ethics check (consent, contact cap, described segments) in every world. Every sentence is
backed by a row of comparisons.csv or a summary table of the report.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .comparisons import COMPARISON_COLUMNS, distinguishable
from .summaries import FEASIBILITY_CHECKS, FOUR_FIFTHS_GROUPS, fmt_number


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


NO_INTERVAL = "(one world: no interval)"  # a study with one seed: nothing to take an interval over


def diff_text(row, pct: bool = False) -> str:
    """A paired difference for reading: '+0.063 (95% interval +0.035 to +0.091)'."""
    if not (np.isfinite(float(row["diff_lo"])) and np.isfinite(float(row["diff_hi"]))):
        return f"{_signed(row['diff_mean'], pct)} {NO_INTERVAL}"
    lo, hi = (f"{100 * row[k]:+.1f}" if pct else f"{row[k]:+.3f}" for k in ("diff_lo", "diff_hi"))
    return f"{_signed(row['diff_mean'], pct)} (95% interval {lo} to {hi})"


def level_text(summary_row, metric: str, pct: bool = False) -> str:
    """A setting's mean over worlds with its t interval: '56.4% (95% interval 51.2-61.6%)'."""
    m, lo, hi = (summary_row.get(f"{metric}_{k}", math.nan) for k in ("mean", "lo", "hi"))
    if summary_row.get(f"{metric}_n", 2) < 2 or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{100 * m:.1f}% {NO_INTERVAL}" if pct else f"{m:.3f} {NO_INTERVAL}"
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


# Past this many failing settings a four-fifths finding names them only (their DI is in the
# fairness table): a sentence per setting made a paragraph nobody reads.
MAX_LISTED_FAILURES = 5
ORACLE_FAILS_TOO = (
    " The oracle (every customer's truly best action) fails too: the groups differ in who truly benefits"
    " from an offer, so part of every approach's gap is that difference, not the approach."
)


def _many_fail_sentence(head: str, bad: pd.DataFrame, n_settings: int, di: str) -> str:
    """One sentence for a rule most settings fail: how many, the range of their mean DI, the lowest."""
    low = bad.loc[bad[f"{di}_mean"].idxmin()]
    return (
        f"{head}: fails in most worlds for {len(bad)} of {n_settings} settings ({', '.join(bad['label'])}); "
        f"their mean DI ranges from {fmt_number(bad[f'{di}_mean'].min(), 3)} to {fmt_number(bad[f'{di}_mean'].max(), 3)}, "
        f"lowest for {low['label']} (DI {level_text(low, di)}); the fairness table gives each."
    )


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
        if len(bad) > MAX_LISTED_FAILURES:
            out.append(_many_fail_sentence(head, bad, len(summary), di))
        else:
            out.append(f"{head}: fails in most worlds for " + "; ".join(items) + ".")
        if "oracle" in set(bad["label"]):
            out[-1] += ORACLE_FAILS_TOO
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


SWEEP_METRICS = [
    ("gain_share", "gain share", True),
    ("unfairness_older", "|1 − DI| for older customers", False),
    ("unfairness_gender", "|1 − DI| for women", False),
    ("eod_older", "EOD for older customers", False),
    ("attr_inference_lift_older", "attribute-inference lift (older)", False),
]


def sweep_sentences(summary: pd.DataFrame, comps: pd.DataFrame, reference: str, conditions: list[str]) -> list[str]:
    """For a study that varies population or policy parameters: per setting and metric, the paired
    difference from the reference in each combination of the varied parameters, in order."""
    out = []
    oracle = set(summary.loc[summary["approach"] == "oracle", "label"])
    for label in dict.fromkeys(comps["setting"]):
        if label == reference or any(o.startswith(label + " (") or o == label for o in oracle):
            continue
        for metric, what, pct in SWEEP_METRICS:
            rows = comps[(comps["setting"] == label) & (comps["metric"] == metric) & (comps["n_worlds"] > 1)]
            if rows.empty:
                continue
            rows = rows.sort_values(conditions)
            parts = []
            for _, r in rows.iterrows():
                where = ", ".join(f"{c}={fmt_number(r[c], 3) if isinstance(r[c], float) else r[c]}" for c in conditions)
                verdict = "" if distinguishable(r) else ", not distinguishable"
                parts.append(f"{where}: {diff_text(r, pct)}{verdict}")
            n = int(rows["n_worlds"].min())
            out.append(f"{label}'s {what} against {reference}, paired over {n} worlds each: " + "; ".join(parts) + ".")
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
    conditions = [c for c in comps.columns if c not in COMPARISON_COLUMNS] if have_comps else []
    if conditions:  # a sweep: each setting's paired differences, condition by condition
        out.extend(sweep_sentences(summary, comps, reference, conditions))
    elif have_comps:
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
    out.extend(privacy_findings(summary))
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


def privacy_findings(summary: pd.DataFrame) -> list[str]:
    """Sentences on consent, the audience file's k-anonymity and the membership audit, from the summary."""
    out = []
    col = summary.get("consent_violations_max")
    if col is not None:
        ignoring = summary[(pd.to_numeric(col, errors="coerce") > 0) & (summary["approach"] != "oracle")]
        for _, r in ignoring.iterrows():
            base = summary[(summary["label"] == r["label"].replace(" (ignoring consent)", ""))]
            buys = (
                f" (+{100 * (r['gain_share_mean'] - base['gain_share_mean'].iloc[0]):.1f} points over "
                f"{base['label'].iloc[0]}, which respects it)"
                if len(base) and r["label"] != base["label"].iloc[0]
                else ""
            )
            out.append(
                f"Infeasible: {r['label']} profiles {r['consent_violations_mean']:.0f} held-out customers without "
                f"profiling consent for {100 * r['gain_share_mean']:.1f}% of the oracle's gain{buys}."
            )
    kanon = summary[summary["approach"] == "kanon"]
    if not kanon.empty and {"min_audience_class_min", "reid_rate_mean"} <= set(summary.columns):
        parts = [
            f"{r['label']} {100 * r['gain_share_mean']:.1f}% gain, smallest class {r['min_audience_class_min']:.0f}, "
            f"re-identification {100 * r['reid_rate_mean']:.1f}%"
            for _, r in kanon.iterrows()
        ]
        ref = summary[summary["label"] == "kmeans(n_clusters=20)"]  # kanon starts from 20 segments
        if len(ref):
            r = ref.iloc[0]
            parts.append(
                f"against {r['label']} {100 * r['gain_share_mean']:.1f}% gain, re-identification "
                f"{100 * r['reid_rate_mean']:.1f}% of the audience file"
            )
        out.append("k-anonymous audience files: " + "; ".join(parts) + ".")
    if "mia_audit_eps_lb_mean" in summary:
        audited = summary.dropna(subset=["mia_audit_eps_lb_mean"])
        top = audited["mia_audit_eps_lb_max"].max() if len(audited) else math.nan
        if np.isfinite(top) and top > 0:
            exact = audited[audited["mia_audit_eps_lb_min"] >= top - 1e-9]["label"].tolist()
            below = audited[audited["mia_audit_eps_lb_max"] < top - 1e-9]
            txt = (
                f"Membership audit (a canary added or left out; the attacker knows everyone else): "
                f"{len(exact)} setting(s) show ε ≥ {top:.2f} in every seed, the most their trials can prove "
                "(exact segment sizes count the canary)"
            )
            if len(below):
                txt += "; the others' highest bound over the seeds: " + ", ".join(
                    f"{r['label']} {r['mia_audit_eps_lb_max']:.2f} (formal ε {fmt_number(r.get('epsilon_mean'), 2)})"
                    for _, r in below.iterrows()
                )
                if (below["mia_audit_eps_lb_max"] <= 0).all():
                    txt += ": the audit proves no leak for them, as their formal ε allows (it proves lower bounds only)"
            out.append(txt + ".")
    return out
