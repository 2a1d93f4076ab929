"""Executing a study's runs on a Dask cluster: each run one task, its folder shipped back to the client.

``crmkit run STUDY --scheduler ADDRESS`` connects to a running scheduler (``dask scheduler`` and
``dask worker ADDRESS --nthreads 1`` on each machine, or any cluster a Dask deployment tool
starts); ``--scheduler local`` starts a LocalCluster of ``--jobs`` single-threaded worker processes
on this machine. The local process pool stays the default.

What a task does, on whichever worker the scheduler picks: it writes the study's notebook into a
scratch folder of its own, executes the run there exactly as the local pool does (the same
`execute_run`: one papermill execution through a warm kernel forked from the worker's zygote), reads
every file of the finished run folder into memory, deletes the scratch folder and returns the files.
The client writes them into ``runs/.<run_id>.work/`` and renames that into ``runs/<run_id>/``, the
same atomic, resumable layout as the local pool: workers need no shared filesystem, and an
interrupted study resumes from what the client had received.

Same code, same numbers: every task returns a fingerprint of the kit's source and the notebook as
the worker sees them; a run executed by a worker whose code differs from the client's is recorded
as failed, naming the worker, instead of mixing results of two code versions into one study.

A lost worker (killed, out of memory, its machine gone) costs only the runs it was executing: the
scheduler gives them to another worker (up to ``distributed.scheduler.allowed-failures`` times,
default 3; after that the run is recorded as failed with the scheduler's reason). A run whose notebook
fails is not retried: it is recorded as failed, as with the local pool.

One run at a time per worker process: a run sends its kernel's stderr to the run's log by
redirecting the process's file descriptor 2, which threads share. A worker started with more than
one thread still works, but runs one run at a time; start workers with ``--nthreads 1`` and as many
worker processes as cores (``--nworkers``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import kit

from ..records import FAILED, OK
from .folders import place_run_folder
from .manifests import _now

LOCAL = "local"
SCHEDULER_EXPECTED = "expected 'local' or a Dask scheduler's address such as tcp://127.0.0.1:8786"
CONNECT_TIMEOUT = "30s"
TASK_PREFIX = "crmkit-run-"
_run_lock = threading.Lock()  # see the module's docstring: one run at a time per worker process
_code_cache: dict[str, str] = {}


def code_fingerprint() -> str:
    """sha256 over the kit's Python sources as installed in this process (paths and contents)."""
    root = Path(kit.__file__).resolve().parent
    key = str(root)
    if key not in _code_cache:
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
        _code_cache[key] = h.hexdigest()
    return _code_cache[key]


def run_files(run_dir: Path) -> dict[str, bytes]:
    """Every file under a run folder, by its path relative to the folder (POSIX separators)."""
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def write_run_folder(runs_dir: Path, run_id: str, files: dict[str, bytes]) -> Path:
    """Write a run's files into ``runs/.<run_id>.work`` and rename that to ``runs/<run_id>``.

    Same layout as a run the local pool executed: the final folder appears whole or not at all.
    """
    final = runs_dir / run_id
    work = runs_dir / f".{run_id}.work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for rel, data in files.items():
        target = (work / rel).resolve()
        if work.resolve() not in target.parents:
            raise ValueError(f"{run_id}: a worker sent a file outside its run folder: {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    place_run_folder(work, final)  # never deletes the previous folder before this one is in place
    return final


def execute_run_remote(
    spec,
    notebook_name: str,
    notebook: bytes,
    git: dict,
    client_code: str,
    study_name: str = "",
    *,
    execute: Callable,
) -> dict:
    """The task: execute one run on this worker in a scratch folder and return its files.

    `execute` is the runner's `execute_run` (passed in, pickled by reference, so this module does not
    import the runner that imports it).

    Returns ``{"record": ..., "files": {relative path: bytes}, "worker": ..., "code": ...}``.
    """
    worker, worker_name = _worker_id()
    code = code_fingerprint()
    with _run_lock:
        scratch = Path(tempfile.mkdtemp(prefix="crmkit-run-", dir=_scratch_root()))
        try:
            nb_path = scratch / notebook_name
            nb_path.write_bytes(notebook)
            runs = scratch / "runs"
            runs.mkdir()
            rec = execute(spec, str(nb_path), str(runs), git, study_name)
            files = run_files(runs / spec.run_id)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    manifest = json.loads(files["manifest.json"])
    manifest["worker"] = worker
    manifest["worker_name"] = worker_name
    manifest["kit_code_sha256"] = code
    if code != client_code:
        error = (
            f"worker {worker} runs different kit code than the client (source sha256 {code[:12]} "
            f"against {client_code[:12]}): install the same revision on every worker"
        )
        manifest.update(status=FAILED, error=error)
        rec = {**rec, "status": FAILED, "error": error}
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    return {"record": rec, "files": files, "worker": worker, "code": code}


def _worker_id() -> tuple[str, str]:
    """This worker's address and name (the host's name outside a Dask worker)."""
    try:
        from distributed import get_worker

        w = get_worker()
        return w.address, str(w.name)
    except (ImportError, ValueError):
        return socket.gethostname(), socket.gethostname()


def _scratch_root() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):
        return None


class SchedulerError(ValueError):
    """The --scheduler value is malformed, or no scheduler answers there."""


def check_scheduler(scheduler: str) -> None:
    """SchedulerError unless `scheduler` is "local" or a well-formed address (scheme://host:port or host:port)."""
    if scheduler == LOCAL:
        return
    from distributed.comm import parse_address, parse_host_port

    try:
        _, loc = parse_address(scheduler)
        host, port = parse_host_port(loc)
    except ValueError:
        host, port = "", None
    if not host or not port:
        raise SchedulerError(f"--scheduler: {scheduler!r} is not an address; {SCHEDULER_EXPECTED}")


def connect(scheduler: str, jobs: int, stream=None):
    """A distributed Client: to the scheduler at `scheduler`, or to a new LocalCluster of `jobs` workers."""
    from distributed import Client, LocalCluster

    stream = stream or sys.stderr
    if scheduler == LOCAL:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise SchedulerError(
                f"--scheduler: no Dask scheduler answers at {scheduler} within {CONNECT_TIMEOUT} ({exc}); "
                f"{SCHEDULER_EXPECTED}"
            ) from exc
    workers = client.scheduler_info().get("workers", {})
    print(
        f"dask: scheduler {client.scheduler.address}, {len(workers)} worker(s); dashboard {client.dashboard_link}",
        file=stream,
        flush=True,
    )
    return client


def run_on_cluster(
    todo: Iterable,
    notebook: str | Path,
    runs_dir: Path,
    git: dict,
    scheduler: str,
    jobs: int,
    on_done: Callable[[dict], None],
    stream=None,
    study_name: str = "",
    *,
    execute: Callable,
) -> None:
    """Execute `todo` (RunSpecs) as tasks with `execute` (the runner's `execute_run`); write each run's folder as it comes back; report it to `on_done`."""
    from distributed import as_completed

    todo = list(todo)
    if not todo:
        return
    notebook = Path(notebook)
    nb_bytes = notebook.read_bytes()
    client_code = code_fingerprint()
    client = connect(scheduler, jobs, stream)
    cluster = client.cluster if scheduler == LOCAL else None
    try:
        futures = {}
        for spec in todo:
            fut = client.submit(
                execute_run_remote,
                spec,
                notebook.name,
                nb_bytes,
                git,
                client_code,
                study_name,
                key=f"{TASK_PREFIX}{spec.run_id}-{time.time_ns()}",
                pure=False,
                execute=execute,
            )
            futures[fut] = spec
        for fut in as_completed(futures):
            spec = futures[fut]
            try:
                out = fut.result()
            except Exception as exc:  # the task itself failed: lost too many workers, or could not run
                on_done(_record_lost(runs_dir, spec, notebook, git, exc))
                continue
            out["files"]["manifest.json"] = _client_manifest(out["files"]["manifest.json"], notebook)
            write_run_folder(runs_dir, spec.run_id, out["files"])
            fut.release()
            on_done(out["record"])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _client_manifest(data: bytes, notebook: Path) -> bytes:
    """The worker's manifest, naming the notebook as the client knows it (the worker had a scratch copy)."""
    m = json.loads(data)
    m["notebook"] = str(notebook)
    return json.dumps(m, indent=2, sort_keys=True, default=str).encode()


def _record_lost(runs_dir: Path, spec, notebook: Path, git: dict, exc: BaseException) -> dict:
    """A run whose task failed outright: a run folder with a failed manifest, so resuming redoes it."""
    error = f"the run's task failed on the cluster: {type(exc).__name__}: {exc}"
    manifest = {
        "run_id": spec.run_id,
        "label": spec.label,
        "params": spec.params,
        "seed": spec.params["seed"],
        "notebook": str(notebook),
        "git": git,
        "finished": _now(),
        "status": FAILED,
        "error": error,
    }
    write_run_folder(
        runs_dir, spec.run_id, {"manifest.json": json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()}
    )
    return {
        "run_id": spec.run_id,
        "label": spec.label,
        "seed": spec.params["seed"],
        "status": FAILED,
        "seconds": 0.0,
        "error": error,
    }


__all__ = [
    "LOCAL",
    "OK",
    "SchedulerError",
    "check_scheduler",
    "code_fingerprint",
    "connect",
    "execute_run_remote",
    "run_on_cluster",
    "run_files",
    "write_run_folder",
]
