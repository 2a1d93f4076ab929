"""Through papermill for real: a two-run study into a temporary folder, then what it wrote."""

import json
from pathlib import Path

import pandas as pd

from kit.cli import main
from tests.conftest import E2E_STUDY, run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_exit_status_and_files(study_run):
    path, out, code = study_run
    assert code == 0
    res = pd.read_csv(out / "results.csv")
    assert len(res) == 2 and (res["status"] == "ok").all()
    assert set(res["approach"]) == {"mass", "kmeans"}
    for col in ("gain_share", "di_older", "min_segment_size", "epsilon", "population_fingerprint"):
        assert res[col].notna().all()
    # Same seed, same population, whatever the approach.
    assert res["population_fingerprint"].nunique() == 1
    mass = res[res["approach"] == "mass"].iloc[0]
    assert mass["gain_share"] == 0.0
    for rid in res["run_id"]:
        run = out / "runs" / rid
        for f in ("notebook.ipynb", "report.html", "metrics.json", "decisions.parquet", "manifest.json"):
            assert (run / f).exists(), f
        man = json.loads((run / "manifest.json").read_text())
        assert man["status"] == "ok" and man["versions"]["aif360"] == "0.6.1"
    assert not list((out / "runs").glob(".*.work"))


def test_report_shows_every_run_and_no_rows(study_run):
    _, out, _ = study_run
    page = (out / "index.html").read_text()
    res = pd.read_csv(out / "results.csv")
    for rid in res["run_id"]:
        assert f"runs/{rid}/report.html" in page
    assert "data:image/png;base64" in page and (out / "figures" / "tradeoff_fairness.png").exists()
    dec = pd.read_parquet(out / "runs" / res["run_id"][0] / "decisions.parquet")
    for cid in dec["customer_id"].head(50):
        assert cid not in page
    run_page = (out / "runs" / res["run_id"][0] / "report.html").read_text()
    assert not any(cid in run_page for cid in dec["customer_id"].head(200))
    assert "validate_run(" not in run_page  # no code shown


def test_metrics_match_in_process_run(study_run):
    from kit.records import load_metrics
    from kit.run import run_experiment, validate_run

    _, out, _ = study_run
    res = pd.read_csv(out / "results.csv")
    row = res[res["approach"] == "kmeans"].iloc[0]
    saved = load_metrics(out / "runs" / row["run_id"] / "metrics.json")
    again = run_experiment(validate_run(saved["params"]))
    assert again.metrics == saved["metrics"]


def test_rerun_skips_finished_runs(study_run, capsys):
    path, out, _ = study_run
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.json")}
    assert run_cli(["run", str(path), "--out", str(out), "--jobs", "1"]) == 0
    assert "2 already done, 0 to run" in capsys.readouterr().err
    assert before == {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.json")}


def test_invalid_study_exits_2_before_any_run(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(E2E_STUDY.replace("[mass, kmeans]", "[mass, kmeens]"))
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "grid.approach[1]: unknown approach 'kmeens'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
