"""notebooks/population.ipynb: its parameters agree with the kit's specs, and it runs under papermill."""

import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from papermill.inspection import inspect_notebook

from kit.params import RUN_SPECS
from kit.population import make_population

pytestmark = pytest.mark.slow  # each test executes a notebook through papermill

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "population.ipynb"
KNOBS = (
    "seed",
    "n_customers",
    "n_segments",
    "proxy_strength",
    "label_bias",
    "consent_rate",
    "older_share",
    "older_fatigue",
    "history_share",
)


def test_parameters_typed_commented_and_valid():
    params = inspect_notebook(str(NOTEBOOK))
    assert set(params) == {*KNOBS, "proxy_strengths", "proxy_n_customers"}
    for name in KNOBS:
        spec = RUN_SPECS[name]
        assert params[name]["inferred_type_name"] == spec.type.__name__, name
        spec.check(name, eval(params[name]["default"]))  # the default is an allowed value
    for name, p in params.items():
        assert p["help"], f"{name} has no comment for --help-notebook"
    assert params["n_customers"]["default"] == "20_000"


def test_runs_under_papermill_with_small_parameters(tmp_path):
    out = tmp_path / "population.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        cwd=str(ROOT),
        progress_bar=False,
        kernel_name="python3",
        parameters={
            "n_customers": 3_000,
            "seed": 4,
            "proxy_strengths": [0.0, 1.0],
            "proxy_n_customers": 3_000,
            "older_fatigue": 0.8,
        },
    )
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert images == 5
    text = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for c in code for o in c.outputs)
    # The injected parameters were used (the knob table shows them) ...
    assert re.search(r"older_fatigue\s+0\.8\n", text) and re.search(r"random_state\s+4\n", text)
    assert re.search(r"n_customers\s+3000\n", text)
    # ... and no customer row leaks into the outputs: not one customer id.
    ids = make_population(3_000, older_fatigue=0.8, random_state=4).customers["customer_id"]
    rendered = text + "\n".join(str(o.get("data", {}).get("text/html", "")) for c in code for o in c.outputs)
    assert not any(cid in rendered for cid in ids)
