"""The `crmkit` commands around a study rather than inside one: the version, a study's plan without
running it (`run --dry-run`), the JSON Schema of study files (`schema`), removing run folders a study
no longer has (`clean`), and a new project folder with the bundled studies and notebooks (`init`).

Each `cmd_*` takes the parsed arguments and returns the exit status (0 ok, 2 invalid input).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

from . import __version__

MSG_INIT_NOT_EMPTY = "{path} exists and is not empty; choose a new or empty folder"
MSG_NO_ESTIMATE = "no time estimate yet: no run has finished in {out}; `crmkit run` estimates from its first runs"


def version_text() -> str:
    """`crmkit --version`: the kit's version and the Python it runs on."""
    return f"crmkit {__version__} (crm-ethics-kit) on Python {sys.version.split()[0]}"


def resolve_study_path(text: str, stream=None) -> Path:
    """A study file as given, or, when no such file exists, the bundled study of that name
    (``smoke``, ``smoke.yaml`` or ``studies/smoke.yaml``), said on `stream`: so an installed kit
    runs its own studies from any folder."""
    from .bundled import bundled_studies

    path = Path(text)
    if path.exists():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    for candidate in bundled_studies():
        if candidate.name == name and (len(path.parts) == 1 or path.parent.name == "studies"):
            print(f"{text}: not here; running the kit's bundled study {candidate}", file=stream or sys.stderr)
            return candidate
    return path


def finished_seconds(runs_dir: Path) -> list[float]:
    """Seconds of every run in `runs_dir` whose manifest says it finished successfully."""
    from .records import OK, read_manifest

    out = []
    for d in sorted(runs_dir.glob("*")) if runs_dir.is_dir() else []:
        m = read_manifest(d) or {}
        if m.get("status") == OK and isinstance(m.get("seconds"), int | float):
            out.append(float(m["seconds"]))
    return out


def estimate_seconds(per_run: list[float], n_runs: int, jobs: int) -> float | None:
    """Wall time for `n_runs` on `jobs` workers from the median of runs timed before (None: none timed).

    The median, not the mean: the first runs of a study also pay for starting the warm kernels,
    and one slow run should not swing the estimate.
    """
    if not per_run:
        return None
    return statistics.median(per_run) * -(-n_runs // max(1, jobs))


def cmd_dry_run(study, out: Path, jobs: int, stream=None) -> int:
    """List a study's runs and which are already done, with an estimate; execute nothing."""
    from .execution.manifests import check_run, code_identity
    from .records import OK

    stream = stream or sys.stdout
    runs_dir = out / "runs"
    identity = code_identity(study.notebook)  # the runner's own judgement (kit.execution.manifests)
    words = {OK: "done", "missing": "to run", "failed": "failed before", "changed": "code changed"}
    rows, todo = [], 0
    for spec in study.runs:
        s = check_run(runs_dir / spec.run_id, identity)
        state = words.get(s.state, s.state)
        if s.state not in (OK, "missing"):
            state += f": will run again ({s.detail[:80]})" if s.state == "broken" else ": will run again"
        todo += state != "done"
        rows.append((spec.run_id, spec.label, spec.params["seed"], state))
    width = max([len(r[1]) for r in rows] + [7])
    print(f"study {study.name}: {len(rows)} runs in {out}, {len(rows) - todo} done, {todo} to run", file=stream)
    print(f"notebook: {study.notebook}", file=stream)
    print(f"{'run':16}  {'setting':{width}}  {'seed':>5}  state", file=stream)
    for rid, label, seed, state in rows:
        print(f"{rid:16}  {label:{width}}  {seed:>5}  {state}", file=stream)
    timed = finished_seconds(runs_dir)
    est = estimate_seconds(timed, todo, jobs)
    if todo == 0:
        print("nothing to run", file=stream)
    elif est is None:
        print(MSG_NO_ESTIMATE.format(out=out), file=stream)
    else:
        print(
            f"about {est:,.0f} s with {jobs} job(s): {todo} runs at the median {statistics.median(timed):.1f} s "
            f"of the {len(timed)} run(s) already timed in this folder",
            file=stream,
        )
    stale = stale_runs(study, out)
    if stale:
        print(f"{len(stale)} run folder(s) belong to no run of this study: crmkit clean {out}", file=stream)
    return 0


def stale_runs(study, out: Path) -> list[Path]:
    """Run folders under `out`/runs that are no run of `study` (dropped from its grid, or an
    unfinished work folder), sorted."""
    runs_dir = out / "runs"
    if not runs_dir.is_dir():
        return []
    wanted = {r.run_id for r in study.runs}
    return sorted(d for d in runs_dir.iterdir() if d.is_dir() and d.name not in wanted)


def cmd_clean(args) -> int:
    """`crmkit clean DIR`: list (or with --yes, remove) the run folders the study no longer has."""
    from .study import StudyError

    out = Path(args.dir)
    try:
        study = study_of(out, args.study, require_notebook=False)
    except StudyError as e:
        print(str(e), file=sys.stderr)
        return 2
    from .execution.folders import FolderLock

    with FolderLock(out):  # a running study's work folders look stale: never remove them under it
        return _clean(study, out, args.yes)


def _clean(study, out: Path, yes: bool) -> int:
    stale = stale_runs(study, out)
    if not stale:
        print(f"{out}: every run folder belongs to the study; nothing to remove")
        return 0
    for d in stale:
        m = {}
        try:
            m = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            pass
        what = f"{m.get('label', '?')}, seed {m.get('seed', '?')}" if m else "no manifest"
        print(f"{'removed' if yes else 'would remove'} {d} ({what})")
        if yes:
            shutil.rmtree(d)
    if not yes:
        print(f"{len(stale)} folder(s); run again with --yes to remove them")
    else:
        print(f"removed {len(stale)} folder(s); `crmkit report {out}` re-renders the report")
    return 0


def cmd_schema(args) -> int:
    """`crmkit schema`: the JSON Schema of study files, for editors."""
    from .study.schema import study_schema

    text = json.dumps(study_schema(), indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"schema: {args.out}")
    else:
        print(text)
    return 0


def cmd_init(args) -> int:
    """`crmkit init DIR`: a new project folder with the bundled studies and notebooks."""
    from .bundled import bundled_root

    dest = Path(args.dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        print(f"crmkit init: {MSG_INIT_NOT_EMPTY.format(path=dest)}", file=sys.stderr)
        return 2
    src = bundled_root()
    for part in ("studies", "notebooks"):
        shutil.copytree(src / part, dest / part, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    studies = ", ".join(p.name for p in sorted((dest / "studies").glob("*.yaml")))
    print(f"project: {dest.resolve()}\nstudies: {studies}\nnotebooks: {dest / 'notebooks'}")
    print(f"next: cd {dest} && crmkit run studies/smoke.yaml")
    return 0


def study_of(out: Path, study_path: str | None = None, require_notebook: bool = True):
    """The study of a results folder: the given file, or the copy saved there at run time, whose
    relative paths are read from the folder of the file it was copied from (when that still exists)."""
    import json

    from .execution.runner import STUDY_SOURCE
    from .study import load_study

    if study_path:
        return load_study(study_path, max_runs=None, require_notebook=require_notebook)
    root = None
    try:
        origin = Path(json.loads((out / STUDY_SOURCE).read_text())["path"]).parent
        root = origin if origin.is_dir() else None
    except (OSError, ValueError, KeyError):
        pass
    # The cap guards starting a study, not reading one back.
    return load_study(out / "study.yaml", project_root=root, max_runs=None, require_notebook=require_notebook)
