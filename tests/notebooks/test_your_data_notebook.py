"""notebooks/your_data.ipynb: the same parameters as a run, and it runs under papermill on its own
(exporting a table without truth) with every truth metric absent."""

import json
from pathlib import Path

import papermill as pm
import pytest
from papermill.inspection import inspect_notebook

from kit.run import PARAMETER_NAMES

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "your_data.ipynb"


def test_parameters_are_a_runs():
    """The same parameters cell as the experiment notebook (a study passes either the same parameters)."""
    params = inspect_notebook(str(NOTEBOOK))
    assert set(params) == set(inspect_notebook(str(ROOT / "notebooks" / "experiment.ipynb")))
    assert set(PARAMETER_NAMES) <= set(params)


@pytest.mark.slow
def test_runs_on_its_own_table_and_saves_no_truth_metric(tmp_path):
    out = tmp_path / "run"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        cwd=str(tmp_path),
        progress_bar=False,
        parameters={"n_customers": 3000, "approach": "kmeans", "output_dir": str(out)},
    )
    record = json.loads((out / "metrics.json").read_text())
    m = record["metrics"]
    assert {
        "value_policy_ope",
        "value_policy_ope_lo",
        "value_policy_ope_hi",
        "reid_rate",
        "di_older",
        "di_gender",
    } <= set(m)
    assert not {"value_policy", "gain_share", "eod_older"} & set(m)
    assert record["data_source"]["fingerprint"] == record["population_fingerprint"]
    assert record["absent_metrics"]
    assert (tmp_path / "your_data_demo.parquet").exists()
