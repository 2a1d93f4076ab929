"""Executing a study: one papermill run per grid point, in parallel, resumable, with provenance.

Layout of a study's output folder (``reports/<study>`` by default)::

    runs/<run_id>/notebook.ipynb   the executed notebook (partly executed if the run failed)
    runs/<run_id>/report.html      the notebook rendered without code
    runs/<run_id>/metrics.json     metrics, parameters, versions, data fingerprint
    runs/<run_id>/decisions.parquet   held-out decisions (never shown in reports)
    runs/<run_id>/manifest.json    parameters, versions, code identity, git revision, times, status,
                                   error, and the size and sha256 of every other file of the run
    results.csv                    one row per run: parameters and metrics
    index.html                     the study report
    .crmkit-study, .crmkit.lock    the kit's marker, and the lock its owner holds

A run works in ``runs/.<run_id>.work/`` and is swapped into place only when finished (successfully
or not), so an interrupted study never leaves a half-written result. Rerunning skips the runs that
are trusted as they are (`kit.execution.manifests.check_run`: finished, files intact, same code) and
redoes the rest. One process owns the folder at a time (`kit.execution.folders`); pool workers die
with the runner, and Ctrl-C stops the study within seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from .. import __version__
from ..records import FAILED, OK, from_jsonable, versions, write_atomic
from ..study import RunSpec, Study
from .folders import (
    EnvironmentProblem,
    FolderLock,
    StudyInterrupted,
    WorkerDied,
    claim_study_folder,
    clean_leftovers,
    environment_problem,
    place_run_folder,
)
from .manifests import _now, check_run, code_identity, file_records, git_revision
from .progress import Progress
from .zygote import die_with_parent

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


def _outside_main_thread(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` in a helper thread, this thread waiting on it.

    nbclient sets its own SIGINT and SIGTERM handlers while it runs a notebook in the main thread,
    and those only shut the kernel down: Ctrl-C then neither stopped the study nor reached us. In a
    helper thread it cannot set them, so the signal stays ours: on KeyboardInterrupt the zygote and
    its kernel are stopped at once (the helper then fails and ends) and the interrupt goes on.
    """
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    helper = threading.Thread(target=target, name="crmkit-run", daemon=True)
    helper.start()
    try:
        while helper.is_alive():
            helper.join(0.2)
    except BaseException:
        from .kernels import shutdown

        shutdown()
        helper.join(10)
        raise
    if "error" in box:
        raise box["error"]
    return box.get("result")


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


def execute_run(
    spec: RunSpec, notebook: str, runs_dir: str, git: dict, study_name: str = "", identity: dict | None = None
) -> dict:
    """Execute one run through papermill into its work folder, then move it into place.

    Returns a short record for the progress display; never raises for a failing run (the failure
    is recorded in the run's manifest and the study goes on). Raises EnvironmentProblem when the
    machine refused a write (then no half-written work folder is left), and lets KeyboardInterrupt
    through after removing the work folder.
    """
    from .kernels import execute_notebook_warm

    runs_dir = Path(runs_dir).resolve()
    final = runs_dir / spec.run_id
    work = runs_dir / f".{spec.run_id}.work"
    identity = identity or code_identity(notebook)
    try:
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
            "identity": identity,
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
                    _outside_main_thread(
                        execute_notebook_warm,
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
                if (env := environment_problem(exc)) is not None:
                    raise env from None
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
            if (env := environment_problem(exc)) is not None:
                raise env from None
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
            files=file_records(work),
        )
        write_atomic(work / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
        place_run_folder(work, final)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        env = environment_problem(exc)
        if env is not None and env.path == "?":  # a write that named no file: name the run's folder
            env = EnvironmentProblem(str(work), env.cause, env.code)
        if env is not None and env is not exc:
            raise env from None
        raise
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


def plan_runs(study: Study, runs_dir: Path, identity: dict, force: bool = False) -> tuple[list, dict]:
    """The runs to execute and why: (todo, {run_id: RunState}) for every run not trusted as it is."""
    states = {r.run_id: check_run(runs_dir / r.run_id, identity) for r in study.runs}
    todo = [r for r in study.runs if force or not states[r.run_id].trusted]
    return todo, states


def _plan_line(study: Study, todo: list, states: dict, where: str, force: bool) -> str:
    counts: dict[str, int] = {}
    for s in states.values():
        counts[s.state] = counts.get(s.state, 0) + 1
    parts = [f"{len(study.runs)} runs", f"{counts.get(OK, 0)} already done"]
    for state, words in (("changed", "code changed"), ("broken", "broken files"), ("failed", "failed before")):
        if counts.get(state):
            parts.append(f"{counts[state]} {words} (re-run)")
    if force:
        parts.append("--force: every run re-executed")
    return f"study {study.name}: " + ", ".join([*parts, f"{len(todo)} to run {where}"])


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a study the way Ctrl-C does (only the main thread can set a handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_study(
    study: Study,
    out_dir: str | Path,
    jobs: int = 1,
    stream=None,
    force: bool = False,
    reports_default: bool = False,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Execute every run not trusted as it is, then collect results.csv. Returns the results table.

    Holds the folder's lock throughout (FolderBusy if another process owns it). A run is re-executed
    when it is missing, failed, has files that disagree with its manifest, or ran on other code
    (`kit.execution.manifests`); `force` re-executes every run. Ctrl-C or SIGTERM cancels queued
    runs, stops running ones within seconds and raises StudyInterrupted; an environment error
    (no space, read-only) stops the study the same way and raises EnvironmentProblem.

    `scheduler`: None runs on this machine's process pool of `jobs` workers; a Dask scheduler's
    address, or "local" for a LocalCluster of `jobs` workers, runs each run as a task there
    (`kit.execution.dask`).
    """
    out = Path(out_dir).resolve()  # runs execute with their own folder as cwd
    runs_dir = out / "runs"
    stream = stream or sys.stderr
    claim_study_folder(out, reports_default=reports_default)
    with FolderLock(out), _sigterm_as_interrupt():
        clean_leftovers(out)
        runs_dir.mkdir(parents=True, exist_ok=True)
        if study.source is not None:  # the study as run, for `crmkit report` and `crmkit verify`
            write_atomic(out / "study.yaml", Path(study.source).read_bytes())
            # Where it came from: the copy's relative paths (the notebook) are relative to the original.
            write_atomic(out / STUDY_SOURCE, json.dumps({"path": str(Path(study.source).resolve())}).encode())
        identity = code_identity(study.notebook)
        todo, states = plan_runs(study, runs_dir, identity, force)
        where = f"with {jobs} job(s)" if scheduler is None else "on a Dask cluster"
        print(_plan_line(study, todo, states, where, force), file=stream, flush=True)
        for r in todo:
            if states[r.run_id].state == "broken":
                print(f"  {r.run_id} ({r.label}, seed {r.params['seed']}): {states[r.run_id].detail}", file=stream)
        git = git_revision(Path(study.notebook).parent)
        progress = Progress(len(todo), stream, jobs)
        try:
            if scheduler is not None:
                from .dask import run_on_cluster

                run_on_cluster(
                    todo,
                    study.notebook,
                    runs_dir,
                    git,
                    scheduler,
                    jobs,
                    progress.update,
                    stream,
                    study.name,
                    execute=execute_run,
                )
            else:
                _execute(todo, str(study.notebook), runs_dir, (git, study.name, identity), jobs, progress.update)
        except KeyboardInterrupt:
            clean_leftovers(out)
            done = sum(check_run(runs_dir / r.run_id).trusted for r in study.runs)
            raise StudyInterrupted(done, len(study.runs)) from None
        except BaseException:
            clean_leftovers(out)
            raise
        finally:
            progress.close()
        return collect_results(study, out)


def _execute(todo: list, notebook: str, runs_dir: Path, context: tuple, jobs: int, on_done) -> None:
    """Run `todo` in this process (one job) or in a pool of `jobs` worker processes.

    `context`: what every run gets besides its spec: (git revision, study name, code identity)."""
    if jobs <= 1 or len(todo) <= 1:
        try:
            for spec in todo:
                on_done(execute_run(spec, notebook, str(runs_dir), *context))
        except BaseException:
            from .kernels import shutdown

            shutdown()  # the zygote, and with it any kernel still running
            raise
        return
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)),
        mp_context=get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    futures = [pool.submit(execute_run, spec, notebook, str(runs_dir), *context) for spec in todo]
    try:
        for fut in as_completed(futures):
            on_done(fut.result())
    except BrokenProcessPool:
        _stop_pool(pool, futures)
        raise WorkerDied() from None
    except BaseException:
        _stop_pool(pool, futures)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool: ProcessPoolExecutor, futures: list) -> None:
    """Cancel queued runs and kill the workers now; their zygotes then end their kernels within a second."""
    for fut in futures:
        fut.cancel()
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError):
            proc.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _worker_init(parent: int) -> None:
    """A pool worker: Ctrl-C is the parent's to handle; die at once when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def collect_results(study: Study, out_dir: str | Path) -> pd.DataFrame:
    """One row per run of the study, in the study's order: parameters, status and metrics.

    Only a run whose files agree with its manifest counts as ``ok``; one whose files do not gets
    status ``broken`` and an error naming the file, so the report shows it among the failures.
    """
    out = Path(out_dir)
    rows = []
    for spec in study.runs:
        run_dir = out / "runs" / spec.run_id
        state = check_run(run_dir)
        status = {"missing": "missing"}.get(state.state, state.state)
        error = "the run has not been executed" if state.state == "missing" else state.detail
        row = {"run_id": spec.run_id, "label": spec.label, "status": status, "error": error}
        p = dict(spec.params)
        ap = p.pop("approach_params")
        row.update(p)
        row.update({f"ap_{k}": v for k, v in ap.items()})
        if state.trusted:
            rec = json.loads((run_dir / "metrics.json").read_text())
            row.update(from_jsonable(rec["metrics"]))
            row["population_fingerprint"] = rec.get("population_fingerprint")
        rows.append(row)
    df = pd.DataFrame(rows)
    write_atomic(out / "results.csv", df.to_csv(index=False).encode())
    return df
