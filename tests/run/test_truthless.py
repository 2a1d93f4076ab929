"""A study on a customer table (no truth): same metrics from CSV, parquet and DuckDB; no truth metric;
malformed tables and mappings exit 2 naming the column; the generator's runs carry the OPE estimates."""

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.params import ParameterError
from kit.run import run_experiment, validate_run
from kit.run.truthless import TRUTH_METRICS, TRUTH_ONLY
from kit.study import load_study
from kit.vocabulary import TRUTH_COLUMNS
from tests.conftest import run_cli, set_rows

ROOT = Path(__file__).resolve().parents[2]
STUDY = yaml.safe_load((ROOT / "studies" / "your_data.yaml").read_text())


def _study(tmp: Path, source, name="yd", approaches=("mass", "kmeans"), **data_changes) -> Path:
    study = copy.deepcopy(STUDY)
    study.update(name=name, notebook=str(ROOT / "notebooks" / "your_data.ipynb"), seeds=[0])
    study["grid"] = {"approach": list(approaches)}
    study["data"]["source"] = source
    for k, v in data_changes.items():
        if k.startswith("campaign."):
            study["data"]["campaign"][k.split(".", 1)[1]] = v
        else:
            study["data"][k] = v
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One exported population (no truth) as CSV, parquet and DuckDB, written by the CLI."""
    tmp = tmp_path_factory.mktemp("exports")
    for name in ("customers.csv", "customers.parquet", "crm.duckdb"):
        assert run_cli(["population", "--without-truth", "--n", "4000", "--seed", "5", "--out", str(tmp / name)]) == 0
    return tmp


def test_the_export_has_no_truth_and_a_bad_suffix_exits_2(exports, tmp_path, capsys):
    df = pd.read_parquet(exports / "customers.parquet")
    assert len(df) == 4000 and not set(TRUTH_COLUMNS) & set(df.columns) and "hist_action" in df.columns
    assert pd.read_csv(exports / "customers.csv").shape == df.shape
    assert run_cli(["population", "--without-truth", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"crmkit population: --out: expected a file ending in .csv, .parquet, .duckdb or .db, got {tmp_path / 'x.json'}"
    )
    assert not (tmp_path / "x.json").exists()


def test_csv_parquet_and_duckdb_studies_give_identical_metrics_without_truth(exports):
    sources = {
        "csv": "customers.csv",
        "parquet": "customers.parquet",
        "duckdb": {"url": "duckdb:///crm.duckdb", "table": "customers"},
    }
    metrics = {}
    for kind, src in sources.items():
        study = load_study(_study(exports, src, name=f"yd_{kind}"), project_root=ROOT)
        assert len(study.runs) == 2
        metrics[kind] = {r.params["approach"]: run_experiment(validate_run(r.params)).metrics for r in study.runs}
    ref = metrics["parquet"]
    for kind, m in metrics.items():
        assert m.keys() == ref.keys()
        for approach in m:
            a, b = m[approach], ref[approach]
            assert a.keys() == b.keys()
            assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a), (kind, approach)
    km = ref["kmeans"]
    for key in (
        "value_policy_ope",
        "value_policy_ope_lo",
        "value_policy_ope_hi",
        "gain_ope",
        "reid_rate",
        "di_older",
        "di_gender",
        "spd_older",
        "balance_gender",
        "tracing_advantage",
    ):
        assert key in km and np.isfinite(km[key]), key
    assert km["value_policy_ope_lo"] <= km["value_policy_ope"] <= km["value_policy_ope_hi"]
    assert not set(TRUTH_METRICS) & set(km)
    assert ref["mass"]["gain_ope"] == 0.0


def test_the_shipped_data_study_is_valid_once_its_table_is_exported(tmp_path, monkeypatch):
    """studies/your_data.yaml, as shipped, beside the export the README says to write first."""
    (tmp_path / "studies").mkdir()
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    study_file = tmp_path / "studies" / "your_data.yaml"
    study_file.write_text((ROOT / "studies" / "your_data.yaml").read_text())
    out = tmp_path / "studies" / "data" / "customers.parquet"
    assert run_cli(["population", "--without-truth", "--n", "3000", "--seed", "0", "--out", str(out)]) == 0
    monkeypatch.chdir(tmp_path)
    study = load_study(study_file)
    assert len(study.runs) == 15 and study.notebook == ROOT / "notebooks" / "your_data.ipynb"


def test_oracle_and_generator_knobs_are_refused_in_a_data_study(exports):
    with pytest.raises(ParameterError, match=r"run.approach: 'oracle' is not defined on a customer table"):
        block = load_study(_study(exports, "customers.parquet"), project_root=ROOT).runs[0].params["data"]
        validate_run({"approach": "oracle", "data": block}, where="run")
    study = copy.deepcopy(STUDY)
    path = _study(exports, "customers.parquet", name="knobs")
    raw = yaml.safe_load(path.read_text())
    raw["base"]["proxy_strength"] = 0.5
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        Exception, match=r"base.proxy_strength: a study on a customer table \(data:\) has no generator knobs"
    ):
        load_study(path, project_root=ROOT)
    assert study  # the shipped study is untouched


# Ten malformed tables or mappings: `crmkit run` exits 2 before any run, naming the column.
def _table(exports, tmp, change) -> str:
    df = pd.read_parquet(exports / "customers.parquet")
    change(df).to_parquet(tmp / "bad.parquet", index=False)
    return "bad.parquet"


def _set(col, rows, value):
    return lambda df: set_rows(df, col, rows, value)


def _campaign_rows(df, k):
    return list(np.flatnonzero(df["in_campaign"].to_numpy())[:k])


CLI_CASES = {
    "missing column": (
        lambda df: df.drop(columns=["engagement"]),
        {},
        "data: engagement: not in the table (declared as data.features)",
    ),
    "wrong type": (
        lambda df: df.assign(gender=(df["gender"] == "female").astype(int)),
        {},
        "data: gender: a protected attribute must be bool or text, got int64",
    ),
    "duplicate ids": (_set("customer_id", [5], "C0000000000"), {}, None),
    "propensity 0": (
        None,
        {"campaign.propensity": 0},
        "data.campaign.propensity: 0 is out of range; expected a number > 0 and <= 1, or a column name",
    ),
    "action outside actions": (
        lambda df: _set("hist_action", _campaign_rows(df, 3), "voucher")(df),
        {},
        "data: hist_action: actions not in data.actions: voucher (3 rows)",
    ),
    "empty table": (lambda df: df.iloc[:0], {}, "data: customer_id: the table has no rows"),
    "missing values": (_set("frequency", [1, 2, 3], np.nan), {}, "data: frequency: missing values (3 rows)"),
    "consent as text": (
        lambda df: df.assign(profiling_consent=np.where(df["profiling_consent"], "Y", "N")),
        {},
        "data: profiling_consent: the consent column must be bool, got str",
    ),
    "value without response": (
        lambda df: _set(
            "hist_value", list(np.flatnonzero(df["in_campaign"].to_numpy() & ~df["hist_response"].to_numpy())[:2]), 9.5
        )(df),
        {},
        "data: hist_value: non-zero without a recorded response (2 rows)",
    ),
    "undeclared id column": (None, {"id": "client_no"}, "data: client_no: not in the table (declared as data.id)"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_malformed_data_exits_2_naming_the_column(exports, tmp_path, capsys, case):
    change, mapping, expected = CLI_CASES[case]
    if case == "duplicate ids":
        df = pd.read_parquet(exports / "customers.parquet")
        change = _set("customer_id", [5], df["customer_id"].iloc[0])
        expected = "data: customer_id: duplicated ids (2 rows)"
    source = _table(exports, tmp_path, change) if change else str(exports / "customers.parquet")
    path = _study(tmp_path, source, **mapping)
    out = tmp_path / "out"
    assert run_cli(["run", str(path), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == f"{path}: 1 problem(s):"
    assert (
        len(lines) == 2 and lines[1].startswith(f"  {expected} (line ") and lines[1].endswith(")")
    )  # word for word, then where
    assert not out.exists()  # nothing written


def test_generator_runs_carry_the_off_policy_estimates():
    m = run_experiment(validate_run({"approach": "kmeans", "n_customers": 4000, "seed": 2})).metrics
    for name in ("policy", "mass", "oracle"):
        assert m[f"value_{name}_ope_lo"] <= m[f"value_{name}_ope"] <= m[f"value_{name}_ope_hi"]
    for key in ("value_policy_ips", "value_policy_snips", "gain_ope", "gain_share_ope", "value_policy"):
        assert np.isfinite(m[key]), key
    assert m["gain_ope"] == pytest.approx(m["value_policy_ope"] - m["value_mass_ope"])


def test_the_absent_metrics_are_explained():
    assert all(isinstance(v, str) and v for v in TRUTH_ONLY.values())
    assert json.dumps(TRUTH_ONLY)


@pytest.mark.slow
def test_a_data_study_through_papermill_writes_results_without_truth(exports, tmp_path):
    """`crmkit run` on a DuckDB table: results.csv has the off-policy value with its interval, reid_rate and
    di_<column> for each protected column, no truth metric; the report names the source and its fingerprint."""
    path = _study(tmp_path, {"url": f"duckdb:///{exports / 'crm.duckdb'}", "table": "customers"}, name="yd_e2e")
    out = tmp_path / "out"
    assert run_cli(["run", str(path), "--out", str(out), "--jobs", "2"]) == 0
    res = pd.read_csv(out / "results.csv")
    assert len(res) == 2 and (res["status"] == "ok").all()
    for col in ("value_policy_ope", "value_policy_ope_lo", "value_policy_ope_hi", "reid_rate", "di_older", "di_gender"):
        assert res[col].notna().all(), col
    assert not set(TRUTH_METRICS) & set(res.columns)
    assert not {"n_customers", "proxy_strength"} & set(res.columns)  # no generator knobs on a table
    page = (out / "index.html").read_text()
    fingerprint = json.loads((out / "runs" / res["run_id"].iloc[0] / "metrics.json").read_text())["data_source"][
        "fingerprint"
    ]
    assert "Data source" in page and fingerprint in page and "crm.duckdb" in page
    assert "absent, because" in page and "Offer rate by gender" in page
    # Seeds are not worlds on one table: the page says so, and never that each seed is a new population.
    assert "a seed draws no new customers" in page and "Each world (seed) is a new population" not in page
    # The frontier captions too: the table's caption (seeds change the approaches' randomness), not the worlds'.
    assert (
        "changes only the approaches&#39; own randomness" in page
        or "changes only the approaches' own randomness" in page
    )
    assert "at its mean over the worlds (seeds)" not in page
    assert (
        "bootstrap interval over the table&#39;s customers" in page
        or "bootstrap interval over the table's customers" in page
    )
