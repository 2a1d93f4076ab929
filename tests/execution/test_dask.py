"""Studies on a Dask cluster: a scheduler and two workers started as separate processes give the same
results as the local pool, bit for bit, also when a worker is killed mid-study."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

DASK = str(Path(sys.executable).with_name("dask"))


@contextlib.contextmanager
def dask_cluster(tmp: Path, n_workers: int = 2):
    """`dask scheduler` and `n_workers` single-threaded `dask worker` processes on this machine.

    Workers run without a nanny, so killing one loses it for good (nothing restarts it). Yields the
    scheduler's address and the worker processes.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    sched_file = tmp / "scheduler.json"
    log = open(tmp / "cluster.log", "ab")
    procs = [
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=log,
            stderr=log,
        )
    ]
    try:
        deadline = time.monotonic() + 120
        while not sched_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            procs.append(
                subprocess.Popen(
                    [
                        DASK,
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(tmp / f"w{i}"),
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address, {f"w{i}": p for i, p in enumerate(procs[1:])}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def _metrics(out: Path) -> dict[str, dict]:
    """Every run's metrics, by run id, as written in its metrics.json."""
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in sorted((out / "runs").glob("*/metrics.json"))}


def _same_results(a: Path, b: Path) -> None:
    ra, rb = pd.read_csv(a / "results.csv"), pd.read_csv(b / "results.csv")
    assert (ra["status"] == "ok").all() and (rb["status"] == "ok").all()
    pd.testing.assert_frame_equal(ra, rb)
    ma, mb = _metrics(a), _metrics(b)
    assert ma.keys() == mb.keys() == set(ra["run_id"])
    assert ma == mb
    for rid in ra["run_id"]:  # the same files, and the same decisions bit for bit
        assert (a / "runs" / rid / "decisions.parquet").read_bytes() == (
            b / "runs" / rid / "decisions.parquet"
        ).read_bytes()


def test_smoke_study_on_a_scheduler_with_two_workers_equals_the_local_pool(tmp_path, capsys):
    study = ROOT / "studies" / "smoke.yaml"
    local = tmp_path / "local"  # --jobs 1 runs in this process, whose kernels' zygote earlier tests started
    assert run_cli(["run", str(study), "--out", str(local), "--jobs", "1"]) == 0
    with dask_cluster(tmp_path / "cluster") as (address, _):
        remote = tmp_path / "dask"
        assert run_cli(["run", str(study), "--out", str(remote), "--scheduler", address]) == 0
    err = capsys.readouterr().err
    assert f"scheduler {address}" in err and "dashboard http" in err
    _same_results(local, remote)
    for run in (remote / "runs").iterdir():
        man = json.loads((run / "manifest.json").read_text())
        assert man["status"] == "ok" and man["worker"].startswith("tcp://127.0.0.1:")
        assert man["worker_name"] in ("w0", "w1")
        assert man["notebook"] == str(ROOT / "notebooks" / "experiment.ipynb")
        assert (run / "notebook.ipynb").exists() and (run / "kernel-stderr.log").exists()
    assert not list((remote / "runs").glob(".*.work"))


FORTY = """
name: forty
notebook: {notebook}
base: {{n_customers: 2500}}
grid:
  approach: [mass, oracle, rfm, kmeans, tree]
seeds: [0, 1, 2, 3, 4, 5, 6, 7]
"""


@pytest.mark.slow
def test_killing_a_worker_mid_study_still_completes_it_identically(tmp_path):
    study = tmp_path / "forty.yaml"
    study.write_text(FORTY.format(notebook=ROOT / "notebooks" / "experiment.ipynb"))
    local = tmp_path / "local"
    assert run_cli(["run", str(study), "--out", str(local), "--jobs", "2"]) == 0
    remote = tmp_path / "dask"
    with dask_cluster(tmp_path / "cluster") as (address, workers):
        killed = threading.Event()

        victim = []

        def kill_after_first_runs():  # once a few runs are back (both workers busy), kill one that ran some
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                done = list((remote / "runs").glob("[!.]*/manifest.json")) if (remote / "runs").exists() else []
                if len(done) >= 3:
                    victim.append(json.loads(done[0].read_text())["worker_name"])
                    os.kill(workers[victim[0]].pid, signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.1)

        t = threading.Thread(target=kill_after_first_runs, daemon=True)
        t.start()
        assert run_cli(["run", str(study), "--out", str(remote), "--scheduler", address]) == 0
        t.join()
        assert killed.is_set() and workers[victim[0]].wait(timeout=10) == -signal.SIGKILL
    _same_results(local, remote)
    assert len(pd.read_csv(remote / "results.csv")) == 40
    ran_on = [json.loads(p.read_text())["worker_name"] for p in (remote / "runs").glob("*/manifest.json")]
    assert set(ran_on) == {"w0", "w1"}
    assert ran_on.count(victim[0]) < 20  # the survivor took over the killed worker's share


def test_a_malformed_scheduler_address_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(["run", str(ROOT / "studies" / "smoke.yaml"), "--out", str(out), "--scheduler", "foo"]) == 2
    assert capsys.readouterr().err.strip() == (
        "crmkit run: --scheduler: 'foo' is not an address; "
        "expected 'local' or a Dask scheduler's address such as tcp://127.0.0.1:8786"
    )
    assert not out.exists()


def test_a_worker_running_other_code_fails_its_run_and_says_why(tmp_path):
    from kit.execution.dask import code_fingerprint, execute_run_remote
    from kit.execution.runner import execute_run
    from kit.study import load_study

    spec = load_study(ROOT / "studies" / "smoke.yaml").runs[0]
    nb = ROOT / "notebooks" / "experiment.ipynb"
    out = execute_run_remote(spec, nb.name, nb.read_bytes(), {}, client_code="0" * 64, execute=execute_run)
    man = json.loads(out["files"]["manifest.json"])
    assert out["record"]["status"] == man["status"] == "failed"
    assert man["error"].startswith(f"worker {out['worker']} runs different kit code than the client (source sha256 ")
    assert man["kit_code_sha256"] == code_fingerprint() and "metrics.json" in out["files"]


@pytest.mark.slow
def test_scheduler_local_starts_a_local_cluster_with_the_same_results(tmp_path, capsys):
    study = ROOT / "studies" / "smoke.yaml"
    local, remote = tmp_path / "local", tmp_path / "dask-local"
    assert run_cli(["run", str(study), "--out", str(local), "--jobs", "1"]) == 0
    assert run_cli(["run", str(study), "--out", str(remote), "--scheduler", "local", "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "2 worker(s); dashboard http" in err
    _same_results(local, remote)
