"""Sections of the study report that only some studies have: the data source of a study on a
customer table, and the long-run (trust over time) comparison."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from ..records import OK, write_atomic
from .longrun import is_longrun, longrun_comparisons, longrun_findings, longrun_table_html, plot_longrun


def _fig_to_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def data_source_rows(out: Path, results: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
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


def longrun_section(results: pd.DataFrame, reference: str | None, out: Path) -> dict | None:
    """The trust-over-time section (`kit.report.longrun`) for a study whose runs span several periods:
    findings, the comparison table, and the figure (saved as figures/longrun.png with its CSV)."""
    if not reference or not is_longrun(results) or not (results["status"] == OK).any():
        return None
    comps = longrun_comparisons(results, reference)
    write_csv(out, "longrun_comparisons.csv", comps)
    png = _fig_to_png(plot_longrun(comps, reference))
    write_atomic(out / "figures" / "longrun.png", png)
    return {
        "findings": longrun_findings(comps, reference),
        "table": Markup(longrun_table_html(comps, results, reference)),
        "figure": base64.b64encode(png).decode(),
        "reference": reference,
    }


def write_csv(out: Path, name: str, table: pd.DataFrame, index: bool = False) -> None:
    """A table saved as CSV beside the report's figures."""
    write_atomic(out / "figures" / name, table.to_csv(index=index).encode())
