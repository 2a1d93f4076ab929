"""The study report's figures: trade-off frontiers and per-group gain, in colours that mean the same
approach in every study.

Colours: each approach has a fixed colour within its family (references grey, rules brown,
clustering blue, differential privacy purple, anonymity green, fairness red and orange), and the
settings of one approach are shades of it, so kmeans is the same blue in every report. Labels: each
setting is numbered (the legend keys the numbers) and labels are placed so that none overlaps
another or a marker. Costs such as epsilon get a log axis, with infinity (no formal guarantee) in a
strip of its own. Nothing here computes a metric: the figures draw the study's saved summaries.
"""

from __future__ import annotations

import math

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

# One base colour per approach, grouped in families so related approaches look related and an
# approach keeps its colour from study to study. Settings of one approach are shades of it.
FAMILY_COLOURS: dict[str, dict[str, str]] = {
    "reference": {"mass": "#7f7f7f", "oracle": "#222222"},
    "rules": {"rfm": "#8c564b", "tree": "#a6761d"},
    "clustering": {"kmeans": "#1f77b4", "gmm": "#17becf", "unaware": "#4a98c9", "minimised": "#08306b"},
    "private": {"dp_kmeans": "#6a3d9a"},
    "anonymity": {"kanon": "#2ca02c", "consent_only": "#00897b"},
    "fair": {"fair_kmeans": "#d62728", "fair_targeting": "#ff7f0e"},
}
APPROACH_COLOURS: dict[str, str] = {a: c for fam in FAMILY_COLOURS.values() for a, c in fam.items()}
# Approaches not listed above (a newly added one) take one of these, by a hash of the name.
_SPARE = ["#e377c2", "#bcbd22", "#9edae5", "#c49c94", "#f7b6d2", "#dbdb8d"]


def approach_family(approach: str) -> str:
    """The family an approach's colour comes from ('other' for an approach not listed)."""
    return next((f for f, members in FAMILY_COLOURS.items() if approach in members), "other")


def base_colour(approach: str) -> str:
    """An approach's colour: fixed for known approaches, stable (hash of the name) for others."""
    if approach in APPROACH_COLOURS:
        return APPROACH_COLOURS[approach]
    h = sum((i + 1) * ord(ch) for i, ch in enumerate(approach))
    return _SPARE[h % len(_SPARE)]


def _shade(colour: str, t: float) -> tuple:
    """t in [-1, 1]: -1 lighter (towards white), 0 the colour, 1 darker (towards black)."""
    rgb = np.array(mcolors.to_rgb(colour))
    target = np.zeros(3) if t > 0 else np.ones(3)
    return tuple(rgb + (target - rgb) * abs(t) * (0.45 if t > 0 else 0.6))


def setting_colours(settings: pd.DataFrame) -> dict[str, tuple]:
    """Colour per setting label: its approach's colour, settings of one approach in shades of it.

    `settings` has `label` and `approach` columns, in the order the study lists them.
    """
    out = {}
    for approach, g in settings.drop_duplicates("label").groupby("approach", sort=False):
        labels = list(g["label"])
        n = len(labels)
        for i, lab in enumerate(labels):
            t = 0.0 if n == 1 else -0.9 + 1.6 * i / (n - 1)
            out[lab] = _shade(base_colour(approach), t)
    return out


# --- Label placement ------------------------------------------------------------------------

_DIRECTIONS = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
_RADII = (7, 13, 20, 30, 42, 56)  # points


def _overlap(a, b) -> float:
    """Overlapping area of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(
    ax,
    xy: list[tuple[float, float]],
    texts: list[str],
    obstacles_px: list | None = None,
    fontsize: float = 7.5,
    radii_pt: list[float] | None = None,
    draw: bool = True,
) -> list:
    """Put each text near its data point without overlapping another label, a marker or the frame.

    Greedy: candidates at growing distances in eight directions; the first free one wins, else the
    least-overlapping one. A label far from its point gets a thin leader line. Returns the annotations.
    `obstacles_px` are extra (x0, y0, x1, y1) display boxes to avoid; `radii_pt` the size of each
    point's marker (default 4 points). Points that coincide on screen share one label ("4, 12").
    `draw`: lay the figure out first (a full draw); False when the caller has just drawn it and
    changed nothing that moves the axes since (labels placed by this function never do).
    """
    fig = ax.figure
    if draw:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    frame = ax.get_window_extent(renderer)
    scale = fig.dpi / 72.0
    radii = [r * scale for r in (radii_pt or [4.0] * len(xy))]
    pts = [tuple(to_px(p)) for p in xy]
    taken = [(x - r, y - r, x + r, y + r) for (x, y), r in zip(pts, radii)] + list(obstacles_px or [])
    # Points closer than 2 pixels are one point on screen: one label lists them all.
    groups: list[list[int]] = []
    for i, (px, py) in enumerate(pts):
        home = next((g for g in groups if math.hypot(pts[g[0]][0] - px, pts[g[0]][1] - py) < 2.0), None)
        (home.append(i) if home is not None else groups.append([i]))
    out = []
    for g in groups:
        (px, py), (x, y), r0 = pts[g[0]], xy[g[0]], max(radii[i] for i in g)
        text = ", ".join(texts[i] for i in g)
        probe = ax.annotate(text, (x, y), fontsize=fontsize)
        bb = probe.get_window_extent(renderer)
        probe.remove()
        w, h = bb.width, bb.height
        best, best_cost = None, math.inf
        for r in _RADII:
            for dx, dy in _DIRECTIONS:
                reach = r * scale + r0 - 4 * scale
                ox, oy = dx * reach, dy * reach
                # Anchor the box so it grows away from the point.
                x0 = px + ox - (w if dx < 0 else (w / 2 if dx == 0 else 0))
                y0 = py + oy - (h if dy < 0 else (h / 2 if dy == 0 else 0))
                box = (x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1)
                outside = (max(0, frame.x0 - box[0]) + max(0, box[2] - frame.x1)) * h + (
                    max(0, frame.y0 - box[1]) + max(0, box[3] - frame.y1)
                ) * w
                cost = sum(_overlap(box, t) for t in taken) + 10 * outside
                if cost < best_cost - 1e-9:
                    best, best_cost = (box, ox, oy, dx, dy), cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        box, ox, oy, dx, dy = best
        taken.append(box)
        ha = "right" if dx < 0 else ("center" if dx == 0 else "left")
        va = "top" if dy < 0 else ("center" if dy == 0 else "bottom")
        far = math.hypot(ox, oy) > r0 + 6 * scale
        ann = ax.annotate(
            text,
            (x, y),
            xytext=(ox / scale, oy / scale),
            textcoords="offset points",
            fontsize=fontsize,
            ha=ha,
            va=va,
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "lw": 0.7, "color": "0.3", "shrinkA": 1, "shrinkB": r0 / scale}
            if far
            else None,
        )
        ann.set_in_layout(False)
        out.append(ann)
    return out


def label_boxes(fig) -> list:
    """Display boxes of every placed label (annotations) in a figure: for checking overlaps."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [(ax, t.get_window_extent(r)) for ax in fig.axes for t in ax.texts]


# --- Frontiers ------------------------------------------------------------------------------


def _errorbar(ax, x, y, xerr, yerr, colour, zorder=3):
    ax.errorbar(
        x,
        y,
        xerr=xerr,
        yerr=yerr,
        fmt="o",
        color=colour,
        ecolor=colour,
        elinewidth=1,
        capsize=2.5,
        markersize=6.5,
        markeredgecolor="white",
        markeredgewidth=0.6,
        zorder=zorder,
    )


def _spread(values: np.ndarray) -> np.ndarray:
    """Positions in (0, 1) for points drawn side by side in the infinity strip."""
    n = len(values)
    return (np.arange(n) + 0.5) / n if n else values


def plot_frontiers(
    summary: pd.DataFrame,
    gain: str,
    costs: list[tuple[str, str]],
    fronts: dict | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    log_costs: tuple = ("epsilon",),
    numbered: bool = True,
    bounds: tuple[str, str] = ("min", "max"),
):
    """Gain (y) against each cost (x), one panel per cost; each point an approach setting.

    Points sit at the mean over seeds with bars from the `<m>_<bounds[0]>` to the `<m>_<bounds[1]>`
    column: min to max by default; the study report passes ("lo", "hi"), the 95% interval of the
    mean over worlds. Settings in `fronts[cost]` are
    ringed as Pareto-efficient. Each setting is numbered (the legend keys the numbers) and the
    numbers are placed so that none overlaps another. Costs in `log_costs` get a log axis; an
    infinite cost (epsilon of an approach without a formal guarantee) is drawn in a strip of its
    own at the right, points side by side.
    """
    fronts = fronts or {}
    n = len(costs)
    labels = list(summary["label"])
    number = {lab: i + 1 for i, lab in enumerate(labels)}
    colours = setting_colours(summary)
    fig = plt.figure(figsize=(11, 3.9 * n), layout="constrained")
    outer = fig.add_gridspec(n, 1)
    first_ax = None
    to_label: list = []  # (axes, [(point, label, marker radius)]) of every panel
    for k, (cost, xlabel) in enumerate(costs):
        xm = summary[f"{cost}_mean"].to_numpy(dtype=float)
        has_inf = bool(np.isinf(xm).any())
        has_fin = bool(np.isfinite(xm).any())
        if has_inf and has_fin:
            sub = outer[k].subgridspec(1, 2, width_ratios=[5, 1.3], wspace=0.02)
            ax = fig.add_subplot(sub[0], sharey=first_ax)
            ax_inf = fig.add_subplot(sub[1], sharey=ax)
        elif has_inf:
            ax, ax_inf = None, fig.add_subplot(outer[k], sharey=first_ax)
        else:
            ax, ax_inf = fig.add_subplot(outer[k], sharey=first_ax), None
        first_ax = first_ax or ax or ax_inf
        placed: dict = {}
        ymeans = summary[f"{gain}_mean"].to_numpy(dtype=float)
        inf_rows = [i for i in range(len(summary)) if np.isinf(xm[i]) and np.isfinite(ymeans[i])]
        inf_x = dict(zip(inf_rows, _spread(np.array(inf_rows, dtype=float))))
        for i, (_, r) in enumerate(summary.iterrows()):
            ym = r[f"{gain}_mean"]
            if not np.isfinite(ym) or np.isnan(xm[i]):
                continue
            b_lo, b_hi = bounds
            yerr = [[ym - r[f"{gain}_{b_lo}"]], [r[f"{gain}_{b_hi}"] - ym]]
            if np.isinf(xm[i]):
                target, x, xerr = ax_inf, inf_x[i], None
            else:
                lo, hi = r[f"{cost}_{b_lo}"], r[f"{cost}_{b_hi}"]
                hi = hi if np.isfinite(hi) else xm[i]
                target, x, xerr = ax, xm[i], [[xm[i] - lo], [hi - xm[i]]]
            _errorbar(target, x, ym, xerr, yerr, colours[r["label"]])
            if r["label"] in fronts.get(cost, set()):
                target.scatter([x], [ym], s=190, facecolors="none", edgecolors="black", linewidths=1.1, zorder=5)
            ringed = r["label"] in fronts.get(cost, set())
            placed.setdefault(id(target), (target, []))[1].append(((x, ym), r["label"], 8.0 if ringed else 4.5))
        if ax is not None:
            if cost in log_costs and (xm[np.isfinite(xm)] > 0).all():
                ax.set_xscale("log")
                fin = xm[np.isfinite(xm)]
                ax.set_xlim(fin.min() / 2.0, fin.max() * 2.0)
                ax.xaxis.set_major_locator(mticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(mticker.NullFormatter())
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
            ax.set_ylabel(ylabel or gain)
        if ax_inf is not None:
            ax_inf.set_xlim(0, 1)
            ax_inf.set_xticks([0.5], ["∞"])
            ax_inf.grid(alpha=0.3, axis="y")
            ax_inf.set_facecolor("#f6f6f6")
            ax_inf.set_xlabel("no formal guarantee" if ax is not None else xlabel, fontsize=8)
            if ax is not None:
                ax_inf.tick_params(labelleft=False)
            else:
                ax_inf.set_ylabel(ylabel or gain)
        to_label.extend(placed.values())
    handles = [plt.Line2D([], [], marker="o", color=colours[lab], linestyle="", markersize=6.5) for lab in labels]
    names = [f"{number[lab]:>2}  {lab}" for lab in labels]
    handles.append(
        plt.Line2D([], [], marker="o", markersize=11, markerfacecolor="none", markeredgecolor="black", linestyle="")
    )
    names.append("Pareto-efficient")
    fig.legend(handles, names, loc="outside right upper", fontsize=8, frameon=False, handletextpad=0.3)
    if title:
        fig.suptitle(title)
    # Labels last, on the final layout (every panel's limits, the legend, the title), from one draw:
    # a draw per panel cost 0.2 s each, and panels set up later still moved the earlier ones.
    fig.canvas.draw()
    for target, items in to_label:
        texts = [str(number[lab]) if numbered else lab for _, lab, _ in items]
        place_labels(target, [p for p, _, _ in items], texts, radii_pt=[r for _, _, r in items], draw=False)
    return fig


# --- Per-group gain -------------------------------------------------------------------------


def plot_group_gain_study(table: pd.DataFrame, pairs: list[tuple[str, str, str]], ax=None):
    """Gain share of each protected group per approach setting: one row per setting, one panel per
    comparison (e.g. older vs under 65), points at the mean over seeds with bars from min to max.

    `table` has label, group, gain_share_mean, gain_share_min, gain_share_max (one row per setting
    and group); `pairs` lists (panel title, group a, group b).
    """
    labels = list(dict.fromkeys(table["label"]))
    n = len(pairs)
    fig, axes = plt.subplots(
        1, n, figsize=(5.2 * n, 0.36 * len(labels) + 2.0), sharey=True, layout="constrained", squeeze=False
    )
    y = np.arange(len(labels))[::-1]
    # Two colours per panel, none shared between panels, so one legend under the figure keys them all.
    palette = [[("#1b9e77", "o"), ("#d95f02", "s")], [("#7570b3", "o"), ("#a6761d", "s")]]
    for k, (ax, (title, a, b)) in enumerate(zip(axes[0], pairs)):
        styles = palette[k % len(palette)]
        for (colour, marker), grp, dy in zip(styles, (a, b), (0.15, -0.15)):
            part = table[table["group"] == grp].set_index("label").reindex(labels)
            m = part["gain_share_mean"].to_numpy(dtype=float)
            err = np.vstack(
                [m - part["gain_share_min"].to_numpy(dtype=float), part["gain_share_max"].to_numpy(dtype=float) - m]
            )
            ax.errorbar(m, y + dy, xerr=err, fmt=marker, color=colour, markersize=5, capsize=2, elinewidth=1, label=grp)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.axvline(1, color="0.4", lw=0.8, ls=":")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("gain share within the group (1 = oracle, 0 = mass)")
        ax.grid(alpha=0.3, axis="x")
    handles, names = [], []
    for ax in axes[0]:
        h, lab = ax.get_legend_handles_labels()
        handles, names = handles + h, names + lab
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize=8, frameon=False)
    axes[0][0].set_yticks(y, labels, fontsize=8)
    return fig
