"""The datasheet: aggregates that describe a population (never a customer row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..records import write_atomic
from ..vocabulary import ACTIONS
from .contract import COLUMN_DOCS, SCHEMA
from .generate import Population

# --- The datasheet --------------------------------------------------------------------------------


def group_marginals(customers: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Aggregates per group (never a customer row): size, consent, mean behaviour and truth, and
    the campaign's response rate as it truly was and as it was recorded (label bias shows as a gap).
    """
    c = customers
    camp = c["in_campaign"].to_numpy()
    work = pd.DataFrame(
        {
            "customers": np.ones(len(c), dtype=np.int64),
            "profiling_consent": c["profiling_consent"].to_numpy(),
            "marketing_consent": c["marketing_consent"].to_numpy(),
            "mean_age": c["age"].to_numpy(),
            "mean_monetary": c["monetary"].to_numpy(),
            "mean_frequency": c["frequency"].to_numpy(),
            "mean_engagement": c["engagement"].to_numpy(),
            "mean_contacts_90d": c["contacts_90d"].to_numpy(),
            "campaign_response_true": np.where(camp, c["hist_true_response"].to_numpy(), np.nan),
            "campaign_response_recorded": np.where(camp, c["hist_response"].to_numpy(), np.nan),
        }
    )
    keys = [by] if isinstance(by, str) else list(by)
    for k in keys:
        work[k] = c[k].to_numpy() if not isinstance(c[k].dtype, pd.CategoricalDtype) else c[k].array
    g = work.groupby(keys, observed=True, sort=True)
    out = g.mean()
    out["customers"] = g["customers"].sum()
    out.insert(1, "share", out["customers"] / len(c))
    return out.reset_index()


def age_counts(customers: pd.DataFrame) -> pd.DataFrame:
    """Customers per year of age and gender (an aggregate: age, gender, customers)."""
    return customers.groupby(["age", "gender"], observed=True, sort=True).size().rename("customers").reset_index()


def response_by_contacts(customers: pd.DataFrame, action: str = "discount", max_contacts: int = 8) -> pd.DataFrame:
    """Mean true response probability to `action` by contacts in the last 90 days, older vs not.

    Contact counts above `max_contacts` are pooled into `max_contacts` (few customers have more).
    With ``older_fatigue > 0`` the older customers' curve falls as contacts rise.
    """
    if action not in ACTIONS:
        raise ValueError(f"action: unknown {action!r}; expected one of {', '.join(ACTIONS)}")
    work = pd.DataFrame(
        {
            "contacts_90d": np.minimum(customers["contacts_90d"].to_numpy(), max_contacts),
            "older": customers["older"].to_numpy(),
            "mean_p": customers[f"p_{action}"].to_numpy(),
        }
    )
    g = work.groupby(["older", "contacts_90d"], sort=True)["mean_p"]
    return g.agg(mean_p="mean", customers="size").reset_index()


def _markdown_table(df: pd.DataFrame, digits: int = 3) -> list[str]:
    """A pipe table (no `tabulate` needed); floats rounded to `digits`."""

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return lines


def datasheet_markdown(pop: Population, source: str | None = None, fingerprint: str | None = None) -> str:
    """The datasheet of a population: what it is, its knobs, its columns, and marginals by group
    (`fingerprint`: `pop.fingerprint()` when the caller has it already)."""
    c = pop.customers
    lines = ["# Population datasheet", ""]
    if source:
        lines += [f"File: `{source}`", ""]
    lines += [
        f"Customers: {len(c)} ({int(c['in_campaign'].sum())} in the historical campaign, "
        f"{int((~c['in_campaign']).sum())} held out); fingerprint (sha256): `{fingerprint or pop.fingerprint()}`",
        "",
        "Synthetic customers drawn by `kit.population.make_population`; columns marked TRUTH are known only "
        "to the generator. Everything below is aggregated; no customer row is shown.",
        "",
        "## Knobs",
        "",
    ]
    lines += _markdown_table(pd.DataFrame({"knob": list(pop.knobs), "value": [str(v) for v in pop.knobs.values()]}))
    lines += ["", "## Columns", ""]
    cols = pd.DataFrame(
        {
            "column": list(c.columns),
            "dtype": [str(c[k].dtype) for k in c.columns],
            "allowed": [SCHEMA[k].allowed() if k in SCHEMA else "" for k in c.columns],
            "meaning": [COLUMN_DOCS.get(k, "") for k in c.columns],
        }
    )
    lines += _markdown_table(cols)
    for by, title in (
        ("older", "older customers (65+)"),
        ("gender", "gender"),
        ("age_band", "age band"),
        (["older", "gender"], "older x gender"),
    ):
        lines += ["", f"## Marginals by {title}", ""]
        lines += _markdown_table(group_marginals(c, by))
    return "\n".join(lines) + "\n"


def write_datasheet(
    pop: Population, path: str | Path, source: str | Path | None = None, fingerprint: str | None = None
) -> Path:
    """Write the markdown datasheet (atomically) and return its path."""
    path = Path(path)
    text = datasheet_markdown(pop, None if source is None else str(source), fingerprint)
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
