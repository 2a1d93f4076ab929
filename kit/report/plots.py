"""Every figure of the kit. Functions take computed tables and ``ax=None`` and return the figure.

Nothing here computes a metric: each plot draws numbers that a run or study saved, so every
figure in a report traces back to saved results.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# One colour per approach, stable across figures.
_PALETTE = plt.get_cmap("tab20").colors


def approach_colours(approaches) -> dict[str, tuple]:
    """A fixed colour per approach name (sorted order), so figures agree with each other."""
    return {a: _PALETTE[i % len(_PALETTE)] for i, a in enumerate(sorted(set(approaches)))}


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


def _finite_or_edge(values: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Replace +inf by a position right of the finite values; returns it (None when no inf)."""
    finite = values[np.isfinite(values)]
    if not np.isinf(values).any():
        return values, None
    edge = (finite.max() * 1.6 if len(finite) and finite.max() > 0 else 1.0) if len(finite) else 1.0
    return np.where(np.isinf(values), edge, values), edge


def plot_frontiers(
    summary: pd.DataFrame,
    gain: str,
    costs: list[tuple[str, str]],
    fronts: dict | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    axes=None,
    bounds: tuple[str, str] = ("min", "max"),
):
    """Gain (y) against each cost (x), one panel per cost; points are approach settings.

    Each point sits at the mean over seeds with bars from the `<m>_<bounds[0]>` to the
    `<m>_<bounds[1]>` column (min to max by default; the study report passes ("lo", "hi"), the
    95% interval of the mean over worlds); settings in `fronts[cost]`
    are ringed as Pareto-efficient. An infinite cost (epsilon of a non-private approach) is drawn
    at the right edge of its panel, labelled ∞.
    """
    n = len(costs)
    if axes is None:
        # One wide panel per cost, stacked: with a dozen or more settings, side-by-side panels crowd.
        fig, axes = plt.subplots(n, 1, figsize=(10, 4.0 * n), layout="constrained", squeeze=False)
        axes = axes[:, 0]
    fig = axes[0].figure
    colours = approach_colours(summary["label"])
    fronts = fronts or {}
    for ax, (cost, xlabel) in zip(axes, costs):
        x_mean, edge = _finite_or_edge(summary[f"{cost}_mean"].to_numpy(dtype=float))
        lo_col, hi_col = (f"{cost}_{b}" for b in bounds)
        x_lo, _ = _finite_or_edge(summary[lo_col].to_numpy(dtype=float))
        x_hi, _ = _finite_or_edge(summary[hi_col].to_numpy(dtype=float))
        if edge is not None:
            x_lo, x_hi = (
                np.where(np.isinf(summary[lo_col]), edge, x_lo),
                np.where(np.isinf(summary[hi_col]), edge, x_hi),
            )
        for i, (_, r) in enumerate(summary.iterrows()):
            xm, ym = x_mean[i], r[f"{gain}_mean"]
            if not (np.isfinite(xm) and np.isfinite(ym)):
                continue
            ax.errorbar(
                xm,
                ym,
                xerr=[[xm - x_lo[i]], [x_hi[i] - xm]],
                yerr=[[ym - r[f"{gain}_{bounds[0]}"]], [r[f"{gain}_{bounds[1]}"] - ym]],
                fmt="o",
                color=colours[r["label"]],
                capsize=3,
                markersize=7,
                label=r["label"],
            )
            if r["label"] in fronts.get(cost, set()):
                ax.scatter([xm], [ym], s=260, facecolors="none", edgecolors="black", linewidths=1.2, zorder=5)
                ax.annotate(r["label"], (xm, ym), xytext=(6, -12), textcoords="offset points", fontsize=7)
        if edge is not None:
            ticks = [t for t in ax.get_xticks() if t < edge * 0.85 and t >= 0]
            ax.set_xticks(ticks + [edge], [f"{t:g}" for t in ticks] + ["∞"])
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.set_ylabel(ylabel or gain)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(
        plt.Line2D([], [], marker="o", markersize=12, markerfacecolor="none", markeredgecolor="black", linestyle="")
    )
    labels.append("Pareto-efficient")
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_sweep(
    summary: pd.DataFrame,
    x: str,
    y: str,
    hue: str = "label",
    ax=None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    logx: bool = False,
):
    """One line per `hue` value: `y` against the swept parameter `x` (means over seeds)."""
    fig, ax = _axes(ax)
    colours = approach_colours(summary[hue])
    for key, g in summary.groupby(hue, sort=False):
        g = g.sort_values(x)
        xs = g[x].to_numpy(dtype=float)
        ax.plot(np.where(np.isinf(xs), np.nan, xs), g[y], marker="o", label=str(key), color=colours[key])
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
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
