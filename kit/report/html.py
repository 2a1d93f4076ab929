"""The study report as HTML: ``reports/<study>/index.html``, written from the study's saved results only.

Every number and figure comes from ``results.csv`` and the runs' saved files (``metrics.json``,
``tables/*.csv``, ``manifest.json``); the report shows aggregates only (no customer rows, no code),
and suppresses any table cell built from fewer than `MIN_CELL` customers. Figures are also saved as
PNG under ``reports/<study>/figures/``. The page is a Jinja template (``templates/study.html.j2``)
rendered with autoescaping; fragments built here are escaped where they are built and passed as
`Markup`.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from .. import __version__
from ..records import OK, read_manifest, write_atomic
from ..study import Study
from ..vocabulary import MIN_CELL
from .summaries import (
    CHECK_DOCS,
    CHECKS,
    DERIVED,
    GAIN_PRIVACY_METRICS,
    POP_KEYS,
    fairness_metrics,
    fmt_number,
    gain_metric,
    headline_findings,
    pareto_front,
    protected_attrs,
    summarise,
)


def _fmt(v, digits=3) -> str:
    """`fmt_number`, escaped for HTML built by hand."""
    return html.escape(fmt_number(v, digits))


def _fig_to_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


# Below these extra costs over mass a difference is within the measurement's noise (e.g. a
# membership advantage of 0.01 from a few thousand customers), so no "gain per unit" is computed.
_ENV = Environment(loader=PackageLoader("kit.report", "templates"), autoescape=True)


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
            cells.append(
                "<td class='pass'>pass</td>" if r[f"{c}_max"] == 0 else f"<td class='fail'>FAIL ({total})</td>"
            )
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
        parts.append(
            _pivot_html(
                pivot_by_group(fair, ["age_band", "gender"], "offer_rate", labels),
                "Offer rate by age band / gender (mean over seeds)",
            )
        )
        parts.append(
            _pivot_html(
                pivot_by_group(fair, ["age_band", "gender"], "offer_rate_if_helps", labels),
                "Offer rate among customers an offer truly helps, by age band / gender",
            )
        )
        parts.append(
            _pivot_html(
                pivot_by_group(fair, ["age_band", "gender"], "value_per_customer", labels),
                "Expected net value per customer, by age band / gender",
            )
        )
    gain = read_run_tables(out, results, "gain_by_group")
    if not gain.empty and {"grouping", "group", "gain_share", "customers"} <= set(gain.columns):
        gain = gain.copy()
        gain["g"] = np.where(
            gain["grouping"] == "all", "all", gain["grouping"].astype(str) + ": " + gain["group"].astype(str)
        )
        parts.append(_pivot_html(pivot_by_group(gain, ["g"], "gain_share", labels), "Gain share by protected group"))
    for a in protected_attrs(results.columns):  # a customer table: offer rates by each declared protected column
        offers = read_run_tables(out, results, f"offers_by_{a}")
        if not offers.empty and a in offers.columns:
            parts.append(
                _pivot_html(pivot_by_group(offers, [a], "offer_rate", labels), f"Offer rate by {a} (mean over seeds)")
            )
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
        items = "".join(
            f"<li>segment {html.escape(str(k))}: {html.escape(str(v))}</li>"
            for k, v in sorted(segs.items(), key=lambda kv: int(kv[0]))
        )
        parts.append(f"<h3>{html.escape(label)}</h3><ul>{items}</ul>")
    return "".join(parts)


def _versions_html(manifests: list[dict]) -> str:
    vers: dict[str, set] = {}
    for m in manifests:
        for k, v in (m.get("versions") or {}).items():
            vers.setdefault(k, set()).add(str(v))
    rows = "".join(
        f"<tr><td class='l'>{html.escape(k)}</td><td class='l'>{html.escape(', '.join(sorted(v)))}</td></tr>"
        for k, v in sorted(vers.items())
    )
    return f"<table><tr><th class='l'>package</th><th class='l'>version(s)</th></tr>{rows}</table>"


def _fingerprints_html(results: pd.DataFrame) -> str:
    ok = results[results["status"] == OK]
    if "population_fingerprint" not in ok:
        return ""
    keys = [k for k in POP_KEYS if k in ok.columns and k not in ("budget", "older_contact_cap", "min_obs")]
    g = ok.drop_duplicates(["seed", *keys])
    rows = "".join(
        f"<tr><td>{r['seed']}</td><td class='l'>{html.escape(', '.join(f'{k}={r[k]}' for k in keys if ok[k].nunique() > 1) or 'all runs')}</td>"
        f"<td class='l'><code>{html.escape(str(r['population_fingerprint']))}</code></td></tr>"
        for _, r in g.iterrows()
    )
    return (
        f"<table><tr><th>seed</th><th class='l'>population knobs</th><th class='l'>fingerprint</th></tr>{rows}</table>"
    )


def _data_source(out: Path, results: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A study on a customer table: its source, mapping and fingerprint (never rows), and the metrics that
    need truth with why they are absent; read from the first finished run's metrics.json. Empty lists
    for a generator study."""
    for run_id in results.loc[results["status"] == OK, "run_id"]:
        path = out / "runs" / run_id / "metrics.json"
        rec = json.loads(path.read_text()) if path.exists() else {}
        src = rec.get("data_source")
        if not src:
            return [], []
        camp = src.get("campaign") or {}
        rows = [
            ("source", str(src.get("source"))),
            ("fingerprint (sha256 of the encoded table)", str(src.get("fingerprint"))),
            ("customers (in the campaign log)", f"{src.get('customers')} ({src.get('campaign_customers')})"),
            ("id", str(src.get("id"))),
            ("protected", ", ".join(src.get("protected") or [])),
            ("quasi-identifiers", ", ".join(src.get("quasi_identifiers") or [])),
            ("features", ", ".join(src.get("features") or [])),
            ("consent (profiling / marketing)", f"{src.get('consent') or '–'} / {src.get('marketing_consent') or '–'}"),
            ("campaign log", ", ".join(f"{k}: {v}" for k, v in camp.items()) or "none"),
        ]
        return rows, sorted((rec.get("absent_metrics") or {}).items())
    return [], []


def _figures(summary: pd.DataFrame, out: Path) -> list[dict]:
    """The trade-off figures, saved under figures/ and returned for embedding."""
    from .plots import plot_frontiers

    figs = []
    specs = [
        (
            "tradeoff_privacy.png",
            "Personalisation gain against privacy loss",
            [
                ("epsilon", "formal ε (∞: not differentially private)"),
                ("mia_advantage", "membership-inference advantage (TPR − FPR)"),
                ("reid_rate", "share of customers re-identifiable"),
            ],
        ),
        (
            "tradeoff_fairness.png",
            "Personalisation gain against unfairness",
            [
                ("unfairness_older", DERIVED["unfairness_older"]),
                ("abs_eod_older", DERIVED["abs_eod_older"]),
                ("unfairness_gender", DERIVED["unfairness_gender"]),
                *(
                    (f"unfairness_{a}", f"|1 − disparate impact|, {a}")
                    for a in protected_attrs(summary.columns)
                    if a not in ("older", "gender")
                ),
            ],
        ),
    ]
    gain = gain_metric(summary.columns)
    ylabel = "gain share (1 = oracle, 0 = mass)" if gain == "gain_share" else "gain over mass per customer (off-policy)"
    for file, title, axes in specs:
        # A cost that every setting shares (e.g. epsilon = ∞ for all) separates nothing: no panel.
        axes = [
            (m, lab)
            for m, lab in axes
            if f"{m}_mean" in summary.columns and summary[f"{m}_mean"].dropna().nunique() > 1
        ]
        if not axes:
            continue
        fronts = {m: pareto_front(summary, gain, m) for m, _ in axes}
        fig = plot_frontiers(summary, gain, axes, fronts, title=title, ylabel=ylabel)
        png = _fig_to_png(fig)
        write_atomic(out / "figures" / file, png)
        figs.append(
            {
                "file": file,
                "data": base64.b64encode(png).decode(),
                "caption": f"{title}. Each point is an approach setting at its mean over seeds; bars span the "
                "minimum to the maximum over seeds; ringed points are Pareto-efficient "
                "(no other setting has more gain at less cost). Lower cost is to the left.",
            }
        )
    return figs


def render_study_report(study: Study, results: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write index.html and figures/ for a study from its results; returns the index path."""
    out = Path(out_dir)
    summary = summarise(results)
    labels = list(dict.fromkeys(results["label"]))
    gain = gain_metric(results.columns)
    attrs = protected_attrs(results.columns)
    attr = "older" if "older" in attrs or not attrs else attrs[0]
    fair_metrics = fairness_metrics(results.columns)
    data_source, absent = _data_source(out, results)
    figures = _figures(summary, out) if not summary.empty else []
    manifests = [read_manifest(out / "runs" / r) or {} for r in results["run_id"]]
    runs = []
    for (_, r), m in zip(results.iterrows(), manifests):
        runs.append(
            {
                "run_id": r["run_id"],
                "label": r["label"],
                "seed": r["seed"],
                "status": r["status"],
                "gain": _fmt(r.get(gain)),
                "di": _fmt(r.get(f"di_{attr}")),
                "seconds": _fmt(m.get("seconds"), 1) if m.get("seconds") is not None else "–",
                "has_html": (out / "runs" / r["run_id"] / "report.html").exists(),
            }
        )
    failures = [
        {"run_id": r["run_id"], "label": r["label"], "seed": r["seed"], "error": str(r["error"])[:500]}
        for _, r in results.iterrows()
        if r["status"] != OK
    ]
    gits = {(m.get("git") or {}).get("revision") or "unknown" for m in manifests if m}
    dirty = any((m.get("git") or {}).get("dirty") for m in manifests)
    population = [
        (k, ", ".join(_fmt(v) if isinstance(v, float) else str(v) for v in sorted(results[k].unique())))
        for k in POP_KEYS
        if k in results.columns
    ]
    page = _ENV.get_template("study.html.j2").render(
        name=study.name,
        description=study.description or "",
        n_runs=len(results),
        n_ok=int((results["status"] == OK).sum()),
        n_failed=int((results["status"] != OK).sum()),
        n_labels=len(labels),
        labels=", ".join(labels),
        seeds=", ".join(str(s) for s in sorted(results["seed"].unique())),
        population=population,
        findings=headline_findings(summary),
        figures=figures,
        gain_table=Markup(
            _summary_html(summary, GAIN_PRIVACY_METRICS) if not summary.empty else "<p>No successful runs.</p>"
        ),
        fair_table=Markup(_summary_html(summary, fair_metrics) if not summary.empty else ""),
        metric_docs=[(m, h, d) for m, h, d in GAIN_PRIVACY_METRICS + fair_metrics if f"{m}_mean" in summary.columns],
        gain_header="gain share" if gain == "gain_share" else "gain over mass (off-policy)",
        di_header=f"DI {attr}",
        data_source=data_source,
        absent=absent,
        group_tables=Markup(_group_tables_html(out, results, labels)),
        segments=Markup(_segments_html(out, results)),
        checks_table=Markup(_checks_html(summary) if not summary.empty else ""),
        failures=failures,
        runs=runs,
        kit_version=__version__,
        git=", ".join(sorted(gits)) + (" (with uncommitted changes)" if dirty else ""),
        fingerprints=Markup(_fingerprints_html(results)),
        versions_table=Markup(_versions_html(manifests)),
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
        items.append(
            f'<li><a href="{html.escape(p.parent.name)}/index.html">{html.escape(p.parent.name)}</a>'
            f' <span style="color:#666">({n} runs)</span></li>'
        )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Studies</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:800px;margin:2em auto'>"
        f"<h1>Rendered studies</h1><ul>{''.join(items)}</ul></body></html>"
    )
    path = reports / "index.html"
    write_atomic(path, page.encode())
    return path
