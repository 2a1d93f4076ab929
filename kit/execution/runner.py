"""Executing a study: one papermill run per grid point, in parallel, resumable, with provenance.

Layout of a study's output folder (``reports/<study>`` by default)::

    runs/<run_id>/notebook.ipynb   the executed notebook (partly executed if the run failed)
    runs/<run_id>/report.html      the notebook rendered without code
    runs/<run_id>/metrics.json     metrics, parameters, versions, data fingerprint
    runs/<run_id>/decisions.parquet   held-out decisions (never shown in reports)
    runs/<run_id>/manifest.json    parameters, versions, git revision, times, status, error
    results.csv                    one row per run: parameters and metrics
    index.html                     the study report

A run works in ``runs/.<run_id>.work/`` and is renamed into place only when finished (successfully
or not), so an interrupted study never leaves a half-written result; rerunning skips the runs whose
``manifest.json`` says ``ok`` and redoes the rest.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from .. import __version__
from ..records import FAILED, OK, from_jsonable, read_manifest, versions, write_atomic
from ..study import RunSpec, Study
from .manifests import _now, git_revision, is_done

KERNEL_START_RETRIES = 3
STUDY_SOURCE = "study-source.json"  # the path of the study file a folder's study.yaml was copied from


def _is_kernel_start_failure(exc: BaseException) -> bool:
    """Failures of starting the kernel (port race, kernel died at start), not of the notebook's code."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return False
    text = f"{type(exc).__name__}: {exc}"
    return any(
        s in text
        for s in (
            "Kernel died",
            "Address already in use",
            "ZMQError",
            "kernel_info",
            "Kernel didn't respond",
            "TimeoutError",
        )
    )


def render_run_html(nb_path: Path, html_path: Path, manifest: dict | None = None) -> None:
    """The run's page: the executed notebook without code, headed by its study, approach, settings and
    seed (from the manifest), linking back to the study report (see `kit.report.run_page`)."""
    from ..report.run_page import render_run_page

    manifest = manifest or {}
    render_run_page(nb_path, html_path, manifest, study=manifest.get("study", ""))


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send this process's stderr (file descriptor 2, which the kernel inherits) to a log file.

    The kernel's own chatter (ipykernel's TCP notice, library warnings) then lands in the run's
    folder instead of the terminal, and is there to read when a run fails.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def execute_run(spec: RunSpec, notebook: str, runs_dir: str, git: dict, study_name: str = "") -> dict:
    """Execute one run through papermill into its work folder, then move it into place.

    Returns a short record for the progress display; never raises for a failing run (the failure
    is recorded in the run's manifest and the study goes on).
    """
    from .kernels import execute_notebook_warm

    runs_dir = Path(runs_dir).resolve()
    final = runs_dir / spec.run_id
    work = runs_dir / f".{spec.run_id}.work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    manifest = {
        "run_id": spec.run_id,
        "study": study_name,
        "label": spec.label,
        "params": spec.params,
        "seed": spec.params["seed"],
        "notebook": str(notebook),
        "kit_version": __version__,
        "versions": versions(),
        "git": git,
        "started": _now(),
        "status": "running",
    }
    t0 = time.perf_counter()
    error = None
    attempts = 0
    # Figures are off in study runs: the study report draws its own from results.csv, and drawing
    # three per run cost more than most runs' science. A notebook run by hand draws them.
    parameters = {**spec.params, "output_dir": str(work), "figures": False}
    stats: dict = {}
    while True:
        attempts += 1
        try:
            with _stderr_to(work / "kernel-stderr.log"):
                execute_notebook_warm(
                    notebook,
                    str(work / "notebook.ipynb"),
                    parameters=parameters,
                    kernel_name="python3",
                    progress_bar=False,
                    log_output=False,
                    cwd=str(work),
                    stats=stats,
                )
            error = None
            break
        except Exception as exc:  # recorded in the manifest; the study goes on
            error = f"{type(exc).__name__}: {exc}"
            if attempts < KERNEL_START_RETRIES and _is_kernel_start_failure(exc):
                time.sleep(0.5 * attempts)
                continue
            break
    if error is None and not (work / "metrics.json").exists():
        error = "the notebook finished without writing metrics.json"
    try:
        if (work / "notebook.ipynb").exists():
            render_run_html(work / "notebook.ipynb", work / "report.html", manifest)
    except Exception as exc:  # a rendering failure fails the run, visibly
        error = error or f"rendering the run's report failed: {type(exc).__name__}: {exc}"
    if error is None:
        rec = json.loads((work / "metrics.json").read_text())
        manifest["population_fingerprint"] = rec.get("population_fingerprint")
    manifest.update(_run_costs(work, stats))
    manifest.update(
        finished=_now(),
        seconds=round(time.perf_counter() - t0, 2),
        attempts=attempts,
        status=OK if error is None else FAILED,
        error=error,
    )
    write_atomic(work / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)
    return {
        "run_id": spec.run_id,
        "label": spec.label,
        "seed": spec.params["seed"],
        "status": manifest["status"],
        "seconds": manifest["seconds"],
        "error": error,
    }


def _run_costs(work: Path, stats: dict) -> dict:
    """What the run cost: its kernel's peak resident memory and CPU seconds (None when warm kernels are
    off), and the wall seconds the kit's stages took in it (timings.json, written by
    `kit.run.save_run`; absent if the run failed before saving)."""
    costs: dict = {"peak_rss_mib": stats.get("peak_rss_mib"), "kernel_cpu_seconds": stats.get("kernel_cpu_seconds")}
    try:
        costs.update(json.loads((work / "timings.json").read_text()))
    except (OSError, ValueError):
        costs["science_seconds"] = None
    return costs


class Progress:
    """A progress bar with time left on a terminal; plain log lines otherwise.

    Time left is the median seconds of the runs finished so far times the rounds still to go
    (remaining runs / jobs): honest from the first run on, where elapsed / done * remaining counted
    the kernels' start-up of the first runs against every later run.
    """

    def __init__(self, total: int, stream=None, jobs: int = 1):
        self.total = total
        self.done = 0
        self.jobs = max(1, jobs)
        self.seconds: list[float] = []
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = None
        if self.tty and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", file=self.stream, dynamic_ncols=True)

    def left(self) -> float:
        """Seconds still to go: median run time x rounds of `jobs` runs left."""
        if not self.seconds:
            return math.nan
        return statistics.median(self.seconds) * -(-(self.total - self.done) // self.jobs)

    def update(self, rec: dict) -> None:
        self.done += 1
        if rec["status"] == OK:
            self.seconds.append(float(rec["seconds"]))
        msg = f"{rec['label']} seed={rec['seed']}: {rec['status']} ({rec['seconds']:.1f} s)"
        if rec["status"] != OK:
            msg += f" - {str(rec['error']).splitlines()[0][:200]}"
        if self.bar is not None:
            self.bar.set_postfix_str(msg[:60])
            self.bar.update(1)
            if rec["status"] != OK:
                self.bar.write(f"FAILED {msg}")
        else:
            left = self.left()
            when = "" if math.isnan(left) else f"; about {left:.0f} s left"
            print(f"[{self.done}/{self.total}] {msg}{when}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_study(
    study: Study, out_dir: str | Path, jobs: int = 1, stream=None, scheduler: str | None = None
) -> pd.DataFrame:
    """Execute every run not already done, then collect results.csv. Returns the results table.

    `scheduler`: None runs on this machine's process pool of `jobs` workers; a Dask scheduler's
    address, or "local" for a LocalCluster of `jobs` workers, runs each run as a task there
    (`kit.execution.dask`).
    """
    out = Path(out_dir).resolve()  # runs execute with their own folder as cwd
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    if study.source is not None:  # the study as run, for `crmkit report` and `crmkit verify`
        write_atomic(out / "study.yaml", Path(study.source).read_bytes())
        # Where it came from: the copy's relative paths (the notebook) are relative to the original.
        write_atomic(out / STUDY_SOURCE, json.dumps({"path": str(Path(study.source).resolve())}).encode())
    stream = stream or sys.stderr
    todo = [r for r in study.runs if not is_done(runs_dir / r.run_id)]
    skipped = len(study.runs) - len(todo)
    where = f"with {jobs} job(s)" if scheduler is None else "on a Dask cluster"
    print(
        f"study {study.name}: {len(study.runs)} runs, {skipped} already done, {len(todo)} to run {where}",
        file=stream,
        flush=True,
    )
    git = git_revision(Path(study.notebook).parent)
    progress = Progress(len(todo), stream, jobs)
    try:
        if scheduler is not None:
            from .dask import run_on_cluster

            run_on_cluster(todo, study.notebook, runs_dir, git, scheduler, jobs, progress.update, stream, study.name)
        elif jobs <= 1 or len(todo) <= 1:
            for spec in todo:
                progress.update(execute_run(spec, str(study.notebook), str(runs_dir), git, study.name))
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = [
                    pool.submit(execute_run, spec, str(study.notebook), str(runs_dir), git, study.name) for spec in todo
                ]
                for fut in as_completed(futures):
                    progress.update(fut.result())
    finally:
        progress.close()
    return collect_results(study, out)


def collect_results(study: Study, out_dir: str | Path) -> pd.DataFrame:
    """One row per run of the study, in the study's order: parameters, status and metrics."""
    out = Path(out_dir)
    rows = []
    for spec in study.runs:
        run_dir = out / "runs" / spec.run_id
        m = read_manifest(run_dir) or {"status": "missing", "error": "the run has not been executed"}
        row = {"run_id": spec.run_id, "label": spec.label, "status": m.get("status"), "error": m.get("error") or ""}
        p = dict(spec.params)
        ap = p.pop("approach_params")
        row.update(p)
        row.update({f"ap_{k}": v for k, v in ap.items()})
        if m.get("status") == OK:
            rec = json.loads((run_dir / "metrics.json").read_text())
            row.update(from_jsonable(rec["metrics"]))
            row["population_fingerprint"] = rec.get("population_fingerprint")
        rows.append(row)
    df = pd.DataFrame(rows)
    write_atomic(out / "results.csv", df.to_csv(index=False).encode())
    return df
