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
from ..records import OK, REPORTS_MARKER, read_manifest, write_atomic
from ..study import Study
from ..vocabulary import MIN_CELL
from .data_findings import SEEDS_ON_A_TABLE, data_findings
from .findings import headline_findings, worst_cells
from .formatting import decimals_for, escaped, fmt_number, fmt_range, is_constant
from .groups import GAIN_PAIRS, group_gain_summary, group_tables_html, pivot_by_group, pivot_html, read_run_tables
from .sections import data_source_rows, longrun_section, write_csv
from .summaries import (
    CHECK_DOCS,
    CHECKS,
    DERIVED,
    GAIN_PRIVACY_METRICS,
    POP_KEYS,
    comparisons,
    fairness_metrics,
    gain_metric,
    pareto_front,
    protected_attrs,
    summarise,
)


def _fig_to_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


_ENV = Environment(loader=PackageLoader("kit.report", "templates"), autoescape=True)

# Metrics that count something (customers, segments, failures): printed as whole numbers.
COUNT_METRICS = {
    "min_segment_size",
    "n_released_segments",
    "min_audience_class",
    "consent_violations",
    "fatigue_violations",
    "undescribed_segments",
    "four_fifths_fail",
}


def is_count(metric: str) -> bool:
    """True for a metric that counts (customers, segments, trials): shown without decimals."""
    return metric in COUNT_METRICS or metric.startswith("n_") or metric.endswith(("_trials", "_count"))


def _summary_html(summary: pd.DataFrame, metrics) -> str:
    """Mean over worlds (seeds) with the 95% interval of that mean over worlds (Student t) below it;
    columns that print the same for every setting are left out of the table and named (with their
    value) under it."""
    metrics = [(m, h, d) for m, h, d in metrics if f"{m}_mean" in summary.columns]
    shown, constant = [], []
    for m, h, d in metrics:
        cols = [summary[f"{m}_{k}"] for k in ("mean", "lo", "hi")]
        integer = is_count(m)
        dec = decimals_for(pd.concat(cols).to_numpy(dtype=float))
        if len(summary) > 1 and all(is_constant(c, dec, integer) for c in cols):
            mean, lo, hi = (c.iloc[0] for c in cols)
            rng, same = fmt_range(lo, hi, dec, integer), fmt_number(mean, dec, integer)
            constant.append(f"{h} ({same}" + (f", 95% interval {rng}" if rng != same else "") + ")")
        else:
            shown.append((m, h, d, dec, integer))
    head = "".join(f"<th title='{html.escape(d)}'>{html.escape(h)}</th>" for m, h, d, _, _ in shown)
    rows = []
    for _, r in summary.iterrows():
        cells = []
        for m, _, _, dec, integer in shown:
            mean, lo, hi = r[f"{m}_mean"], r[f"{m}_lo"], r[f"{m}_hi"]
            txt = escaped(mean, dec, integer)
            rng = fmt_range(lo, hi, dec, integer)
            if np.isfinite(mean) and rng != fmt_number(mean, dec, integer):
                txt += f"<br><span class='rng'>{html.escape(rng)}</span>"
            cells.append(f"<td>{txt}</td>")
        rows.append(f"<tr><td class='l'>{html.escape(r['label'])}</td><td>{r['runs']}</td>{''.join(cells)}</tr>")
    table = f"<table><tr><th class='l'>setting</th><th>seeds</th>{head}</tr>{''.join(rows)}</table>"
    if constant:
        table += (
            "<p class='note'>The same for every setting, so not in the table: "
            + html.escape(", ".join(constant))
            + ".</p>"
        )
    return table


def _checks_html(summary: pd.DataFrame) -> str:
    """Pass, or FAIL with the number of seeds it failed in and the largest count in one seed."""
    cols = [c for c in CHECKS if f"{c}_mean" in summary.columns]
    head = "".join(f"<th title='{html.escape(CHECK_DOCS[c])}'>{c}</th>" for c in cols)
    rows = []
    for _, r in summary.iterrows():
        cells = []
        for c in cols:
            failed = int(r.get(f"{c}_failed_seeds", int(r[f"{c}_max"] > 0)))
            if r[f"{c}_max"] == 0:
                cells.append("<td class='pass'>pass</td>")
            else:
                cells.append(
                    f"<td class='fail'>FAIL in {failed} of {r['runs']} seeds"
                    f"<br><span class='rng'>up to {fmt_number(r[f'{c}_max'], integer=True)} in one</span></td>"
                )
        rows.append(f"<tr><td class='l'>{html.escape(r['label'])}</td>{''.join(cells)}</tr>")
    docs = "".join(f"<li><code>{c}</code>: {html.escape(CHECK_DOCS[c])}</li>" for c in cols)
    return f"<table><tr><th class='l'>setting</th>{head}</tr>{''.join(rows)}</table><ul class='note'>{docs}</ul>"


def failed_seeds(results: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """`summary` plus, per check, the number of seeds in which it failed (a count above 0)."""
    ok = results[results["status"] == OK]
    s = summary.copy()
    for c in CHECKS:
        if c in ok.columns:
            counts = (pd.to_numeric(ok[c], errors="coerce") > 0).groupby(ok["label"], sort=False).sum()
            s[f"{c}_failed_seeds"] = s["label"].map(counts).fillna(0).astype(int)
    return s


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


# The trade-off figures: (file, title, [(cost, axis label)]).
FRONTIER_FIGURES = [
    (
        "tradeoff_privacy.png",
        "Personalisation gain against privacy loss",
        [
            ("epsilon", "formal ε (log scale)"),
            ("tracing_advantage", "membership tracing advantage (over its null)"),
            ("reid_rate", "share of customers unique in the audience file"),
        ],
    ),
    (
        "tradeoff_fairness.png",
        "Personalisation gain against unfairness",
        [
            ("unfairness_older", DERIVED["unfairness_older"]),
            ("abs_eod_older", DERIVED["abs_eod_older"]),
            ("unfairness_gender", DERIVED["unfairness_gender"]),
        ],
    ),
]
GAIN_AXIS = {"gain_share": "gain share (1 = oracle, 0 = mass)", "gain_ope": "gain over mass per customer (off-policy)"}
FRONTIER_CAPTION = (
    "{title}. Each point is an approach setting at its mean over the worlds (seeds), numbered as in the legend; "
    "bars are the 95% interval of that mean over worlds (Student t); ringed points are Pareto-efficient at the "
    "means (no other setting has more mean gain at less mean cost). Settings move together from world to world, "
    "so overlapping bars do not make two settings alike: comparisons.csv pairs them by world. Lower cost is to "
    "the left."
)
# On a customer table seeds are not worlds: the same caption, over seeds (kit.report.data_findings).
FRONTIER_CAPTION_TABLE = (
    "{title}. Each point is an approach setting at its mean over the seeds, numbered as in the legend; bars "
    "are the 95% interval of that mean over seeds (Student t). The study reads one customer table, so a seed "
    "changes only the approaches' own randomness: the bars show how much a point depends on it, not how sure "
    "it is about the customers (each run's page has its bootstrap interval over them). Ringed points are "
    "Pareto-efficient at the means. Lower cost is to the left."
)
EPSILON_NOTE = (
    " ε is on a log scale; settings without a formal guarantee (ε = ∞) stand side by side in the grey strip at "
    "its right."
)


def _offer_tables_html(out: Path, results: pd.DataFrame, labels: list[str], attrs: list[str]) -> str:
    """Offer rate by each declared protected column of a customer table (mean over seeds)."""
    parts = []
    for a in attrs:
        offers = read_run_tables(out, results, f"offers_by_{a}")
        if not offers.empty and a in offers.columns:
            p = pivot_by_group(offers, [a], "offer_rate", labels)
            parts.append(pivot_html(p, f"Offer rate by {a} (mean over seeds)", "share"))
    if not parts:
        return ""
    return f"<p class='note'>Cells from fewer than {MIN_CELL} customers are suppressed.</p>" + "".join(parts)


def _figure_record(out: Path, file: str, fig, caption: str, csv: str | None = None) -> dict:
    png = _fig_to_png(fig)
    write_atomic(out / "figures" / file, png)
    return {"file": file, "data": base64.b64encode(png).decode(), "caption": caption, "csv": csv}


# Protected "attributes" that are variants of another one, not a group of their own: the contact
# cap's exclusions counted in (reported apart as a wellbeing protection, not plotted as unfairness).
NOT_A_FRONTIER = {"older_all"}
AXIS_LABELS = {"age_gender": "|1 − disparate impact|, lowest / highest age band × gender cell"}


def _extra_fairness_axes(columns, have: set[str]) -> list[tuple[str, str]]:
    """One |1 − DI| panel per protected attribute the fixed panels do not already draw (a customer
    table's declared columns; the age band × gender cells), each metric once."""
    return [
        (f"unfairness_{a}", AXIS_LABELS.get(a, f"|1 − disparate impact|, {a}"))
        for a in protected_attrs(columns)
        if a not in NOT_A_FRONTIER and f"unfairness_{a}" not in have
    ]


def _figures(summary: pd.DataFrame, group_gain: pd.DataFrame, out: Path, on_table: bool = False) -> list[dict]:
    """The report's figures, saved under figures/ with the CSV they draw, for embedding (`on_table`: a customer table)."""
    from .figures import plot_frontiers, plot_group_gain_study

    figs = []
    gain = gain_metric(summary.columns)
    for file, title, axes in FRONTIER_FIGURES:
        if file == "tradeoff_fairness.png":  # a customer table's declared protected columns too
            axes = [*axes, *_extra_fairness_axes(summary.columns, {m for m, _ in axes})]
        # A cost that every setting shares (e.g. epsilon = ∞ for all) separates nothing: no panel.
        axes = [
            (m, lab)
            for m, lab in axes
            if f"{m}_mean" in summary.columns and summary[f"{m}_mean"].dropna().nunique() > 1
        ]
        if not axes:
            continue
        fronts = {m: pareto_front(summary, gain, m) for m, _ in axes}
        fig = plot_frontiers(summary, gain, axes, fronts, title=title, ylabel=GAIN_AXIS[gain], bounds=("lo", "hi"))
        template = FRONTIER_CAPTION_TABLE if on_table else FRONTIER_CAPTION
        caption = template.format(title=title) + (EPSILON_NOTE if any(m == "epsilon" for m, _ in axes) else "")
        figs.append(_figure_record(out, file, fig, caption, "summary.csv"))
    pairs = [p for p in GAIN_PAIRS if {p[1], p[2]} <= set(group_gain.get("group", ()))]
    if pairs:
        fig = plot_group_gain_study(group_gain, pairs)
        caption = (
            "Who the personalisation gain goes to: the gain share within each protected group (1 = the oracle's "
            "gain for that group, 0 = mass), mean over seeds with bars from the minimum to the maximum. A gap "
            "between the two markers of a row is a gap between the groups."
        )
        figs.append(_figure_record(out, "group_gain.png", fig, caption, "group_gain.csv"))
    return figs


def render_study_report(study: Study, results: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write index.html and figures/ (PNG figures and the CSV tables behind them) for a study from its
    results; returns the index path."""
    out = Path(out_dir)
    summary = failed_seeds(results, summarise(results)) if (results["status"] == OK).any() else pd.DataFrame()
    labels = list(dict.fromkeys(results["label"]))
    reference = study.reference if study.reference in labels else None
    comps = comparisons(results, reference) if reference and not summary.empty else None
    if comps is not None:
        write_atomic(out / "comparisons.csv", comps.to_csv(index=False).encode())
    stacked = {
        name: read_run_tables(out, results, name)
        for name in ("by_age_band_gender", "gain_by_group", "fairness_by_age_band_gender")
    }
    gain = stacked["gain_by_group"]
    group_gain = group_gain_summary(gain, labels) if not gain.empty else pd.DataFrame()
    group_html, group_tables = group_tables_html(stacked, labels)
    gain = gain_metric(results.columns)
    attrs = protected_attrs(results.columns)
    attr = "older" if "older" in attrs or not attrs else attrs[0]
    fair_metrics = fairness_metrics(results.columns)
    data_source, absent = data_source_rows(out, results)
    if data_source:  # a customer table: offer rates by each declared protected column
        group_html = _offer_tables_html(out, results, labels, attrs) or group_html
    figures = _figures(summary, group_gain, out, on_table=bool(data_source)) if not summary.empty else []
    if not summary.empty:
        write_csv(out, "summary.csv", summary)
    if not group_gain.empty:
        write_csv(out, "group_gain.csv", group_gain)
    for name, table in group_tables.items():
        write_csv(out, f"{name}.csv", table, index=True)
    manifests = [read_manifest(out / "runs" / r) or {} for r in results["run_id"]]
    runs = []
    for (_, r), m in zip(results.iterrows(), manifests):
        run_dir = out / "runs" / r["run_id"]
        runs.append(
            {
                "run_id": r["run_id"],
                "label": r["label"],
                "seed": r["seed"],
                "status": r["status"],
                "gain": fmt_number(r.get(gain), 3),
                "di": fmt_number(r.get(f"di_{attr}"), 2),
                "seconds": fmt_number(m.get("seconds"), 1),
                "page": next(
                    (f"runs/{r['run_id']}/{f}" for f in ("report.html", "manifest.json") if (run_dir / f).exists()),
                    None,
                ),
            }
        )
    failures = [
        {
            "run_id": r["run_id"],
            "label": r["label"],
            "seed": r["seed"],
            "error": str(r["error"])[:500],
            "page": run["page"],
        }
        for (_, r), run in zip(results.iterrows(), runs)
        if r["status"] != OK
    ]
    wanted = set(results["run_id"])
    runs_dir = out / "runs"
    stale = (
        sorted(d.name for d in runs_dir.iterdir() if d.is_dir() and d.name not in wanted) if runs_dir.is_dir() else []
    )
    gits = {(m.get("git") or {}).get("revision") or "unknown" for m in manifests if m}
    dirty = any((m.get("git") or {}).get("dirty") for m in manifests)
    # The long-run section compares with plain kmeans (its study's reference); the study's own
    # `reference` (above) stays the one the headline findings and comparisons.csv use.
    longrun = longrun_section(results, "kmeans" if "kmeans" in labels else None, out)
    population = [
        (k, ", ".join(fmt_number(v) for v in sorted(results[k].dropna().unique())))
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
        findings=(longrun["findings"][:1] if longrun else [])
        + (
            data_findings(summary, results)  # a customer table: gain off-policy, declared protected columns
            if data_source
            else headline_findings(summary, comps, reference, worst_cells(stacked["fairness_by_age_band_gender"]))
        ),
        reference=reference if comps is not None else None,  # the note links comparisons.csv
        longrun=longrun,
        figures=figures,
        gain_table=Markup(
            _summary_html(summary, GAIN_PRIVACY_METRICS) if not summary.empty else "<p>No successful runs.</p>"
        ),
        fair_table=Markup(_summary_html(summary, fair_metrics) if not summary.empty else ""),
        metric_docs=[(m, h, d) for m, h, d in GAIN_PRIVACY_METRICS + fair_metrics if f"{m}_mean" in summary.columns],
        gain_header="gain share" if gain == "gain_share" else "gain over mass (off-policy)",
        di_header=f"DI {attr}",
        data_source=data_source,
        seeds_on_a_table=SEEDS_ON_A_TABLE,
        absent=absent,
        group_tables=Markup(group_html),
        segments=Markup(_segments_html(out, results)),
        checks_table=Markup(_checks_html(summary) if not summary.empty else ""),
        failures=failures,
        runs=runs,
        stale=stale,
        has_summary=not summary.empty,
        present={f for f in ("results.csv", "study.yaml") if (out / f).exists()},
        out_name=out.name,
        kit_version=__version__,
        git=", ".join(sorted(gits)) + (" (with uncommitted changes)" if dirty else ""),
        fingerprints=Markup(_fingerprints_html(results)),
        versions_table=Markup(_versions_html(manifests)),
    )
    index = out / "index.html"
    write_atomic(index, page.encode())
    render_reports_index(out.parent)
    return index


def render_reports_index(reports_dir: str | Path) -> Path | None:
    """reports/index.html: a link to every study report rendered under reports/, with its size and date.

    Written only in a folder the kit owns (its marker, REPORTS_MARKER, is there): `crmkit run --out
    X/Y` must not replace a user's X/index.html. Returns None where nothing was written.
    """
    reports = Path(reports_dir)
    if not (reports / REPORTS_MARKER).exists():
        return None
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
