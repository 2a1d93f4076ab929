"""The study runner: failures recorded, --jobs 1 == --jobs 2, verify, kill -9 and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pandas as pd
import pytest

from kit.records import load_metrics
from kit.run import run_experiment, validate_run
from tests.conftest import ROOT, run_cli


def _study(tmp_path, notebook, approaches="[mass, kmeans]", seeds="[1]", name="t"):
    p = tmp_path / f"{name}.yaml"
    p.write_text(
        f"name: {name}\nnotebook: {notebook}\nbase: {{n_customers: 2500}}\n"
        f"grid:\n  approach: {approaches}\nseeds: {seeds}\n"
    )
    return p


@pytest.mark.slow
def test_failing_run_is_recorded_and_others_go_on(tmp_path, capsys):
    nb = nbformat.read(ROOT / "notebooks" / "experiment.ipynb", as_version=4)
    nb.cells.insert(
        3, nbformat.v4.new_code_cell('if approach == "kmeans":\n    raise RuntimeError("boom for the test")')
    )
    nbformat.write(nb, tmp_path / "failing.ipynb")
    study = _study(tmp_path, tmp_path / "failing.ipynb")
    out = tmp_path / "out"
    assert run_cli(["run", str(study), "--out", str(out), "--jobs", "2"]) == 1
    res = pd.read_csv(out / "results.csv")
    assert dict(zip(res["approach"], res["status"])) == {"mass": "ok", "kmeans": "failed"}
    failed = res[res["status"] == "failed"].iloc[0]
    assert "boom for the test" in failed["error"]
    run = out / "runs" / failed["run_id"]
    man = json.loads((run / "manifest.json").read_text())
    assert man["status"] == "failed" and "RuntimeError" in man["error"]
    assert (run / "notebook.ipynb").exists()  # the partly executed notebook is kept
    page = (out / "index.html").read_text()
    assert "Failed runs" in page and failed["run_id"] in page
    assert "1 of 2 runs failed" in capsys.readouterr().err


@pytest.mark.slow
def test_jobs_1_gives_the_same_results_as_jobs_2(study_run, tmp_path):
    path, out2, _ = study_run  # executed with --jobs 2
    out1 = tmp_path / "j1"
    assert run_cli(["run", str(path), "--out", str(out1), "--jobs", "1"]) == 0
    a, b = pd.read_csv(out1 / "results.csv"), pd.read_csv(out2 / "results.csv")
    pd.testing.assert_frame_equal(a, b)
    for rid in a["run_id"]:
        assert (
            json.loads((out1 / "runs" / rid / "metrics.json").read_text())["metrics"]
            == json.loads((out2 / "runs" / rid / "metrics.json").read_text())["metrics"]
        )


@pytest.mark.slow
def test_verify_passes_then_catches_a_changed_metric(study_run, tmp_path, capsys):
    import shutil

    _, out, _ = study_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert run_cli(["verify", str(copy), "--sample", "1"]) == 0
    assert "1 of 1 runs reproduced exactly" in capsys.readouterr().out
    rid = pd.read_csv(copy / "results.csv")["run_id"][0]
    path = copy / "runs" / rid / "metrics.json"
    rec = json.loads(path.read_text())
    rec["metrics"]["gain_share"] = 0.123
    path.write_text(json.dumps(rec))
    assert run_cli(["verify", str(copy), "--sample", "1"]) == 1
    printed = capsys.readouterr().out
    assert "(gain_share, metrics.json: " in printed  # the changed metric, and the file edited after the run
    assert "0 of 1 runs reproduced exactly; 1 differ" in printed


@pytest.mark.slow
def test_killed_study_resumes_to_the_same_results(tmp_path):
    study = _study(tmp_path, ROOT / "notebooks" / "experiment.ipynb", approaches="[mass, kmeans]", seeds="[1, 2]")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "run", str(study), "--out", str(out), "--jobs", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "runs").glob("*/manifest.json")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the runner and its kernel mid-study
    proc.wait()
    done_before = [p.parent for p in (out / "runs").glob("*/manifest.json")]
    assert 1 <= len(done_before) < 4
    assert not (out / "results.csv").exists()
    for run in done_before:  # every visible run folder is complete; partial work stays hidden
        assert (run / "metrics.json").exists() and (run / "decisions.parquet").exists()
    mtimes = {run: (run / "metrics.json").stat().st_mtime_ns for run in done_before}
    assert run_cli(["run", str(study), "--out", str(out), "--jobs", "2"]) == 0
    res = pd.read_csv(out / "results.csv")
    assert len(res) == 4 and (res["status"] == "ok").all()
    assert not list((out / "runs").glob(".*.work"))
    assert mtimes == {run: (run / "metrics.json").stat().st_mtime_ns for run in done_before}  # not redone
    # Resumed results equal a clean in-process run of the same parameters, bit for bit.
    for rid in res["run_id"]:
        saved = load_metrics(out / "runs" / rid / "metrics.json")
        assert run_experiment(validate_run(saved["params"])).metrics == saved["metrics"]


def test_manifest_records_what_a_run_cost_and_its_notebook_has_no_figures(study_run):
    _, out, _ = study_run
    for run in (out / "runs").iterdir():
        man = json.loads((run / "manifest.json").read_text())
        assert man["peak_rss_mib"] > 50  # the kernel's own peak (it holds the preloaded science stack)
        assert 0 < man["kernel_cpu_seconds"]
        stages = man["stage_seconds"]
        assert set(stages) == {"population", "fit", "target", "measure"}
        assert 0 < man["science_seconds"] == pytest.approx(sum(stages.values()), abs=0.01)
        assert man["science_seconds"] < man["seconds"]
        nb = nbformat.read(run / "notebook.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert outputs and not any("image/png" in o.get("data", {}) for o in outputs)  # figures=False
        assert "figures = False" in nb.cells[2].source  # papermill's injected parameters say so
