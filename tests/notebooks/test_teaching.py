"""The teaching notebooks run under papermill with small parameters, and show no customer rows."""

import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from kit.report.plots import plot_sweep

pytestmark = pytest.mark.slow  # each test executes a notebook through papermill

ROOT = Path(__file__).resolve().parents[2]
TEACHING = sorted((ROOT / "notebooks" / "teaching").glob("*.ipynb"))


def test_four_teaching_notebooks():
    assert [p.name[:2] for p in TEACHING] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.stem)
def test_teaching_notebook_runs_small(path, tmp_path):
    out = tmp_path / path.name
    pm.execute_notebook(
        str(path),
        str(out),
        parameters={"n_customers": 2500, "seeds": [0]},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    nb = nbformat.read(out, as_version=4)
    kinds = {o.output_type for c in nb.cells if c.cell_type == "code" for o in c.outputs}
    assert "error" not in kinds
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 1
    text = " ".join(
        str(o.get("text", ""))
        + str(o.get("data", {}).get("text/plain", ""))
        + str(o.get("data", {}).get("text/html", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "customer_id" not in text and not re.search(r"C\d{10}", text)  # aggregates only: no ids
    md = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Questions" in md and "## Exercises" in md


def test_plot_sweep_returns_a_figure():
    import pandas as pd

    s = pd.DataFrame({"label": ["a", "a", "b", "b"], "x": [0.0, 1.0, 0.0, 1.0], "y": [1, 2, 3, 4]})
    fig = plot_sweep(s, "x", "y")
    assert fig is not None and len(fig.axes[0].lines) == 2
