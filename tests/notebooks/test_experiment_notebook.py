"""The notebooks' parameters cells agree with the kit's parameter specs."""

from pathlib import Path

import nbformat
import pytest
from papermill.inspection import inspect_notebook

from kit.params import RUN_SPECS
from kit.run import PARAMETER_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_experiment_parameters_match_specs():
    params = inspect_notebook(str(ROOT / "notebooks" / "experiment.ipynb"))
    assert set(params) == set(PARAMETER_NAMES) | {"output_dir", "figures"}  # not run parameters: presentation
    for name, spec in RUN_SPECS.items():
        assert params[name]["inferred_type_name"] == spec.type.__name__, name
        assert eval(params[name]["default"]) == spec.default, name
        assert params[name]["help"], f"{name} has no comment for --help-notebook"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").rglob("*.ipynb")), ids=lambda p: p.name)
def test_source_notebooks_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert not any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells)
