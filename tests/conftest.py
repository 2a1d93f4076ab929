"""Shared fixtures: small populations, generated once per session (they are deterministic)."""

import os
from pathlib import Path

import pytest

from kit.cli import main
from kit.population import make_population

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_pop():
    return make_population(6_000, random_state=7)


E2E_STUDY = """
name: e2e
description: two runs through papermill, on the kit's own notebook (the study names none)
base: {n_customers: 3000}
grid:
  approach: [mass, kmeans]
seeds: [4]
"""


def run_cli(args, cwd=ROOT):
    """`crmkit ARGS` in-process, from `cwd` (the project root unless given)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return main(args)
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def study_run(tmp_path_factory):
    """A two-run study executed through papermill with --jobs 2: (study file, output folder, exit code)."""
    tmp = tmp_path_factory.mktemp("study")
    path = tmp / "e2e.yaml"
    path.write_text(E2E_STUDY)
    out = tmp / "reports" / "e2e"  # reports/ is created by the kit: it owns it and writes its index
    code = run_cli(["run", str(path), "--out", str(out), "--jobs", "2"])
    return path, out, code


def pytest_collection_modifyitems(config, items):
    """CRMKIT_TEST_ORDER=reverse runs the tests in reverse order: a check that no test depends on
    another having run first (module-scoped fixtures are rebuilt per module either way)."""
    if os.environ.get("CRMKIT_TEST_ORDER") == "reverse":
        items.reverse()


def set_rows(df, column, rows, value):
    """A copy of `df` with `column` set to `value` at the given row positions (categoricals become objects)."""
    import pandas as pd

    df = df.copy()
    if isinstance(df[column].dtype, pd.CategoricalDtype):
        df[column] = df[column].astype(object)
    df.loc[df.index[rows], column] = value
    return df
