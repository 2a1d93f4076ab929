"""A run's page: ``runs/<id>/report.html``, the executed notebook as a reviewer reads it.

The page names the study, the approach, its settings and the seed in its title and header, links
back to the study report, and shows the notebook's outputs without code (and without the kernel's
stderr chatter). The notebook's own narrative is generated here too (`run_header`,
`fit_narrative`, `metrics_section`), so that every sentence about the approach comes from the
approach's own feature set and parameters, and every number is formatted as in the study report.
"""

from __future__ import annotations

import functools
import html
import json
import re
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from ..features import FEATURE_SET_DOCS, FEATURE_SETS, PROTECTED_FEATURES, masked_columns
from ..records import write_atomic
from ..run import RunParams
from ..segmenters import REGISTRY, Segmenter
from ..study.spec import approach_label
from .formatting import fmt_number
from .summaries import FAIRNESS_METRICS, GAIN_PRIVACY_METRICS

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ENV = Environment(loader=PackageLoader("kit.report", "templates"), autoescape=True)

# Sections of the run's metrics, by name prefix; a metric matching none goes to "other" (never lost).
METRIC_SECTIONS: dict[str, tuple[str, ...]] = {
    "gain": ("value_", "gain_share", "offer_rate"),
    "privacy": ("epsilon", "n_released", "min_segment", "min_audience", "reid", "mia", "attr_inference", "tracing"),
    "fairness": ("spd_", "di_", "eod_", "aod_", "balance_", "cap_excluded"),
    "checks": ("consent_violations", "fatigue_violations", "undescribed_segments", "four_fifths_fail"),
    "rights": ("purpose_violations", "notice_", "erasure_", "erased_"),
}
COUNT_PREFIXES = (
    "n_",
    "erased_customers",
    "min_segment_size",
    "min_audience_class",
    "consent_violations",
    "fatigue_violations",
    "undescribed_segments",
    "four_fifths_fail",
)
METRIC_DOCS = {m: d for m, _, d in GAIN_PRIVACY_METRICS + FAIRNESS_METRICS} | {
    "value_policy": "expected net value per held-out customer of this run's offers, under the truth",
    "value_mass": "the same for mass (one best action for everyone)",
    "value_oracle": "the same for the oracle (each customer's truly best action)",
    "gain_share_lo": "within-world 95% bootstrap interval of the gain share (resamples this world's customers), low end",
    "gain_share_hi": "within-world 95% bootstrap interval of the gain share, high end",
    "offer_rate": "share of held-out customers offered an action",
    "n_released_segments": "segments released",
    "consent_violations": "held-out customers profiled without profiling consent",
    "fatigue_violations": "older customers offered at or over the contact cap",
    "undescribed_segments": "segments without a plain-language description",
    "four_fifths_fail": "disparate impacts (older, gender, age band × gender) outside 0.8-1.25",
    "spd_age_gender": "lowest − highest offer rate among the eligible over the age band × gender cells",
    "erased_customers": "campaign customers who asked to be forgotten after the first fit (GDPR art. 17)",
    "erasure_residual_eps_lb": "canary audit of the final release against a customer who asked to be forgotten: "
    "ε it provably still reveals (0 after an exact refit)",
    "mia_audit_trials": "fits the canary audit ran (both sides; 0 when audit_trials is 0)",
    "value_policy_ips": "value_policy estimated from the campaign log by inverse propensity scoring (cross-fitted)",
    "value_policy_snips": "the same, self-normalised (IPS divided by the mean importance weight)",
    "value_mass_ope": "mass's value estimated from the campaign log (doubly robust)",
    "value_oracle_ope": "the oracle's value estimated from the campaign log (doubly robust)",
    "gain_oracle_ope": "the oracle's estimated gain over mass, value_oracle_ope − value_mass_ope",
    "gain_share_ope": "gain_ope / gain_oracle_ope: the gain share as the campaign log estimates it",
    "purpose_violations": "columns read outside the purpose they were collected for (GDPR art. 5(1)(b)); 0 expected",
    "notice_reading_ease": "Flesch reading ease of the notices customers receive (60-70: plain English)",
    "notice_truthful": "share of notices naming every data category read about the customer and no other",
    "intrusiveness": "how much a customer's offer reveals about their age group and gender, in bits (mean)",
    "harm_older": "spending the offers pushed onto older customers beyond what they would spend anyway (mean)",
    "harm_low_income": "the same for customers in the two lowest income bands",
    "value_longrun": "discounted net value per held-out customer over the horizon (churned customers worth 0)",
    "churn_rate": "share of held-out customers churned by the end of the horizon",
    "optout_rate": "share of held-out customers still active but opted out of marketing at the end",
    "trust_end": "mean trust of held-out customers at the end of the horizon",
}
# Metrics measured again within a group: '<metric>_older' is '<metric>' among older customers.
GROUP_SUFFIXES = {"_older": "older customers (65+)", "_low_income": "customers in the two lowest income bands"}


def metric_doc(metric: str) -> str:
    """What a metric means, for the run page ('' when the kit has no words for it yet)."""
    if metric in METRIC_DOCS:
        return METRIC_DOCS[metric]
    for end, what in (("_lo", "low"), ("_hi", "high")):
        base = metric.removesuffix(end)
        if metric.endswith(end) and base in METRIC_DOCS:
            return f"95% interval of {base}, {what} end"
    if metric.startswith("attr_inference_r_attack_"):
        return f"accuracy of the attacker who reads segment + quasi-identifiers ({metric.rsplit('_', 1)[1]})"
    if metric.startswith("attr_inference_r_base_"):
        return f"accuracy of the same attacker from quasi-identifiers alone ({metric.rsplit('_', 1)[1]})"
    for suffix, group in GROUP_SUFFIXES.items():
        base = metric.removesuffix(suffix)
        if metric.endswith(suffix) and base in METRIC_DOCS:
            return f"{base} among {group}"
    return ""


def section_of(metric: str) -> str:
    """Which section of the run page a metric belongs to (gain, privacy, fairness, checks or other)."""
    for section, prefixes in METRIC_SECTIONS.items():
        if metric.startswith(prefixes):
            return section
    return "other"


def metrics_section(metrics: dict, section: str) -> pd.DataFrame:
    """One section of a run's metrics as text, with what each means: counts as whole numbers,
    others to four significant digits (``757``, never ``757.0000``)."""
    rows = []
    for m, v in metrics.items():
        if section_of(m) != section:
            continue
        integer = isinstance(v, int) or m.startswith(COUNT_PREFIXES)
        rows.append({"metric": m, "value": fmt_number(v, integer=integer, sig=4), "meaning": metric_doc(m)})
    return pd.DataFrame(rows, columns=["metric", "value", "meaning"]).set_index("metric")


def settings_text(approach: str, approach_params: dict) -> str:
    """An approach's parameters in words ('n_clusters 6, n_init 4'), or that it has none."""
    if not approach_params:
        return "no parameters"
    return ", ".join(f"{k} {fmt_number(v) if isinstance(v, float) else v}" for k, v in sorted(approach_params.items()))


def run_header(params: RunParams, study: str = "") -> str:
    """The run's header in Markdown: approach setting and seed, its settings, the population."""
    label = approach_label(params.approach, params.approach_params)
    v = params.as_dict()
    pop = (
        f"{v['n_customers']:,} customers, proxy strength {v['proxy_strength']:g}, label bias {v['label_bias']:g}, "
        f"profiling consent {v['consent_rate']:g}, older fatigue {v['older_fatigue']:g}; policy budget "
        f"{v['budget']:g}, older contact cap {v['older_contact_cap']}, min_obs {v['min_obs']}"
    )
    lines = [
        f"# `{label}`, seed {params.seed}" + (f" (study `{study}`)" if study else ""),
        f"**Approach** `{params.approach}` ({settings_text(params.approach, params.approach_params)}). "
        f"**Population and policy**: {pop}.",
    ]
    return "\n\n".join(lines)


def fit_narrative(params: RunParams, segmenter: Segmenter) -> str:
    """What the approach was fitted on, in sentences that are true of this approach: generated from
    its own feature set (an instance attribute where the approach takes it as a parameter)."""
    name = params.approach
    label = f"`{approach_label(name, params.approach_params)}`"
    if name == "mass":
        return f"{label} uses no personal data: everyone gets the one action with the best estimated value."
    if name == "oracle":
        return (
            f"{label} reads the generator's truth (each customer's true response probability and value of every "
            "action). It is the upper reference, not something a firm could run."
        )
    cls = REGISTRY[name]
    feature_set = getattr(segmenter, "feature_set", cls.feature_set)
    reads = cls.reads() if name == "rfm" else FEATURE_SET_DOCS[feature_set]
    extra = f"; {cls.reads_extra}" if getattr(cls, "reads_extra", "") else ""
    protected = [f for f in PROTECTED_FEATURES if f in FEATURE_SETS.get(feature_set, ())] if name != "rfm" else []
    if protected:
        uses = "It reads age and gender directly."
    else:
        uses = "It never reads age or gender, though behaviour that reveals them (their proxies) stays in."
    hidden = masked_columns(params.purpose, params.purpose_limitation) if hasattr(params, "purpose") else ()
    hidden_note = (
        f" Columns not declared for this run's purpose ({params.purpose}) are hidden from it: "
        + ", ".join(f"`{c}`" for c in hidden)
        + "."
        if hidden
        else ""
    )
    return (
        f"{label} is fitted on the campaign customers' data: {reads}{extra}. {uses}{hidden_note} It never reads "
        "the truth (true responses and values), which only the measurements use."
    )


def _strip_for_reader(nb) -> None:
    """Drop what a reviewer should not read: cells tagged ``hide-in-page`` (notes for notebook users),
    stderr streams (kernel and library chatter) and empty display outputs (a cleared progress line)."""
    nb.cells = [c for c in nb.cells if "hide-in-page" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [
            o
            for o in cell.outputs
            if not (o.output_type == "stream" and o.get("name") == "stderr")
            and not (o.output_type == "display_data" and not any(str(x).strip() for x in o.get("data", {}).values()))
        ]


@functools.lru_cache(maxsize=256)  # a study's notebook has the same markdown cells in every run
def _markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def _output_html(out: dict) -> str:
    """One output of a code cell as HTML: rich HTML, a PNG, markdown, or escaped text."""
    kind = out.get("output_type")
    if kind == "stream":
        return (
            f'<pre class="{out.get("name", "stdout")}">{html.escape(_ANSI.sub("", "".join(out.get("text", ""))))}</pre>'
        )
    if kind == "error":
        trace = "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
        return f'<pre class="error">{html.escape(_ANSI.sub("", trace))}</pre>'
    data = out.get("data", {})

    def text(key: str) -> str:
        value = data[key]
        return "".join(value) if isinstance(value, list) else str(value)

    if "text/html" in data:
        return f"<div>{text('text/html')}</div>"
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{text("image/png").strip()}" alt="figure">'
    if "image/svg+xml" in data:
        return f"<div>{text('image/svg+xml')}</div>"
    if "text/markdown" in data:
        return _markdown(text("text/markdown"))
    if "text/plain" in data:
        return f"<pre>{html.escape(text('text/plain'))}</pre>"
    return ""


def notebook_body(nb) -> str:
    """The notebook's markdown cells and code outputs as HTML, without code.

    What nbconvert's HTMLExporter did here, in a few milliseconds instead of 60-230 ms a run (its
    sanitising HTML parser and the notebook's validation dominated, more than many runs' science).
    The outputs are the kernel's own (pandas tables, PNG figures) written by the kit's notebook, so
    they are embedded as they are; text is escaped.
    """
    parts = []
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            parts.append(_markdown(source))
        elif cell.get("cell_type") == "code":
            parts.extend(_output_html(o) for o in cell.get("outputs", []))
    return "\n".join(p for p in parts if p)


def render_run_page(nb_path: Path, html_path: Path, manifest: dict, study: str = "") -> None:
    """Write a run's page from its executed notebook and its manifest (label, parameters, seed)."""
    import nbformat

    nb = nbformat.from_dict(json.loads(Path(nb_path).read_text(encoding="utf-8")))  # read, not validated
    _strip_for_reader(nb)
    body = notebook_body(nb)
    params = manifest.get("params", {})
    label = manifest.get("label") or params.get("approach", "run")
    page = _ENV.get_template("run.html.j2").render(
        title=f"{label}, seed {manifest.get('seed', params.get('seed', ''))}" + (f" · study {study}" if study else ""),
        label=label,
        study=study,
        seed=manifest.get("seed", params.get("seed")),
        approach=params.get("approach", ""),
        settings=settings_text(params.get("approach", ""), params.get("approach_params") or {}),
        run_id=manifest.get("run_id", ""),
        body=Markup(body),
    )
    write_atomic(Path(html_path), page.encode())
