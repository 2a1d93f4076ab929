"""The study report's group views: tables by age band x gender with a colour scale, and the gain share
of each protected group per approach setting (a figure with the spread over seeds, and its CSV).

Everything is read from the runs' saved aggregate tables (``runs/<id>/tables/*.csv``); a cell built
from fewer than `MIN_CELL` customers is suppressed (shown as –), as in the runs themselves.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..measures.fairness import join_columns
from ..records import OK
from ..vocabulary import MIN_CELL
from .formatting import DASH, decimals_for, fmt_number, ratio_colour, share_colour

# (run table, value column, caption, colour scale) of each group table in the report.
GROUP_TABLES = [
    ("by_age_band_gender", "offer_rate", "Offer rate among contact-eligible customers, by age band / gender", "ratio"),
    (
        "by_age_band_gender",
        "offer_rate_if_helps",
        "Among eligible customers an offer truly helps, the share offered an action that truly helps (equal opportunity), by age band / gender",
        "ratio",
    ),
    ("by_age_band_gender", "value_per_customer", "Expected net value per customer, by age band / gender", None),
]
SCALE_NOTES = {
    "ratio": "Colour: the cell against the best-off group in its row: white at the best, pale red down to "
    "0.8 of it (the four-fifths line), deep red at 0.4 or less.",
    "share": "Colour: white at 0 (no better than mass), blue towards 1 (the oracle), red below 0 (the group "
    "does worse than under mass).",
    None: "Not coloured: a group's value per customer follows its spending as much as the policy.",
}
# Panels of the per-group gain figure: (title, group a, group b).
GAIN_PAIRS = [("Older customers (65+) and younger", "older (65+)", "under 65"), ("Women and men", "female", "male")]


def read_run_tables(out: Path, results: pd.DataFrame, name: str) -> pd.DataFrame:
    """One saved table of every successful run, stacked, with the run's label and seed.

    The runs' files are joined and parsed as one CSV (20-40 ms instead of 0.25-0.39 s for the 400
    tables of a 20-world study) when they share one header and every line is one row (no quoted field
    spans lines); else each file is read on its own. Both give the same frame (tested)."""
    ok = results[results["status"] == OK]
    found = [
        (label, seed, path)
        for run_id, label, seed in zip(ok["run_id"], ok["label"], ok["seed"])
        if (path := out / "runs" / run_id / "tables" / f"{name}.csv").exists()
    ]
    if not found:
        return pd.DataFrame()
    texts = [path.read_text(encoding="utf-8") for _, _, path in found]
    heads = {t.partition("\n")[0] for t in texts}
    bodies = [t.partition("\n")[2].splitlines() for t in texts]
    # A line with an odd number of quotes is part of a quoted field that spans lines: not one row.
    if len(heads) != 1 or any(line.count('"') % 2 for body in bodies for line in body):
        return _read_one_by_one(found)
    head = heads.pop()
    lines = [f"{i},{line}" for i, body in enumerate(bodies) for line in body if line]
    table = pd.read_csv(io.StringIO("\n".join([f"_run,{head}", *lines])))
    run = table.pop("_run").to_numpy()
    table.insert(0, "label", np.array([label for label, _, _ in found], dtype=object)[run])
    table.insert(1, "seed", np.array([seed for _, seed, _ in found])[run])
    return table


def _read_one_by_one(found: list[tuple[str, int, Path]]) -> pd.DataFrame:
    frames = []
    for label, seed, path in found:
        t = pd.read_csv(path)
        t.insert(0, "label", label)
        t.insert(1, "seed", seed)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def pivot_by_group(stacked: pd.DataFrame, groups: list[str], value: str, labels: list[str]) -> pd.DataFrame:
    """Mean over seeds of `value` per approach setting (rows) and group (columns); small cells blanked."""
    t = stacked.copy()
    t["group"] = join_columns(t, groups)
    t.loc[t["customers"] < MIN_CELL, value] = np.nan
    p = t.pivot_table(index="label", columns="group", values=value, aggfunc="mean", sort=False, dropna=False)
    return p.reindex([lab for lab in labels if lab in p.index])


def pivot_html(p: pd.DataFrame, caption: str, scale: str | None, csv: str = "") -> str:
    """A group table with each cell coloured on `scale` ('ratio' to the row's best, 'share', or None);
    `csv` names the file under figures/ that holds the same table."""
    if p.empty:
        return ""
    values = p.to_numpy(dtype=float)
    d = decimals_for(values.ravel())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in p.columns)
    rows = []
    for label, row in zip(p.index, values):
        best = np.nanmax(row) if np.isfinite(row).any() else np.nan
        cells = []
        for v in row:
            colour = ""
            if scale == "ratio" and np.isfinite(v) and best > 0:
                colour = ratio_colour(v / best)
            elif scale == "share":
                colour = share_colour(v)
            style = f" style='background:{colour}'" if colour else ""
            cells.append(f"<td{style}>{html.escape(fmt_number(v, d))}</td>")
        rows.append(f"<tr><td class='l'>{html.escape(str(label))}</td>{''.join(cells)}</tr>")
    return (
        f"<h3>{html.escape(caption)}</h3><p class='note'>{html.escape(SCALE_NOTES[scale])}"
        + (f" Also saved as <a href='figures/{csv}'>figures/{csv}</a>." if csv else "")
        + "</p>"
        f"<div class='wide'><table class='groups'><tr><th class='l'>setting</th>{head}</tr>{''.join(rows)}</table></div>"
    )


def _with_older_groups(gain: pd.DataFrame) -> pd.DataFrame:
    """gain_by_group rows plus 'older (65+)' and 'under 65', pooled from the older x gender cells
    (each value is a mean over the cell's customers, so the pooled value is their weighted mean)."""
    cells = gain[gain["grouping"] == "older x gender"].copy()
    if cells.empty:
        return gain
    cells["pooled"] = np.where(cells["group"].str.startswith("older"), "older (65+)", "under 65")
    rows = []
    for (label, seed, pooled), g in cells.groupby(["label", "seed", "pooled"], sort=False):
        n = g["customers"].to_numpy(dtype=float)
        v = {
            k: float(np.sum(n * g[k].to_numpy(dtype=float)) / n.sum())
            for k in ("value_policy", "value_mass", "value_oracle")
        }
        span = v["value_oracle"] - v["value_mass"]
        share = (v["value_policy"] - v["value_mass"]) / span if span > 0 else np.nan
        rows.append(
            {
                "label": label,
                "seed": seed,
                "grouping": "older",
                "group": pooled,
                "customers": n.sum(),
                **v,
                "gain_share": share,
            }
        )
    return pd.concat([gain, pd.DataFrame(rows)], ignore_index=True)


def group_gain_summary(gain: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Gain share per approach setting and protected group: mean, min and max over seeds (one row each)."""
    t = _with_older_groups(gain)
    t = t[t["customers"] >= MIN_CELL]
    s = t.groupby(["label", "grouping", "group"], sort=False)["gain_share"].agg(["mean", "min", "max", "count"])
    s = s.rename(columns=lambda c: "seeds" if c == "count" else f"gain_share_{c}").reset_index()
    order = {lab: i for i, lab in enumerate(labels)}
    return s.sort_values("label", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def group_tables_html(stacked: dict[str, pd.DataFrame], labels: list[str]) -> tuple[str, dict[str, pd.DataFrame]]:
    """The group tables' HTML and the tables themselves (for CSV), from the stacked run tables."""
    parts, tables = [], {}
    for name, value, caption, scale in GROUP_TABLES:
        t = stacked.get(name, pd.DataFrame())
        if t.empty or value not in t.columns:
            continue
        p = pivot_by_group(t, ["age_band", "gender"], value, labels)
        tables[f"groups_{value}"] = p
        parts.append(pivot_html(p, caption + " (mean over seeds)", scale, f"groups_{value}.csv"))
    gain = stacked.get("gain_by_group", pd.DataFrame())
    if not gain.empty and {"grouping", "group", "gain_share", "customers"} <= set(gain.columns):
        g = _with_older_groups(gain)
        g["g"] = np.where(g["grouping"] == "all", "all", g["group"].astype(str))
        order = ["all", "older", "gender", "older x gender"]
        g = g[g["grouping"].isin(order)]
        columns = list(dict.fromkeys(g.sort_values("grouping", key=lambda c: c.map(order.index), kind="stable")["g"]))
        p = pivot_by_group(g, ["g"], "gain_share", labels)[columns]
        tables["groups_gain_share"] = p
        parts.append(
            pivot_html(p, "Gain share within each protected group (mean over seeds)", "share", "groups_gain_share.csv")
        )
    if not parts:
        return "<p class='note'>No per-group tables were saved by these runs.</p>", tables
    note = f"<p class='note'>Cells from fewer than {MIN_CELL} customers are suppressed ({DASH}).</p>"
    return note + "".join(parts), tables
