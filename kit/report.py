"""The study report: ``reports/<study>/index.html``, written from the study's saved results only.

Every number and figure comes from ``results.csv`` and the runs' saved files (``metrics.json``,
``tables/*.csv``, ``manifest.json``); the report shows aggregates only (no customer rows, no code),
and suppresses any table cell built from fewer than `MIN_CELL` customers. Figures are also saved as
PNG under ``reports/<study>/figures/``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment

from .records import write_atomic
from .runner import OK, read_manifest
from .study import Study

MIN_CELL = 10  # table cells from fewer customers are suppressed

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
    ("di_older", "DI older", "disparate impact: offer rate of 65+ / of younger (< 0.8 fails the four-fifths rule)"),
    ("spd_older", "SPD older", "statistical parity difference of offer rates, 65+ minus younger"),
    ("eod_older", "EOD older", "equal-opportunity difference among customers an offer truly helps"),
    ("aod_older", "AOD older", "average odds difference"),
    ("di_gender", "DI gender", "disparate impact: women / men"),
    ("eod_gender", "EOD gender", "equal-opportunity difference, women minus men"),
    ("balance_older", "balance older", "segment balance (Chierichetti et al.): 1 = every segment mirrors the mix"),
    ("balance_gender", "balance gender", "segment balance for gender"),
]
CHECKS = ("consent_violations", "fatigue_violations", "undescribed_segments", "four_fifths_fail")
CHECK_DOCS = {
    "consent_violations": "no customer without profiling consent was profiled",
    "fatigue_violations": "no older customer was contacted at or over the contact cap",
    "undescribed_segments": "every segment has a plain-language description",
    "four_fifths_fail": "every disparate impact is at least 0.8",
}
# Derived cost columns: (name, how it is computed, axis label).
DERIVED = {
    "unfairness_older": "|1 − disparate impact|, older vs younger",
    "unfairness_gender": "|1 − disparate impact|, women vs men",
    "abs_eod_older": "|equal-opportunity difference|, older vs younger",
}
POP_KEYS = ["n_customers", "n_segments", "proxy_strength", "label_bias", "consent_rate", "older_share",
            "older_fatigue", "history_share", "budget", "older_contact_cap", "min_obs"]


def with_derived(results: pd.DataFrame) -> pd.DataFrame:
    """Results plus the derived cost columns the frontiers plot (lower = better)."""
    r = results.copy()
    for attr in ("older", "gender"):
        if f"di_{attr}" in r:
            r[f"unfairness_{attr}"] = (1 - pd.to_numeric(r[f"di_{attr}"], errors="coerce")).abs()
    if "eod_older" in r:
        r["abs_eod_older"] = pd.to_numeric(r["eod_older"], errors="coerce").abs()
    return r


def summarise(results: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Mean, min, max and sd over seeds of each metric, one row per approach setting."""
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
    return pd.DataFrame(rows)


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


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _fig_to_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


# Below these extra costs over mass a difference is within the measurement's noise (e.g. a
# membership advantage of 0.01 from a few thousand customers), so no "gain per unit" is computed.
MIN_EXTRA_COST = {"mia_advantage": 0.02, "reid_rate": 0.01, "unfairness_older": 0.02}


def efficiency(summary: pd.DataFrame, cost: str, min_extra: float | None = None) -> pd.DataFrame:
    """Gain bought per unit of a cost, against mass (which has zero gain): gain_share / (cost − cost(mass)).

    Only feasible approaches (not the oracle) are ranked. Where the extra cost is below `min_extra`
    (default `MIN_EXTRA_COST[cost]`, else 0.005) it counts as no extra cost: `per_unit` is inf.
    """
    min_extra = MIN_EXTRA_COST.get(cost, 0.005) if min_extra is None else min_extra
    if f"{cost}_mean" not in summary or "mass" not in set(summary["label"]):
        return pd.DataFrame(columns=["label", "gain", "extra_cost", "per_unit"])
    base = float(summary.loc[summary["label"] == "mass", f"{cost}_mean"].iloc[0])
    s = summary[(summary["approach"] != "oracle") & (summary["label"] != "mass")]
    out = pd.DataFrame({"label": s["label"], "gain": s["gain_share_mean"], "extra_cost": s[f"{cost}_mean"] - base})
    out = out[np.isfinite(out["extra_cost"]) & np.isfinite(out["gain"])]
    out["per_unit"] = np.where(out["extra_cost"] >= min_extra, out["gain"] / out["extra_cost"].clip(lower=min_extra),
                               np.inf)
    return out.sort_values(["per_unit", "gain"], ascending=False)


def headline_findings(summary: pd.DataFrame) -> list[str]:
    """Sentences written from the summary: best gain, what it costs, Pareto sets, epsilon's price."""
    if summary.empty:
        return ["No run finished successfully; see the failures below."]
    out = []
    feasible = summary[summary["approach"] != "oracle"]
    if not feasible.empty:
        best = feasible.loc[feasible["gain_share_mean"].idxmax()]
        txt = (f"Highest gain among feasible approaches: {best['label']}, reaching {100 * best['gain_share_mean']:.1f}% "
               f"of the oracle's gain over mass (range {100 * best['gain_share_min']:.1f}–"
               f"{100 * best['gain_share_max']:.1f}% over {best['runs']} seed(s))")
        costs = []
        if "reid_rate_mean" in best:
            costs.append(f"re-identification {100 * best['reid_rate_mean']:.1f}% of customers")
        if "mia_advantage_mean" in best:
            costs.append(f"membership advantage {best['mia_advantage_mean']:.3f}")
        if "di_older_mean" in best:
            costs.append(f"disparate impact for older customers {best['di_older_mean']:.2f}")
        out.append(txt + (", at " + ", ".join(costs) if costs else "") + ".")
    for cost, what in (("mia_advantage", "membership-inference advantage"), ("reid_rate", "re-identification risk"),
                       ("unfairness_older", "unfairness to older customers |1 − DI|")):
        eff = efficiency(summary, cost)
        eff = eff[eff["gain"] > 0.01]
        if not eff.empty:
            top = eff.iloc[0]
            if math.isinf(top["per_unit"]):
                out.append(f"{top['label']} gains {100 * top['gain']:.1f}% of the oracle's gain at no meaningful extra "
                           f"{what} over mass (less than +{MIN_EXTRA_COST.get(cost, 0.005):g}).")
            else:
                out.append(f"Most gain per unit of {what} given up (vs mass): {top['label']}, "
                           f"{top['per_unit']:.2f} gain share per unit ({100 * top['gain']:.1f}% gain for "
                           f"+{top['extra_cost']:.3f}).")
    for cost, what in (("mia_advantage", "gain against membership advantage"),
                       ("unfairness_older", "gain against unfairness to older customers")):
        front = sorted(pareto_front(summary, "gain_share", cost))
        if front:
            out.append(f"Pareto-efficient on {what}: " + ", ".join(front) + ".")
    dp = summary[summary["approach"] == "dp_kmeans"]
    ref = summary[summary["label"].isin(["kmeans", "kmeans(n_clusters=6)"])]  # dp_kmeans's default k is 6
    if ref.empty:
        ref = summary[summary["approach"] == "kmeans"]
    if not dp.empty and not ref.empty and "epsilon_mean" in dp:
        g_ref = float(ref["gain_share_mean"].iloc[0])
        parts = [f"ε = {_fmt(r['epsilon_mean'], 2)}: {100 * r['gain_share_mean']:.1f}%"
                 for _, r in dp.sort_values("epsilon_mean").iterrows()]
        out.append(f"What ε costs: differentially private k-means reaches " + "; ".join(parts)
                   + f" of the oracle's gain, against {100 * g_ref:.1f}% for non-private {ref['label'].iloc[0]}.")
    fails = [r["label"] for _, r in summary.iterrows() if r.get("four_fifths_fail_max", 0) > 0]
    if fails:
        out.append("Failing the four-fifths rule in at least one seed: " + ", ".join(fails) + ".")
    return out


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Study {{ name }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.85em}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}.fail{color:#b00020;font-weight:600}.pass{color:#1b7f3b}
img{max-width:100%}figure{margin:1em 0}figcaption{font-size:0.9em;color:#555}code{background:#f5f5f5;padding:0 3px}
.note{color:#555;font-size:0.9em}.rng{color:#777;font-size:0.85em}nav a{margin-right:1em}
dl.docs dt{font-weight:600;float:left;clear:left;width:14em}dl.docs dd{margin-left:15em;color:#444}
</style></head><body>
<h1>Study <code>{{ name }}</code></h1>
<nav><a href="#findings">Findings</a><a href="#tradeoffs">Trade-offs</a><a href="#summary">Summary</a><a href="#groups">Groups</a>
<a href="#segments">Segments</a><a href="#checks">Ethics checks</a><a href="#runs">Runs</a><a href="#provenance">Provenance</a></nav>
<p>{{ description }}</p>
<h2>What was compared</h2>
<p>{{ n_runs }} runs ({{ n_ok }} succeeded{% if n_failed %}, <span class="fail">{{ n_failed }} failed or not run</span>{% endif %}):
{{ n_labels }} approach settings ({{ labels }}) × seeds {{ seeds }}.</p>
<table><tr><th class="l">population and policy parameter</th><th class="l">value(s) in this study</th></tr>
{% for k, v in population %}<tr><td class="l">{{ k }}</td><td class="l">{{ v }}</td></tr>{% endfor %}</table>
<p class="note">Every measurement is taken on held-out customers (never used to fit anything), against the
generator's true response probabilities and values: gain carries no sampling noise, and its spread comes from the seeds.</p>
<h2 id="findings">Headline findings</h2>
<ul>{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
<h2 id="tradeoffs">Trade-offs</h2>
{% for fig in figures %}<figure><img src="data:image/png;base64,{{ fig.data }}" alt="{{ fig.caption }}">
<figcaption>{{ fig.caption }} Also saved as <a href="figures/{{ fig.file }}">figures/{{ fig.file }}</a>.</figcaption></figure>{% endfor %}
<h2 id="summary">Summary by approach</h2>
<p class="note">Mean over seeds, with the range (min–max) below it.</p>
<h3>Gain and privacy</h3>{{ gain_table }}
<h3>Fairness</h3>{{ fair_table }}
<h3>What the columns mean</h3>
<dl class="docs">{% for m, h, d in metric_docs %}<dt>{{ h }}</dt><dd><code>{{ m }}</code>: {{ d }}</dd>{% endfor %}</dl>
<h2 id="groups">Groups</h2>
{{ group_tables }}
<h2 id="segments">Segments, in words</h2>
<p class="note">What each approach tells a marketer about its segments (first seed; sizes are shares of campaign customers).</p>
{{ segments }}
<h2 id="checks">Ethics checks</h2>
<p class="note">Pass when the count is 0 in every seed; FAIL shows the total over seeds.</p>
{{ checks_table }}
{% if failures %}<h2 class="fail">Failed runs</h2>
<table><tr><th class="l">run</th><th class="l">setting</th><th>seed</th><th class="l">error</th></tr>
{% for f in failures %}<tr><td class="l"><a href="runs/{{ f.run_id }}/">{{ f.run_id }}</a></td><td class="l">{{ f.label }}</td><td>{{ f.seed }}</td><td class="l">{{ f.error }}</td></tr>{% endfor %}</table>{% endif %}
<h2 id="runs">Runs</h2>
<table><tr><th class="l">run</th><th class="l">setting</th><th>seed</th><th>status</th><th>gain share</th><th>DI older</th><th>seconds</th><th class="l">report</th></tr>
{% for r in runs %}<tr><td class="l"><code>{{ r.run_id }}</code></td><td class="l">{{ r.label }}</td><td>{{ r.seed }}</td>
<td class="{{ 'pass' if r.status == 'ok' else 'fail' }}">{{ r.status }}</td><td>{{ r.gain }}</td><td>{{ r.di }}</td><td>{{ r.seconds }}</td>
<td class="l">{% if r.has_html %}<a href="runs/{{ r.run_id }}/report.html">notebook report</a>{% endif %}</td></tr>{% endfor %}</table>
<h2 id="provenance">Provenance</h2>
<p class="note">Kit {{ kit_version }}; code revision: {{ git }}. Raw results: <a href="results.csv">results.csv</a>;
the study file as run: <a href="study.yaml">study.yaml</a>. Each run's folder holds its parameters, versions and times
(<code>manifest.json</code>) and metrics (<code>metrics.json</code>).</p>
<h3>Population fingerprints (sha256, by seed)</h3>{{ fingerprints }}
<h3>Package versions</h3>{{ versions_table }}
</body></html>
"""


def _cell(r: pd.Series, m: str, digits=3) -> str:
    mean, lo, hi = r.get(f"{m}_mean"), r.get(f"{m}_min"), r.get(f"{m}_max")
    txt = _fmt(mean, digits)
    if mean is not None and np.isfinite(mean) and lo != hi:
        txt += f"<br><span class='rng'>{_fmt(lo, digits)}–{_fmt(hi, digits)}</span>"
    return f"<td>{txt}</td>"


def _summary_html(summary: pd.DataFrame, metrics) -> str:
    metrics = [(m, h, d) for m, h, d in metrics if f"{m}_mean" in summary.columns]
    head = "".join(f"<th title='{html.escape(d)}'>{html.escape(h)}</th>" for m, h, d in metrics)
    rows = []
    for _, r in summary.iterrows():
        cells = "".join(_cell(r, m) for m, _, _ in metrics)
        rows.append(f"<tr><td class='l'>{html.escape(r['label'])}</td><td>{r['runs']}</td>{cells}</tr>")
    return f"<table><tr><th class='l'>setting</th><th>runs</th>{head}</tr>{''.join(rows)}</table>"


def _checks_html(summary: pd.DataFrame) -> str:
    cols = [c for c in CHECKS if f"{c}_mean" in summary.columns]
    head = "".join(f"<th title='{html.escape(CHECK_DOCS[c])}'>{c}</th>" for c in cols)
    rows = []
    for _, r in summary.iterrows():
        cells = []
        for c in cols:
            total = int(round(r[f"{c}_mean"] * r["runs"]))
            cells.append("<td class='pass'>pass</td>" if r[f"{c}_max"] == 0 else f"<td class='fail'>FAIL ({total})</td>")
        rows.append(f"<tr><td class='l'>{html.escape(r['label'])}</td>{''.join(cells)}</tr>")
    docs = "".join(f"<li><code>{c}</code>: {html.escape(CHECK_DOCS[c])}</li>" for c in cols)
    return f"<table><tr><th class='l'>setting</th>{head}</tr>{''.join(rows)}</table><ul class='note'>{docs}</ul>"


def read_run_tables(out: Path, results: pd.DataFrame, name: str) -> pd.DataFrame:
    """One saved table of every successful run, stacked, with the run's label and seed."""
    frames = []
    for _, r in results[results["status"] == OK].iterrows():
        path = out / "runs" / r["run_id"] / "tables" / f"{name}.csv"
        if path.exists():
            t = pd.read_csv(path)
            t.insert(0, "label", r["label"])
            t.insert(1, "seed", r["seed"])
            frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def pivot_by_group(stacked: pd.DataFrame, groups: list[str], value: str, labels: list[str]) -> pd.DataFrame:
    """Mean over seeds of `value` per approach setting (rows) and group (columns); small cells blanked."""
    t = stacked.copy()
    t["group"] = t[groups].astype(str).agg(" / ".join, axis=1)
    t.loc[t["customers"] < MIN_CELL, value] = np.nan
    p = t.pivot_table(index="label", columns="group", values=value, aggfunc="mean", sort=False)
    return p.reindex([lab for lab in labels if lab in p.index])


def _pivot_html(p: pd.DataFrame, caption: str) -> str:
    if p.empty:
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in p.columns)
    rows = "".join(
        f"<tr><td class='l'>{html.escape(str(i))}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
        for i, row in zip(p.index, p.to_numpy(dtype=float))
    )
    return f"<h3>{html.escape(caption)}</h3><table><tr><th class='l'>setting</th>{head}</tr>{rows}</table>"


def _group_tables_html(out: Path, results: pd.DataFrame, labels: list[str]) -> str:
    parts = []
    fair = read_run_tables(out, results, "by_age_band_gender")
    if not fair.empty:
        parts.append(_pivot_html(pivot_by_group(fair, ["age_band", "gender"], "offer_rate", labels),
                                 "Offer rate by age band / gender (mean over seeds)"))
        parts.append(_pivot_html(pivot_by_group(fair, ["age_band", "gender"], "offer_rate_if_helps", labels),
                                 "Offer rate among customers an offer truly helps, by age band / gender"))
        parts.append(_pivot_html(pivot_by_group(fair, ["age_band", "gender"], "value_per_customer", labels),
                                 "Expected net value per customer, by age band / gender"))
    gain = read_run_tables(out, results, "gain_by_group")
    if not gain.empty and {"grouping", "group", "gain_share", "customers"} <= set(gain.columns):
        gain = gain.copy()
        gain["g"] = np.where(gain["grouping"] == "all", "all", gain["grouping"].astype(str) + ": " + gain["group"].astype(str))
        parts.append(_pivot_html(pivot_by_group(gain, ["g"], "gain_share", labels), "Gain share by protected group"))
    if not parts:
        return "<p class='note'>No per-group tables were saved by these runs.</p>"
    return f"<p class='note'>Cells from fewer than {MIN_CELL} customers are suppressed (–).</p>" + "".join(parts)


def _segments_html(out: Path, results: pd.DataFrame) -> str:
    parts = []
    ok = results[results["status"] == OK]
    for label, g in ok.groupby("label", sort=False):
        first = g.sort_values("seed").iloc[0]
        rec = json.loads((out / "runs" / first["run_id"] / "metrics.json").read_text())
        segs = rec.get("segments") or {}
        items = "".join(f"<li>segment {html.escape(str(k))}: {html.escape(str(v))}</li>"
                        for k, v in sorted(segs.items(), key=lambda kv: int(kv[0])))
        parts.append(f"<h3>{html.escape(label)}</h3><ul>{items}</ul>")
    return "".join(parts)


def _versions_html(manifests: list[dict]) -> str:
    vers: dict[str, set] = {}
    for m in manifests:
        for k, v in (m.get("versions") or {}).items():
            vers.setdefault(k, set()).add(str(v))
    rows = "".join(f"<tr><td class='l'>{html.escape(k)}</td><td class='l'>{html.escape(', '.join(sorted(v)))}</td></tr>"
                   for k, v in sorted(vers.items()))
    return f"<table><tr><th class='l'>package</th><th class='l'>version(s)</th></tr>{rows}</table>"


def _fingerprints_html(results: pd.DataFrame) -> str:
    ok = results[results["status"] == OK]
    if "population_fingerprint" not in ok:
        return ""
    keys = [k for k in POP_KEYS if k in ok.columns and k not in ("budget", "older_contact_cap", "min_obs")]
    g = ok.drop_duplicates(["seed", *keys])
    rows = "".join(f"<tr><td>{r['seed']}</td><td class='l'>{html.escape(', '.join(f'{k}={r[k]}' for k in keys if ok[k].nunique() > 1) or 'all runs')}</td>"
                   f"<td class='l'><code>{html.escape(str(r['population_fingerprint']))}</code></td></tr>"
                   for _, r in g.iterrows())
    return f"<table><tr><th>seed</th><th class='l'>population knobs</th><th class='l'>fingerprint</th></tr>{rows}</table>"


def _figures(summary: pd.DataFrame, out: Path) -> list[dict]:
    """The trade-off figures, saved under figures/ and returned for embedding."""
    from .plots import plot_frontiers

    figs = []
    specs = [
        ("tradeoff_privacy.png", "Personalisation gain against privacy loss",
         [("epsilon", "formal ε (∞: not differentially private)"),
          ("mia_advantage", "membership-inference advantage (TPR − FPR)"),
          ("reid_rate", "share of customers re-identifiable")]),
        ("tradeoff_fairness.png", "Personalisation gain against unfairness",
         [("unfairness_older", DERIVED["unfairness_older"]), ("abs_eod_older", DERIVED["abs_eod_older"]),
          ("unfairness_gender", DERIVED["unfairness_gender"])]),
    ]
    for file, title, axes in specs:
        # A cost that every setting shares (e.g. epsilon = ∞ for all) separates nothing: no panel.
        axes = [(m, lab) for m, lab in axes
                if f"{m}_mean" in summary.columns and summary[f"{m}_mean"].dropna().nunique() > 1]
        if not axes:
            continue
        fronts = {m: pareto_front(summary, "gain_share", m) for m, _ in axes}
        fig = plot_frontiers(summary, "gain_share", axes, fronts, title=title,
                             ylabel="gain share (1 = oracle, 0 = mass)")
        png = _fig_to_png(fig)
        write_atomic(out / "figures" / file, png)
        figs.append({"file": file, "data": base64.b64encode(png).decode(),
                     "caption": f"{title}. Each point is an approach setting at its mean over seeds; bars span the "
                                "minimum to the maximum over seeds; ringed points are Pareto-efficient "
                                "(no other setting has more gain at less cost). Lower cost is to the left."})
    return figs


def render_study_report(study: Study, results: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write index.html and figures/ for a study from its results; returns the index path."""
    from . import __version__

    out = Path(out_dir)
    summary = summarise(results)
    labels = list(dict.fromkeys(results["label"]))
    figures = _figures(summary, out) if not summary.empty else []
    manifests = [read_manifest(out / "runs" / r) or {} for r in results["run_id"]]
    runs = []
    for (_, r), m in zip(results.iterrows(), manifests):
        runs.append({"run_id": r["run_id"], "label": r["label"], "seed": r["seed"], "status": r["status"],
                     "gain": _fmt(r.get("gain_share")), "di": _fmt(r.get("di_older")),
                     "seconds": _fmt(m.get("seconds"), 1) if m.get("seconds") is not None else "–",
                     "has_html": (out / "runs" / r["run_id"] / "report.html").exists()})
    failures = [{"run_id": r["run_id"], "label": r["label"], "seed": r["seed"], "error": str(r["error"])[:500]}
                for _, r in results.iterrows() if r["status"] != OK]
    gits = {(m.get("git") or {}).get("revision") or "unknown" for m in manifests if m}
    dirty = any((m.get("git") or {}).get("dirty") for m in manifests)
    population = [(k, ", ".join(_fmt(v) if isinstance(v, float) else str(v) for v in sorted(results[k].unique())))
                  for k in POP_KEYS if k in results.columns]
    page = Environment(autoescape=False).from_string(TEMPLATE).render(
        name=html.escape(study.name),
        description=html.escape(study.description or ""),
        n_runs=len(results),
        n_ok=int((results["status"] == OK).sum()),
        n_failed=int((results["status"] != OK).sum()),
        n_labels=len(labels),
        labels=html.escape(", ".join(labels)),
        seeds=", ".join(str(s) for s in sorted(results["seed"].unique())),
        population=population,
        findings=[html.escape(f) for f in headline_findings(summary)],
        figures=figures,
        gain_table=_summary_html(summary, GAIN_PRIVACY_METRICS) if not summary.empty else "<p>No successful runs.</p>",
        fair_table=_summary_html(summary, FAIRNESS_METRICS) if not summary.empty else "",
        metric_docs=[(m, h, d) for m, h, d in GAIN_PRIVACY_METRICS + FAIRNESS_METRICS
                     if f"{m}_mean" in summary.columns],
        group_tables=_group_tables_html(out, results, labels),
        segments=_segments_html(out, results),
        checks_table=_checks_html(summary) if not summary.empty else "",
        failures=[{k: html.escape(str(v)) for k, v in f.items()} for f in failures],
        runs=runs,
        kit_version=__version__,
        git=html.escape(", ".join(sorted(gits)) + (" (with uncommitted changes)" if dirty else "")),
        fingerprints=_fingerprints_html(results),
        versions_table=_versions_html(manifests),
    )
    index = out / "index.html"
    write_atomic(index, page.encode())
    render_reports_index(out.parent)
    return index


def render_reports_index(reports_dir: str | Path) -> Path:
    """reports/index.html: a link to every study report rendered under reports/, with its size and date."""
    reports = Path(reports_dir)
    items = []
    for p in sorted(reports.glob("*/index.html")):
        res = p.parent / "results.csv"
        n = len(pd.read_csv(res)) if res.exists() else 0
        items.append(f'<li><a href="{html.escape(p.parent.name)}/index.html">{html.escape(p.parent.name)}</a>'
                     f' <span style="color:#666">({n} runs)</span></li>')
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Studies</title></head>"
            "<body style='font-family:system-ui,sans-serif;max-width:800px;margin:2em auto'>"
            f"<h1>Rendered studies</h1><ul>{''.join(items)}</ul></body></html>")
    path = reports / "index.html"
    write_atomic(path, page.encode())
    return path
