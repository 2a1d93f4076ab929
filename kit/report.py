"""The study report: ``reports/<study>/index.html``, written from the study's saved results only.

Every number and figure comes from ``results.csv`` and the runs' ``metrics.json`` / manifests; the
report shows aggregates only (no customer rows, no code). Figures are also saved as PNG under
``reports/<study>/figures/``.
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

from .experiment import write_atomic
from .runner import OK, read_manifest
from .study import Study

# Metrics summarised per approach setting in the report, with their reading.
SUMMARY_METRICS: dict[str, str] = {
    "gain_share": "share of the oracle's gain over mass (1 = oracle, 0 = mass)",
    "value_policy": "expected net value per held-out customer",
    "epsilon": "formal differential-privacy loss (inf = no formal guarantee)",
    "min_segment_size": "smallest released segment (customers)",
    "di_older": "disparate impact, older vs younger (below 0.8 fails the four-fifths rule)",
    "di_gender": "disparate impact, women vs men",
    "eod_older": "equal-opportunity difference, older vs younger",
    "consent_violations": "held-out customers profiled without profiling consent",
    "fatigue_violations": "older customers contacted over the cap",
}
CHECKS = ("consent_violations", "fatigue_violations", "undescribed_segments", "four_fifths_fail")


def summarise(results: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Mean, min, max and sd over seeds of each metric, one row per approach setting."""
    ok = results[results["status"] == OK].copy()
    if ok.empty:
        return pd.DataFrame()
    metrics = [m for m in (metrics or SUMMARY_METRICS) if m in ok.columns]
    ok["unfairness_older"] = (1 - ok["di_older"]).abs()
    metrics = metrics + ["unfairness_older"]
    rows = []
    for label, g in ok.groupby("label", sort=False):
        row = {"label": label, "approach": g["approach"].iloc[0], "runs": len(g)}
        for m in metrics:
            v = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                row[f"{m}_mean"] = float(np.mean(v)) if len(v) else math.nan
                row[f"{m}_min"] = float(np.min(v)) if len(v) else math.nan
                row[f"{m}_max"] = float(np.max(v)) if len(v) else math.nan
                row[f"{m}_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_front(summary: pd.DataFrame, gain: str, cost: str) -> set[str]:
    """Labels not dominated: no other setting has at least the gain and at most the cost, one strictly."""
    pts = summary[["label", f"{gain}_mean", f"{cost}_mean"]].dropna()
    front = set()
    for _, r in pts.iterrows():
        g, c = r[f"{gain}_mean"], r[f"{cost}_mean"]
        dominated = ((pts[f"{gain}_mean"] >= g) & (pts[f"{cost}_mean"] <= c)
                     & ((pts[f"{gain}_mean"] > g) | (pts[f"{cost}_mean"] < c))).any()
        if not dominated:
            front.add(r["label"])
    return front


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        return f"{v:.{digits}f}"
    return str(v)


def _fig_to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def headline_findings(summary: pd.DataFrame) -> list[str]:
    """Sentences written from the summary: best gain, fairness, Pareto set."""
    out = []
    if summary.empty:
        return ["No run finished successfully; see the failures below."]
    feasible = summary[summary["approach"] != "oracle"]
    if not feasible.empty:
        best = feasible.loc[feasible["gain_share_mean"].idxmax()]
        out.append(
            f"Highest gain among feasible approaches: {best['label']}, reaching "
            f"{100 * best['gain_share_mean']:.1f}% of the oracle's gain over mass "
            f"(range {100 * best['gain_share_min']:.1f}–{100 * best['gain_share_max']:.1f}% over {best['runs']} seed(s))."
        )
    worst = summary.loc[summary["di_older_mean"].idxmin()]
    out.append(
        f"Lowest disparate impact for older customers: {worst['label']} (DI {worst['di_older_mean']:.2f}"
        + ("; fails the four-fifths rule" if worst["di_older_mean"] < 0.8 else "") + ")."
    )
    front = sorted(pareto_front(summary, "gain_share", "unfairness_older"))
    out.append("Pareto-efficient on gain against unfairness to older customers |1 − DI|: " + ", ".join(front) + ".")
    return out


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Study {{ name }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.fail{color:#b00020;font-weight:600}.pass{color:#1b7f3b}
img{max-width:100%}figure{margin:1em 0}figcaption{font-size:0.9em;color:#555}code{background:#f5f5f5;padding:0 3px}
.note{color:#555;font-size:0.9em}
</style></head><body>
<h1>Study <code>{{ name }}</code></h1>
<p>{{ description }}</p>
<p class="note">{{ n_runs }} runs ({{ n_ok }} succeeded{% if n_failed %}, <span class="fail">{{ n_failed }} failed</span>{% endif %}):
{{ n_labels }} approach settings × seeds {{ seeds }}. Population: {{ population }}.</p>
<h2>Headline findings</h2>
<ul>{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
<h2>Trade-off</h2>
{% for fig in figures %}<figure><img src="data:image/png;base64,{{ fig.data }}" alt="{{ fig.caption }}">
<figcaption>{{ fig.caption }} (also <a href="figures/{{ fig.file }}">figures/{{ fig.file }}</a>)</figcaption></figure>{% endfor %}
<h2>Summary by approach</h2>
<p class="note">Mean over seeds (min–max). Measured on held-out customers against the generator's truth.</p>
{{ summary_table }}
<dl class="note">{% for m, d in metric_docs %}<dt><code>{{ m }}</code></dt><dd>{{ d }}</dd>{% endfor %}</dl>
<h2>Ethics checks</h2>
<p class="note">Counts summed over seeds; 0 is a pass.</p>
{{ checks_table }}
{% if failures %}<h2 class="fail">Failed runs</h2>
<table><tr><th class="l">run</th><th class="l">setting</th><th>seed</th><th class="l">error</th></tr>
{% for f in failures %}<tr><td class="l"><a href="runs/{{ f.run_id }}/">{{ f.run_id }}</a></td><td class="l">{{ f.label }}</td><td>{{ f.seed }}</td><td class="l">{{ f.error }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Runs</h2>
<table><tr><th class="l">run</th><th class="l">setting</th><th>seed</th><th>status</th><th>gain share</th><th>DI older</th><th class="l">report</th></tr>
{% for r in runs %}<tr><td class="l"><code>{{ r.run_id }}</code></td><td class="l">{{ r.label }}</td><td>{{ r.seed }}</td>
<td class="{{ 'pass' if r.status == 'ok' else 'fail' }}">{{ r.status }}</td><td>{{ r.gain }}</td><td>{{ r.di }}</td>
<td class="l">{% if r.has_html %}<a href="runs/{{ r.run_id }}/report.html">report</a>{% endif %}</td></tr>{% endfor %}</table>
<h2>Provenance</h2>
<p class="note">Kit {{ kit_version }}; git {{ git }}; results: <a href="results.csv">results.csv</a>.</p>
{{ versions_table }}
</body></html>
"""


def _summary_html(summary: pd.DataFrame) -> str:
    cols = list(SUMMARY_METRICS)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for _, r in summary.iterrows():
        cells = []
        for c in cols:
            mean, lo, hi = r.get(f"{c}_mean"), r.get(f"{c}_min"), r.get(f"{c}_max")
            txt = _fmt(mean)
            if mean is not None and np.isfinite(mean) and lo != hi:
                txt += f"<br><span class='note'>{_fmt(lo)}–{_fmt(hi)}</span>"
            cells.append(f"<td>{txt}</td>")
        rows.append(f"<tr><td class='l'>{html.escape(r['label'])}</td><td>{r['runs']}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th class='l'>setting</th><th>runs</th>{head}</tr>{''.join(rows)}</table>"


def _checks_html(results: pd.DataFrame) -> str:
    ok = results[results["status"] == OK]
    cols = [c for c in CHECKS if c in ok.columns]
    rows = []
    for label, g in ok.groupby("label", sort=False):
        cells = "".join(
            f"<td class='{'pass' if g[c].sum() == 0 else 'fail'}'>{'pass' if g[c].sum() == 0 else 'FAIL (' + str(int(g[c].sum())) + ')'}</td>"
            for c in cols
        )
        rows.append(f"<tr><td class='l'>{html.escape(label)}</td>{cells}</tr>")
    head = "".join(f"<th>{c}</th>" for c in cols)
    return f"<table><tr><th class='l'>setting</th>{head}</tr>{''.join(rows)}</table>"


def _versions_html(manifests: list[dict]) -> str:
    vers = {}
    for m in manifests:
        for k, v in (m.get("versions") or {}).items():
            vers.setdefault(k, set()).add(str(v))
    rows = "".join(f"<tr><td class='l'>{html.escape(k)}</td><td class='l'>{html.escape(', '.join(sorted(v)))}</td></tr>"
                   for k, v in sorted(vers.items()))
    return f"<table><tr><th class='l'>package</th><th class='l'>version(s)</th></tr>{rows}</table>"


def render_study_report(study: Study, results: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write index.html and figures/ for a study from its results; returns the index path."""
    from . import __version__
    from .plots import plot_tradeoff

    out = Path(out_dir)
    summary = summarise(results)
    figures = []
    if not summary.empty:
        front = pareto_front(summary, "gain_share", "unfairness_older")
        fig = plot_tradeoff(
            summary, "unfairness_older", "gain_share", pareto=front,
            xlabel="unfairness to older customers |1 − disparate impact| (lower is fairer)",
            ylabel="gain share (1 = oracle, 0 = mass)",
            title="Personalisation gain against unfairness to older customers",
        )
        png = _fig_to_png(fig)
        write_atomic(out / "figures" / "gain_vs_unfairness_older.png", png)
        figures.append({"file": "gain_vs_unfairness_older.png", "data": base64.b64encode(png).decode(),
                        "caption": "Each point: an approach setting, mean over seeds; bars: min to max over seeds; "
                                   "ringed: Pareto-efficient."})
    manifests = [read_manifest(out / "runs" / r) or {} for r in results["run_id"]]
    runs = []
    for (_, r), m in zip(results.iterrows(), manifests):
        runs.append({"run_id": r["run_id"], "label": r["label"], "seed": r["seed"], "status": r["status"],
                     "gain": _fmt(r.get("gain_share")), "di": _fmt(r.get("di_older")),
                     "has_html": (out / "runs" / r["run_id"] / "report.html").exists()})
    failures = [{"run_id": r["run_id"], "label": r["label"], "seed": r["seed"], "error": str(r["error"])[:500]}
                for _, r in results.iterrows() if r["status"] != OK]
    gits = {json.dumps(m.get("git"), sort_keys=True) for m in manifests if m.get("git")}
    pop_keys = ["n_customers", "n_segments", "proxy_strength", "label_bias", "consent_rate", "older_share",
                "older_fatigue", "history_share", "budget", "older_contact_cap"]
    population = ", ".join(
        f"{k} = {', '.join(_fmt(v) if isinstance(v, float) else str(v) for v in sorted(results[k].unique()))}"
        for k in pop_keys if k in results.columns
    )
    page = Environment(autoescape=False).from_string(TEMPLATE).render(
        name=html.escape(study.name),
        description=html.escape(study.description or ""),
        n_runs=len(results),
        n_ok=int((results["status"] == OK).sum()),
        n_failed=int((results["status"] != OK).sum()),
        n_labels=results["label"].nunique(),
        seeds=", ".join(str(s) for s in sorted(results["seed"].unique())),
        population=html.escape(population),
        findings=[html.escape(f) for f in headline_findings(summary)],
        figures=figures,
        summary_table=_summary_html(summary) if not summary.empty else "<p>No successful runs.</p>",
        metric_docs=[(m, d) for m, d in SUMMARY_METRICS.items()],
        checks_table=_checks_html(results),
        failures=[{k: html.escape(str(v)) for k, v in f.items()} for f in failures],
        runs=runs,
        kit_version=__version__,
        git=html.escape("; ".join(sorted(gits)) or "unknown"),
        versions_table=_versions_html(manifests),
    )
    index = out / "index.html"
    write_atomic(index, page.encode())
    render_reports_index(out.parent)
    return index


def render_reports_index(reports_dir: str | Path) -> Path:
    """reports/index.html: a link to every study report rendered under reports/."""
    reports = Path(reports_dir)
    items = sorted(p.parent.name for p in reports.glob("*/index.html"))
    lis = "".join(f'<li><a href="{html.escape(n)}/index.html">{html.escape(n)}</a></li>' for n in items)
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Studies</title></head>"
            f"<body style='font-family:system-ui,sans-serif;max-width:800px;margin:2em auto'>"
            f"<h1>Rendered studies</h1><ul>{lis}</ul></body></html>")
    path = reports / "index.html"
    write_atomic(path, page.encode())
    return path
