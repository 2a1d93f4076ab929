"""The long-run section of the study report: paired comparisons within each trust setting, verdicts
from the intervals, findings that say where an approach overtakes the reference."""

import numpy as np
import pandas as pd

from kit.report.longrun import (
    is_longrun,
    longrun_comparisons,
    longrun_findings,
    longrun_table_html,
    plot_longrun,
    verdict,
)


def results_table():
    """kmeans and two approaches over 6 worlds and two trust settings, with known paired differences:
    unaware is 1 below kmeans at 0 and 2 above at 0.3 (small noise); mass is as kmeans +- noise."""
    rng = np.random.default_rng(0)
    rows = []
    for s in (0.0, 0.3):
        for seed in range(6):
            world = 100 + 20 * seed  # worlds differ far more than approaches do
            for label, shift in (("kmeans", 0.0), ("unaware", -1.0 if s == 0 else 2.0), ("mass", 0.0)):
                noise = rng.normal(0, 0.05) if label != "mass" else rng.normal(0, 1.0)
                rows.append(
                    {
                        "label": label,
                        "seed": seed,
                        "status": "ok",
                        "horizon": 8,
                        "trust_sensitivity": s,
                        "value_longrun": world + shift + noise,
                        "churn_rate": 0.2 + s,
                        "optout_rate": s / 2,
                        "trust_end": 1 - s,
                        "value_policy": 10.0,
                    }
                )
    return pd.DataFrame(rows)


def test_comparisons_are_paired_within_each_trust_setting():
    res = results_table()
    assert is_longrun(res) and not is_longrun(res.assign(horizon=1))
    comps = longrun_comparisons(res, "kmeans")
    value = comps[(comps["metric"] == "value_longrun") & (comps["setting"] == "unaware")].set_index("trust_sensitivity")
    assert abs(value.loc[0.0, "diff_mean"] + 1) < 0.1 and abs(value.loc[0.3, "diff_mean"] - 2) < 0.1
    assert (value["n_worlds"] == 6).all()
    assert verdict(value.loc[0.3]) == "overtakes" and verdict(value.loc[0.0]) == "falls behind"


def test_findings_say_where_an_approach_overtakes():
    comps = longrun_comparisons(results_table(), "kmeans")
    findings = longrun_findings(comps, "kmeans")
    assert findings[0].startswith("Long-run value: unaware overtakes kmeans")
    assert "6 worlds" in findings[0]
    unaware = next(f for f in findings if f.startswith("unaware vs kmeans"))
    assert "overtakes at trust_sensitivity 0.3: +1.9" in unaware and "falls behind at trust_sensitivity 0:" in unaware
    mass = next(f for f in findings if f.startswith("mass vs kmeans"))
    assert "cannot be told apart" in mass and "overtakes" not in mass


def test_no_overtaker_is_said_plainly():
    res = results_table()
    res = res[res["label"] != "unaware"]
    findings = longrun_findings(longrun_comparisons(res, "kmeans"), "kmeans")
    assert findings[0].startswith(
        "Long-run value: no setting overtakes kmeans in the range studied (trust_sensitivity 0 to 0.3)"
    )


def test_table_and_figure():
    res = results_table()
    comps = longrun_comparisons(res, "kmeans")
    page = longrun_table_html(comps, res, "kmeans")
    assert page.count("<tr>") == 1 + 3 * 2 and "overtakes" in page and "reference" in page
    fig = plot_longrun(comps, "kmeans")
    assert len(fig.axes[0].lines) >= 1
