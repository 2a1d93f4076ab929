"""Every figure of the kit. Functions take computed tables and ``ax=None`` and return the figure.

Nothing here computes a metric: each plot draws numbers that a run or study saved, so every
figure in a report traces back to saved results.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _axes(ax, figsize=(6.4, 4.2)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def plot_group_rates(table: pd.DataFrame, ax=None):
    """Offer rate (overall and among customers an offer truly helps) by age band x gender."""
    fig, ax = _axes(ax, (7.5, 4.0))
    t = table.copy()
    labels = t["age_band"].astype(str) + "\n" + t["gender"].astype(str).str[0].str.upper()
    x = np.arange(len(t))
    ax.bar(x - 0.2, t["offer_rate"], 0.4, label="offer rate")
    ax.bar(x + 0.2, t["offer_rate_if_helps"], 0.4, label="offer rate where an offer truly helps")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("share of customers offered")
    ax.set_xlabel("age band / gender (F, M)")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Who receives offers")
    return fig


def plot_segment_values(seg_values: pd.DataFrame, actions, ax=None):
    """Estimated net value per contact of each action, per segment (from the campaign log)."""
    fig, ax = _axes(ax)
    v = seg_values[list(actions)]
    x = np.arange(len(v))
    w = 0.8 / len(actions)
    for j, a in enumerate(actions):
        ax.bar(x + (j - (len(actions) - 1) / 2) * w, v[a], w, label=a)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [str(i) for i in v.index])
    ax.set_xlabel("segment")
    ax.set_ylabel("estimated net value per customer")
    ax.legend(fontsize=8, title="action")
    ax.set_title("What each segment is estimated to be worth, by action")
    return fig


def plot_seeds(
    runs: pd.DataFrame,
    x: str,
    y: str,
    hue: str = "label",
    ax=None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    references: list | None = None,
    categorical: bool = False,
    tick_labels: dict | None = None,
    ylim=None,
    logx: bool = False,
    order: list | None = None,
):
    """`y` against a swept parameter `x`: per `hue` value, the mean over seeds (line), the range
    over seeds (band) and each seed's value (dots), so the spread is seen next to the trend.

    `runs` has one row per run (a seed each). `references` lists (value, text) horizontal lines.
    With `categorical`, x values are drawn evenly spaced (e.g. caps 1, 2, 3, 100) and
    `tick_labels` renames some (e.g. {100: "no cap"}); `order` gives their order left to right
    (e.g. retention windows 0 = "all", 365, 90, 30: keeping less to the right; values it does not
    list follow, sorted); else they are sorted. `logx` puts x on a log scale.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 4.2), layout="constrained")
    fig = ax.figure
    xs_all = sorted(runs[x].unique())
    if categorical and order is not None:
        listed = [v for v in dict.fromkeys(order) if v in set(xs_all)]
        xs_all = listed + [v for v in xs_all if v not in set(listed)]
    pos = {v: i for i, v in enumerate(xs_all)} if categorical else {v: v for v in xs_all}
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = list(runs.groupby(hue, sort=False))
    for i, (key, g) in enumerate(groups):
        colour = cycle[i % len(cycle)]  # distinct hues: two blues of one family would not tell apart
        stats = g.groupby(x)[y].agg(["mean", "min", "max"]).reindex(xs_all).dropna()  # in drawing order
        px = np.array([pos[v] for v in stats.index], dtype=float)
        ax.fill_between(px, stats["min"], stats["max"], color=colour, alpha=0.15, lw=0)
        ax.plot(px, stats["mean"], marker="o", color=colour, label=f"{key} (mean over {g['seed'].nunique()} seeds)")
        dodge = (i - (len(groups) - 1) / 2) * (0.06 if categorical else 0.0)
        ax.scatter([pos[v] + dodge for v in g[x]], g[y], s=12, color=colour, alpha=0.6, lw=0)
    for value, text in references or []:
        ax.axhline(value, color="0.35", ls="--", lw=0.9)
        ax.annotate(
            text,
            (0.01, value),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="0.3",
        )
    if categorical:
        ax.set_xticks(range(len(xs_all)), [(tick_labels or {}).get(v, f"{v:g}") for v in xs_all])
    elif logx:
        ax.set_xscale("log")
        ax.set_xticks(xs_all, [(tick_labels or {}).get(v, f"{v:g}") for v in xs_all])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return fig


# --- The population (notebooks/population.ipynb) -------------------------------------------------


def plot_age_distribution(counts: pd.DataFrame, older_age: int = 65, ax=None):
    """Customers per year of age, one line per gender; `counts` has age, gender, customers."""
    fig, ax = _axes(ax)
    for g, part in counts.groupby("gender", observed=True, sort=True):
        part = part.sort_values("age")
        ax.plot(part["age"], part["customers"], drawstyle="steps-mid", label=str(g))
    ax.axvline(older_age - 0.5, color="grey", ls="--", lw=0.8)
    ax.annotate(f" {older_age}+: older customers", (older_age, ax.get_ylim()[1] * 0.95), fontsize=8, color="grey")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("customers")
    ax.legend(fontsize=8, title="gender")
    ax.set_title("Age distribution by gender")
    return fig


def plot_group_bars(
    table: pd.DataFrame, by: str, columns, labels=None, ylabel: str = "", title: str = "", ylim=None, ax=None
):
    """Grouped bars: for each group in column `by`, one bar per column of `columns` (e.g. rates)."""
    fig, ax = _axes(ax)
    columns = list(columns)
    labels = list(labels) if labels is not None else columns
    x = np.arange(len(table))
    w = 0.8 / len(columns)
    for j, (col, lab) in enumerate(zip(columns, labels)):
        ax.bar(x + (j - (len(columns) - 1) / 2) * w, table[col], w, label=lab)
    ax.set_xticks(x, table[by].astype(str), fontsize=8)
    ax.set_xlabel(by)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_response_by_contacts(table: pd.DataFrame, ax=None):
    """Mean true response probability against contacts in the last 90 days, older vs younger.

    `table` has contacts_90d, older, mean_p (and customers); points are sized by group count.
    """
    fig, ax = _axes(ax)
    for older, part in table.groupby("older", sort=True):
        part = part.sort_values("contacts_90d")
        ax.plot(part["contacts_90d"], part["mean_p"], marker="o", label="65+" if older else "under 65")
    ax.set_xlabel("contacts in the last 90 days")
    ax.set_ylabel("mean true response probability")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title("Contact fatigue: response against recent contacts")
    ax.grid(alpha=0.3)
    return fig


def plot_proxy_auc(table: pd.DataFrame, ax=None):
    """How well behaviour predicts each protected attribute (ROC AUC) against proxy strength.

    `table` has proxy_strength, target, auc; 0.5 (dashed) is chance.
    """
    fig, ax = _axes(ax)
    for target, part in table.groupby("target", sort=True):
        part = part.sort_values("proxy_strength")
        ax.plot(part["proxy_strength"], part["auc"], marker="o", label=str(target))
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.set_ylim(0.4, 1.0)
    ax.set_xlabel("proxy_strength (knob)")
    ax.set_ylabel("ROC AUC of a classifier on behaviour only")
    ax.legend(fontsize=8, title="predicted attribute")
    ax.set_title("Behaviour as a proxy for protected attributes")
    ax.grid(alpha=0.3)
    return fig


def plot_group_gain(table: pd.DataFrame, ax=None):
    """Gain share per protected group with its bootstrap 95% interval (from `gain_by_group`)."""
    fig, ax = _axes(ax, (7.5, 4.0))
    t = table.reset_index(drop=True)
    labels = np.where(t["grouping"] == "all", "all", t["group"].astype(str))
    y = np.arange(len(t))[::-1]
    err = np.vstack([t["gain_share"] - t["gain_share_lo"], t["gain_share_hi"] - t["gain_share"]])
    ax.errorbar(t["gain_share"], y, xerr=err, fmt="o", capsize=3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.axvline(1, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("gain share within the group (1 = oracle, 0 = mass), 95% bootstrap interval")
    ax.set_title("Who the personalisation gain goes to")
    ax.grid(alpha=0.3, axis="x")
    return fig
