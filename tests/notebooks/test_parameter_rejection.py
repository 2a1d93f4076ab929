"""The experiment notebook refuses unknown parameter names and bad values in its first code cell,
before any expensive one, also when papermill runs it by hand (papermill itself only warns)."""

from pathlib import Path

import nbformat
import pytest
from papermill.exceptions import PapermillExecutionError

from kit.execution.kernels import execute_notebook_warm
from kit.params import ParameterError
from kit.run import NOTEBOOK_NAMES, validate_notebook
from kit.run.params import MSG_APPROACH_PARAMETER_HINT, MSG_UNKNOWN_NOTEBOOK_PARAMETER

ROOT = Path(__file__).resolve().parents[2]
PARAMS_CELL = 'approach: str = "kmeans"  # comment\nseed: int = 0\noutput_dir: str = ""\n'


def _namespace(injected: str, **values) -> dict:
    ns = {"approach": "kmeans", "approach_params": {}, "seed": 0, "output_dir": "", **values}
    ns["In"] = ["", PARAMS_CELL, injected, "params = validate_notebook(globals())"]
    return ns


def test_unknown_injected_name_is_an_error_naming_it():
    with pytest.raises(ParameterError) as e:
        validate_notebook(_namespace("# Parameters\nn_custmers = 5\n", n_custmers=5))
    assert str(e.value) == "parameters.n_custmers: " + MSG_UNKNOWN_NOTEBOOK_PARAMETER.format(
        allowed=", ".join(NOTEBOOK_NAMES)
    )


def test_an_approach_parameter_at_top_level_says_where_it_belongs():
    with pytest.raises(ParameterError) as e:
        validate_notebook(_namespace("# Parameters\nepsilon = -1\n", epsilon=-1))
    assert str(e.value).endswith(MSG_APPROACH_PARAMETER_HINT.format(name="epsilon", approaches="dp_kmeans"))


def test_known_names_pass_and_bad_values_fail():
    assert validate_notebook(_namespace("# Parameters\nseed = 3\n", seed=3)).seed == 3
    with pytest.raises(ParameterError, match=r"^parameters.seed: "):
        validate_notebook(_namespace("# Parameters\nseed = -3\n", seed=-3))
    with pytest.raises(ParameterError, match=r"^parameters.output_dir: "):
        validate_notebook(_namespace("# Parameters\noutput_dir = 5\n", output_dir=5))
    # cells that are not plain assignments (imports, calls) are the notebook's own code, not parameters
    ns = _namespace("import os\nx = os.getcwd()\n", x="/")
    assert validate_notebook(ns).approach == "kmeans"


@pytest.mark.parametrize(
    "parameters, expected",
    [
        ({"n_custmers": 5}, "parameters.n_custmers: unknown parameter"),
        ({"n_customers": 5}, "parameters.n_customers: 5 is out of range"),
    ],
)
def test_papermill_by_hand_stops_in_the_first_code_cell(tmp_path, parameters, expected):
    out = tmp_path / "out.ipynb"
    with pytest.raises(PapermillExecutionError) as e:
        execute_notebook_warm(
            ROOT / "notebooks" / "experiment.ipynb", out, parameters=parameters, progress_bar=False, cwd=tmp_path
        )
    assert e.value.ename == "ParameterError" and expected in e.value.evalue
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    failing = [i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.outputs)]
    # cells: parameters, injected parameters, then the validating cell; nothing after it ran
    assert failing == [2] and all(c.execution_count is None for c in code[3:])
