"""Studies at scale (issue 17): a many-world study on the local pool and on a Dask cluster, the
per-run overhead against a trivial notebook, and one run at 10 million customers.

    .venv/bin/python benchmarks/bench_scale.py [--worlds 20] [--parts study,dask,overhead,big]
        [--big-customers 10000000]

- **study**: the default study's grid (`studies/default.yaml`) over `--worlds` seeds, with
  `crmkit run --jobs 1` and `--jobs 2`, each into a fresh folder (nothing resumed). Target: <= 180 s
  with --jobs 2 at >= 20 worlds on a 2-core machine.
- **dask**: the same study through a `dask scheduler` and two single-threaded `dask worker`
  processes started here (`crmkit run --scheduler ADDRESS`); its metrics are compared, run by run,
  with the --jobs 2 results.
- **overhead**: from the study's manifests, each run's wall time (`seconds`: the papermill execution,
  rendering and writing) minus its science time (`science_seconds`: population, fit, targeting and
  measurements inside the kernel); target: median <= 0.5 s at 20,000 customers. Against it, a
  trivial notebook (a parameters cell and one cell) through the same warm kernels.
- **big**: `crmkit population --n N`, then a one-run kmeans study at N customers through
  `crmkit run` (its manifest records peak_rss_mib), run at `nice` 10. Targets at 10,000,000:
  population <= 20 s; the run <= 120 s with peak RSS <= 12 GiB.

Each part prints a markdown table; `make bench` (benchmarks/run_all.py) collects them into
RESULTS.md. The machine's load average is printed with each figure: on a shared machine it says
how much of the time was other people's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRMKIT = [sys.executable, "-m", "kit.cli"]
BIN = Path(sys.executable).parent


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def world_study(tmp: Path, worlds: int) -> Path:
    """The default study's grid and base over seeds 0..worlds-1, as a study file in `tmp`."""
    spec = yaml.safe_load((ROOT / "studies" / "default.yaml").read_text())
    spec["name"] = f"default-{worlds}-worlds"
    spec["seeds"] = list(range(worlds))
    spec["notebook"] = str((ROOT / "studies" / spec["notebook"]).resolve())  # relative to the study file
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def crmkit_run(study: Path, out: Path, *extra: str) -> tuple[float, float]:
    """Wall seconds of `crmkit run`, and the CPU seconds (user + system) it and every process under it
    used (workers, zygotes, kernels: each is reaped by its parent, so its time adds up to ours). The CPU
    seconds say how fast the machine was: the same study took 299 CPU-s one hour and 379 the next on this
    shared machine, and its wall time followed (159.5 s, 200.6 s). Processes this one did not start (a
    Dask cluster's workers) are not counted."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [*CRMKIT, "run", str(study), "--out", str(out), *extra],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def manifests(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/manifest.json"))]


def metrics(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in sorted((out / "runs").glob("*/metrics.json"))}


class DaskCluster:
    """`dask scheduler` + `n` single-threaded `dask worker` processes on this machine."""

    def __init__(self, tmp: Path, n: int = 2):
        self.tmp, self.n, self.procs = tmp, n, []

    def __enter__(self) -> str:
        self.tmp.mkdir(parents=True, exist_ok=True)
        sched = self.tmp / "scheduler.json"
        log = open(self.tmp / "cluster.log", "ab")
        dask = str(BIN / "dask")
        self.procs.append(
            subprocess.Popen(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--dashboard-address",
                    ":0",
                    "--scheduler-file",
                    str(sched),
                ],
                stdout=log,
                stderr=log,
            )
        )
        while not sched.exists():
            time.sleep(0.2)
        address = json.loads(sched.read_text())["address"]
        for i in range(self.n):
            self.procs.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(self.tmp / f"w{i}"),
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(self.n, timeout=300)
        return address

    def __exit__(self, *exc) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def part_study(tmp: Path, worlds: int, parts: set[str]) -> tuple[str, Path | None]:
    study = world_study(tmp, worlds)
    rows, out2 = [], None
    for jobs in (1, 2):
        if f"jobs{jobs}" not in parts and "study" not in parts:
            continue
        out = tmp / f"jobs{jobs}"
        la = load()
        t, cpu = crmkit_run(study, out, "--jobs", str(jobs))
        n = len(manifests(out))
        rows.append(
            {
                "how": f"crmkit run --jobs {jobs}",
                "runs": n,
                "wall s": f"{t:.0f}",
                "CPU s": f"{cpu:.0f}",
                "s per run": f"{t / n:.2f}",
                "load before": la,
                "target": "<= 180 s" if jobs == 2 else "",
            }
        )
        if jobs == 2:
            out2 = out
    if "dask" in parts:
        out = tmp / "dask"
        with DaskCluster(tmp / "cluster") as address:
            la = load()
            t, _ = crmkit_run(study, out, "--scheduler", address)  # the workers' CPU is not ours to count
        n = len(manifests(out))
        same = "" if out2 is None else ("yes" if metrics(out) == metrics(out2) else "NO")
        rows.append(
            {
                "how": "crmkit run --scheduler (scheduler + 2 workers, separate processes)",
                "runs": n,
                "wall s": f"{t:.0f}",
                "CPU s": "",
                "s per run": f"{t / n:.2f}",
                "load before": la,
                "target": f"metrics identical to --jobs 2: {same}" if same else "",
            }
        )
    text = f"## A {worlds}-world default study (`studies/default.yaml` grid, seeds 0-{worlds - 1})\n\n" + table(
        rows, ["how", "runs", "wall s", "CPU s", "s per run", "load before", "target"]
    )
    return text, out2 or (tmp / "dask" if "dask" in parts else None)


def part_overhead(out: Path | None) -> str:
    from kit.execution import kernels

    rows = []
    if out is not None:
        ms = [m for m in manifests(out) if m.get("science_seconds") is not None]
        over = [m["seconds"] - m["science_seconds"] for m in ms]
        rows += [
            {"what": "runs of the study above (20,000 customers)", "median s": f"{len(ms)} runs"},
            {
                "what": "wall time (papermill execution, page, manifest)",
                "median s": f"{statistics.median(m['seconds'] for m in ms):.2f}",
            },
            {
                "what": "science time (population, fit, targeting, measurements in the kernel)",
                "median s": f"{statistics.median(m['science_seconds'] for m in ms):.2f}",
            },
            {"what": "wall - science (target <= 0.5)", "median s": f"{statistics.median(over):.2f}"},
            {
                "what": "peak RSS of a run's kernel, MiB",
                "median s": f"{statistics.median(m['peak_rss_mib'] for m in ms):.0f}",
            },
        ]
    import nbformat

    tmp = Path(tempfile.mkdtemp())
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("x: int = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("y = x + 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp / "trivial.ipynb")
    kernels.execute_notebook_warm(tmp / "trivial.ipynb", tmp / "out.ipynb", parameters={"x": 2}, progress_bar=False)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        kernels.execute_notebook_warm(tmp / "trivial.ipynb", tmp / "out.ipynb", parameters={"x": 2}, progress_bar=False)
        times.append(time.perf_counter() - t0)
    shutil.rmtree(tmp, ignore_errors=True)
    rows.append(
        {
            "what": "trivial notebook through papermill, warm kernel (papermill's floor), 7 runs",
            "median s": f"{statistics.median(times):.2f}",
        }
    )
    return f"## Per-run overhead (load {load()})\n\n" + table(rows, ["what", "median s"])


def part_big(tmp: Path, n: int) -> str:
    rows = []
    pop_file = tmp / "pop.parquet"
    la = load()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            "nice",
            "-n",
            "10",
            "/usr/bin/time",
            "-f",
            "%M %U %S",
            *CRMKIT,
            "population",
            "--n",
            str(n),
            "--seed",
            "0",
            "--out",
            str(pop_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    t_pop = time.perf_counter() - t0
    kib, user, system = proc.stderr.strip().splitlines()[-1].split()
    rows.append(
        {
            "what": f"crmkit population --n {n:,} (generate, save, datasheet)",
            "wall s": f"{t_pop:.1f}",
            "CPU s": f"{float(user) + float(system):.1f}",
            "peak RSS MiB": f"{int(kib) / 1024:.0f}",
            "load before": la,
            "target": "<= 20 s",
        }
    )
    pop_file.unlink(missing_ok=True)
    study = tmp / "big.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "name": "big",
                "notebook": str(ROOT / "notebooks" / "experiment.ipynb"),
                "base": {"n_customers": n},
                "grid": {"approach": ["kmeans"]},
                "seeds": [0],
            }
        )
    )
    out = tmp / "big"
    la = load()
    t = time.perf_counter()
    subprocess.run(
        ["nice", "-n", "10", *CRMKIT, "run", str(study), "--out", str(out), "--jobs", "1"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t = time.perf_counter() - t
    m = manifests(out)[0]
    rows.append(
        {
            "what": f"one kmeans run at {n:,} customers (crmkit run, papermill)",
            "wall s": f"{m['seconds']:.1f}",
            "CPU s": f"{m['kernel_cpu_seconds']:.1f} (kernel)",
            "peak RSS MiB": f"{m['peak_rss_mib']:.0f} (manifest)",
            "load before": la,
            "target": "<= 120 s, <= 12288 MiB",
        }
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in m["stage_seconds"].items())
    return (
        f"## {n:,} customers\n\n"
        + table(rows, ["what", "wall s", "CPU s", "peak RSS MiB", "load before", "target"])
        + f"\nInside the run: {stages}; `crmkit run` in all {t:.0f} s.\n"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=20)
    ap.add_argument(
        "--parts",
        default="study,dask,overhead,big",
        help="comma-separated: study (jobs1 and jobs2), jobs1, jobs2, dask, overhead, big",
    )
    ap.add_argument("--big-customers", type=int, default=10_000_000)
    ap.add_argument("--keep", help="keep the output folders here instead of a temporary folder")
    a = ap.parse_args(argv)
    parts = set(a.parts.split(","))
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        out = None
        if parts & {"study", "jobs1", "jobs2", "dask"}:
            text, out = part_study(tmp, a.worlds, parts)
            print(text, flush=True)
        if "overhead" in parts:
            print(part_overhead(out), flush=True)
        if "big" in parts:
            print(part_big(tmp, a.big_customers), flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
