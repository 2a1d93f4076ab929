"""The study report's figures: stable colours per approach, labels that never overlap, log epsilon
with infinity drawn apart, per-group gain."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kit.report.figures import (  # noqa: E402
    APPROACH_COLOURS,
    approach_family,
    base_colour,
    label_boxes,
    place_labels,
    plot_frontiers,
    plot_group_gain_study,
    setting_colours,
)
from kit.segmenters import REGISTRY  # noqa: E402


def _summary(rng, n=18):
    """Settings crowded on purpose: several at the same point, many close together, some at ε = ∞."""
    rows = []
    for i in range(n):
        approach = ["kmeans", "dp_kmeans", "kanon", "mass", "oracle", "rfm"][i % 6]
        g = 0.6 if i in (3, 9, 15) else float(rng.uniform(0.2, 0.7))
        eps = [0.5, 1.0, 4.0][i % 3] if approach == "dp_kmeans" else math.inf
        mia = 0.007 if i in (3, 9, 15) else float(rng.uniform(0.005, 0.01))
        rows.append(
            {
                "label": f"{approach}(k={i})",
                "approach": approach,
                "runs": 3,
                **{f"gain_share_{k}": g + d for k, d in (("mean", 0), ("min", -0.1), ("max", 0.1))},
                **{f"epsilon_{k}": eps for k in ("mean", "min", "max")},
                **{f"tracing_advantage_{k}": mia + d for k, d in (("mean", 0), ("min", -0.002), ("max", 0.002))},
            }
        )
    return pd.DataFrame(rows)


def test_every_registered_approach_has_a_family_colour_that_never_depends_on_the_study():
    for name in REGISTRY:
        assert name in APPROACH_COLOURS, f"{name}: give it a colour in its family (kit/report/figures.py)"
    a = setting_colours(pd.DataFrame({"label": ["kmeans", "mass"], "approach": ["kmeans", "mass"]}))
    b = setting_colours(pd.DataFrame({"label": ["zz", "kmeans"], "approach": ["tree", "kmeans"]}))
    assert a["kmeans"] == b["kmeans"]  # the same colour in any study
    assert approach_family("unaware") == approach_family("kmeans") == "clustering"
    assert base_colour("a_new_approach") == base_colour("a_new_approach")  # stable for unknown names too


def test_settings_of_one_approach_are_distinct_shades():
    s = pd.DataFrame({"label": ["dp(0.5)", "dp(1)", "dp(4)"], "approach": ["dp_kmeans"] * 3})
    c = setting_colours(s)
    assert len(set(c.values())) == 3


def test_frontier_labels_never_overlap_and_epsilon_is_log_with_infinity_apart():
    s = _summary(np.random.default_rng(0))
    fig = plot_frontiers(s, "gain_share", [("epsilon", "ε"), ("tracing_advantage", "advantage")], {})
    boxes = label_boxes(fig)
    assert len(boxes) >= 10
    for i, (ax1, a) in enumerate(boxes):
        for ax2, b in boxes[i + 1 :]:
            if ax1 is ax2:
                assert not a.overlaps(b), (ax1.texts, a, b)
    log_axes = [ax for ax in fig.axes if ax.get_xscale() == "log"]
    assert len(log_axes) == 1
    strip = [ax for ax in fig.axes if [t.get_text() for t in ax.get_xticklabels()] == ["∞"]]
    assert len(strip) == 1  # the ε = ∞ settings sit in a strip of their own
    xs = [p.get_offsets()[0][0] for p in strip[0].collections if len(p.get_offsets())]
    xs += [line.get_xdata()[0] for line in strip[0].lines if len(line.get_xdata()) == 1]
    assert len(set(np.round(xs, 6))) > 1  # side by side, not stacked on one vertical line
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "4, 10, 16" in texts  # settings at the same point share one label
    plt.close(fig)


def test_place_labels_avoids_markers():
    fig, ax = plt.subplots()
    xy = [(0.5, 0.5), (0.51, 0.5), (0.52, 0.5), (0.5, 0.51)]
    ax.scatter(*zip(*xy))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    anns = place_labels(ax, xy, ["1", "2", "3", "4"])
    r = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(r) for a in anns]
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    plt.close(fig)


def test_group_gain_figure_has_one_row_per_setting():
    t = pd.DataFrame(
        [
            {"label": lab, "group": g, "gain_share_mean": m, "gain_share_min": m - 0.1, "gain_share_max": m + 0.1}
            for lab in ("kmeans", "mass")
            for g, m in (("older (65+)", 0.4), ("under 65", 0.6), ("female", 0.5), ("male", 0.5))
        ]
    )
    fig = plot_group_gain_study(t, [("age", "older (65+)", "under 65"), ("gender", "female", "male")])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["kmeans", "mass"]
    plt.close(fig)


def test_fairness_frontier_draws_each_protected_attribute_once_and_not_the_cap_variant():
    """The study report drew |1 - DI| for older customers and for gender twice (once under each of
    two labels) and plotted the cap-included variant as if it were a group of its own."""
    from kit.report.html import FRONTIER_FIGURES, _extra_fairness_axes

    fixed = {m for m, _ in dict((f, a) for f, _, a in FRONTIER_FIGURES)["tradeoff_fairness.png"]}
    columns = [f"di_{a}_mean" for a in ("older", "older_all", "gender", "age_gender", "region")]
    extra = [m for m, _ in _extra_fairness_axes(columns, fixed)]
    assert extra == ["unfairness_age_gender", "unfairness_region"]
    assert not set(extra) & fixed


def test_seed_plot_draws_categorical_values_in_the_order_given():
    """Retention windows listed as 0 (all), 365, 90, 30 are drawn in that order, keeping less to the
    right; without an order they are sorted (all first, then 30, 90, 365)."""
    from kit.report.plots import plot_seeds

    runs = pd.DataFrame(
        [
            {"label": "kmeans", "seed": s, "retention_days": w, "gain": w / 1000 + s}
            for s in (0, 1)
            for w in (0, 30, 90, 365)
        ]
    )
    fig = plot_seeds(runs, "retention_days", "gain", categorical=True, tick_labels={0: "all"}, order=[0, 365, 90, 30])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all", "365", "90", "30"]
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0, 1, 2, 3]
    assert np.allclose(line.get_ydata(), [0.5, 0.865, 0.59, 0.53])  # means over the two seeds, in that order
    plt.close(fig)
    fig = plot_seeds(runs, "retention_days", "gain", categorical=True, tick_labels={0: "all"})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["all", "30", "90", "365"]
    plt.close(fig)
