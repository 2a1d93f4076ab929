"""The study report's answer to "does ethical segmentation pay back in trust?": a sensitivity analysis.

For a study whose runs simulate several periods (`horizon` > 1; `kit.run.longrun`), each setting's
long-run value is compared with the reference setting's (k-means) in the same world, within each
trust setting the study varies (`TRUST_CONDITIONS`), by the study's paired comparisons
(`kit.report.comparisons.paired_differences`: mean difference over worlds and its Student-t 95%
interval). A setting *overtakes* the reference at a trust setting when the whole interval is above
zero, *falls behind* when it is below, and is *not distinguishable* otherwise.

Pure functions of ``results.csv``'s table, plus the HTML fragment and figure the report shows.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .comparisons import across_worlds, paired_differences, varying
from .formatting import fmt_number

# Run parameters of the trust simulation a study may sweep: comparisons are made within each.
TRUST_CONDITIONS = (
    "trust_sensitivity",
    "intrusion_weight",
    "contact_tolerance",
    "trust_recovery",
    "notice_effect",
    "base_churn",
    "distrust_churn",
    "distrust_optout",
    "discount",
    "horizon",
)
LONGRUN_METRICS = ("value_longrun", "churn_rate", "optout_rate", "trust_end", "value_policy")
NO_REFERENCE = "the study names no reference setting to compare with"


def is_longrun(results: pd.DataFrame) -> bool:
    """True when some run simulated more than one period."""
    return "horizon" in results and "value_longrun" in results and bool((results["horizon"] > 1).any())


def longrun_comparisons(results: pd.DataFrame, reference: str) -> pd.DataFrame:
    """`value_longrun`, `churn_rate`, `optout_rate`, `trust_end` and `value_policy` of every setting
    minus the reference's, paired by world, within each trust (and other varying) condition."""
    ok = results[results["status"] == "ok"] if "status" in results else results  # a sweep's table has no status
    conditions = varying(ok, TRUST_CONDITIONS)
    return paired_differences(results, reference, LONGRUN_METRICS, conditions=conditions)


def _g(v) -> str:
    """A parameter value as written in a study file (0.3, not 0.300)."""
    return f"{v:g}" if isinstance(v, (int, float, np.integer, np.floating)) else str(v)


def _condition_text(row: pd.Series, conditions: list[str]) -> str:
    return ", ".join(f"{c} {_g(row[c])}" for c in conditions)


def _interval_text(row: pd.Series) -> str:
    if not (np.isfinite(row["diff_lo"]) and np.isfinite(row["diff_hi"])):
        return f"{row['diff_mean']:+.2f} (one world: no interval)"
    return f"{row['diff_mean']:+.2f} [{row['diff_lo']:+.2f}, {row['diff_hi']:+.2f}]"


def verdict(row: pd.Series) -> str:
    """'overtakes', 'falls behind' or 'not distinguishable' from a comparison row's interval."""
    lo, hi = float(row["diff_lo"]), float(row["diff_hi"])
    if np.isfinite(lo) and lo > 0:
        return "overtakes"
    if np.isfinite(hi) and hi < 0:
        return "falls behind"
    return "not distinguishable"


def longrun_findings(comps: pd.DataFrame, reference: str) -> list[str]:
    """One sentence per setting: at which trust settings its long-run value exceeds the reference's
    (interval above zero), falls below it, or cannot be told apart; then the answer for the study."""
    conditions = [c for c in comps.columns if c in TRUST_CONDITIONS]
    value = comps[(comps["metric"] == "value_longrun") & (comps["setting"] != reference)]
    if value.empty:
        return []
    n_worlds = int(value["n_worlds"].max())
    worlds = f"{n_worlds} world{'s' if n_worlds != 1 else ''}"
    out = []
    overtakers = []
    for setting, rows in value.groupby("setting", sort=False):
        parts = {}
        for _, r in rows.iterrows():
            where = _condition_text(r, conditions)
            parts.setdefault(verdict(r), []).append(f"{where}: {_interval_text(r)}" if where else _interval_text(r))
        if "overtakes" in parts:
            overtakers.append(setting)
        at = " at " if conditions else ": "
        phrase = {
            "overtakes": "overtakes",
            "falls behind": "falls behind",
            "not distinguishable": "cannot be told apart",
        }
        said = [f"{phrase[v]}{at}{'; '.join(parts[v])}" for v in phrase if v in parts]
        out.append(f"{setting} vs {reference}, discounted long-run value per customer: " + "; it ".join(said) + ".")
    span = ", ".join(f"{c} {_g(value[c].min())} to {_g(value[c].max())}" for c in conditions)
    span = f"the range studied ({span})" if span else "the runs studied"
    if overtakers:
        head = (
            f"Long-run value: {', '.join(overtakers)} overtake{'s' if len(overtakers) == 1 else ''} {reference} "
            f"at some of the trust settings of {span}; differences are paired by world, "
            f"95% Student-t intervals over {worlds}."
        )
    else:
        head = (
            f"Long-run value: no setting overtakes {reference} in {span}; "
            f"differences paired by world, 95% Student-t intervals over {worlds}."
        )
    return [head, *out]


def longrun_table_html(comps: pd.DataFrame, results: pd.DataFrame, reference: str) -> str:
    """Per setting x trust condition: long-run value minus the reference's [95% interval], with the
    verdict; churn and opt-out rates (means over worlds) beside it."""
    conditions = [c for c in comps.columns if c in TRUST_CONDITIONS]
    levels = across_worlds(results, ["churn_rate", "optout_rate", "value_longrun"], conditions)
    keyed = levels.set_index(["label", *conditions]) if conditions else levels.set_index("label")
    value = comps[comps["metric"] == "value_longrun"]
    heads = [
        *conditions,
        "setting",
        f"Δ long-run value vs {reference} [95% CI]",
        "verdict",
        "long-run value",
        "churn rate",
        "opt-out rate",
    ]
    rows = []
    for _, r in value.sort_values([*conditions, "setting"], kind="stable").iterrows():
        key = (r["setting"], *(r[c] for c in conditions)) if conditions else r["setting"]
        lv = keyed.loc[key] if key in keyed.index else None
        verdict_text = "reference" if r["setting"] == reference else verdict(r)
        cls = {"overtakes": "ok", "falls behind": "fail"}.get(verdict_text, "")
        cells = [
            *(fmt_number(r[c]) for c in conditions),
            html.escape(str(r["setting"])),
            "–" if r["setting"] == reference else _interval_text(r),
            f'<span class="{cls}">{verdict_text}</span>',
        ]
        for m in ("value_longrun", "churn_rate", "optout_rate"):
            cells.append(fmt_number(lv[f"{m}_mean"]) if lv is not None else "–")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in heads) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def plot_longrun(comps: pd.DataFrame, reference: str, condition: str = "trust_sensitivity"):
    """Long-run value minus the reference's against a trust setting, one line per setting, with
    the 95% intervals over worlds as bars and zero (the reference) as a line."""
    import matplotlib.pyplot as plt

    value = comps[(comps["metric"] == "value_longrun") & (comps["setting"] != reference)]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    settings = list(dict.fromkeys(value["setting"]))
    xs = sorted(value[condition].unique()) if condition in value else [0.0]
    width = (max(xs) - min(xs) or 1.0) * 0.012
    for j, (setting, rows) in enumerate(value.groupby("setting", sort=False)):
        rows = rows.sort_values(condition) if condition in rows else rows
        x = (rows[condition].to_numpy(float) if condition in rows else np.zeros(len(rows))) + (
            j - (len(settings) - 1) / 2
        ) * width
        y = rows["diff_mean"].to_numpy(float)
        err = np.vstack([y - rows["diff_lo"].to_numpy(float), rows["diff_hi"].to_numpy(float) - y])
        err = np.nan_to_num(err, nan=0.0)  # one world: no interval to draw
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=setting)
    ax.axhline(0.0, color="black", lw=1, ls="--")
    ax.set_xlabel(condition.replace("_", " "))
    ax.set_ylabel(f"long-run value minus {reference}'s")
    ax.set_title(f"Does an approach's long-run value exceed {reference}'s? (paired by world)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig
