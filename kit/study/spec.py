"""Studies: a YAML grid of runs, validated up front, each run one papermill execution.

A study file::

    name: default                      # results go to reports/<name>/
    description: what is compared      # shown in the report
    notebook: ../notebooks/experiment.ipynb   # relative to this file (default: the kit's own)
    base: {n_customers: 20000}         # run parameters shared by every run
    grid:                              # cartesian product of these lists
      approach: [mass, oracle, {kmeans: {n_clusters: [4, 8]}}]
      proxy_strength: [0.0, 0.5]
    pair:                              # lists varied together (equal lengths), crossed with the grid
      label_bias: [0.0, 0.2]
      consent_rate: [0.7, 0.5]
    exclude:                           # runs matching every key of an entry are dropped
      - {approach: oracle, proxy_strength: 0.0}
    seeds: [0, 1, 2]

Everything is checked before any kernel starts; each problem is reported with its place in the
file (``grid.proxy_strength[2]``) and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..bundled import EXPERIMENT_NOTEBOOK, bundled
from ..params import MAX_RUNS_PER_STUDY, RUN_SPECS, ParameterError
from ..run import validate_run
from ..segmenters import REGISTRY, approach_specs, unknown_approach_message
from .source import MAX_NODES, MAX_PROBLEMS_SHOWN, SourceProblem, cut, line_of, parse_yaml, read_text

STUDY_KEYS = {
    "name": "the study's name (letters, digits, - and _): results go to reports/<name>/",
    "description": "one paragraph shown at the top of the report",
    "notebook": "the parameterised notebook each run executes, relative to the study file's folder "
    "(default: the kit's notebooks/experiment.ipynb)",
    "base": "run parameters shared by every run",
    "grid": "parameters to cross: a list of values each (approach entries may carry their own parameters)",
    "pair": "parameters varied together: lists of equal length, crossed with the grid",
    "exclude": "a list of partial parameter sets; matching runs are dropped",
    "seeds": "a list of seeds (integers >= 0); every grid point runs once per seed",
    "reference": "the setting every other is compared with, paired by world, named as results.csv labels "
    "settings (e.g. kmeans(n_clusters=6)); default: kmeans at its default parameters, if the study runs it",
    "data": "a customer table and what its columns mean (kit.sources); without it, runs use the generator",
}
REQUIRED_KEYS = ("name", "seeds")
MAX_RUNS = MAX_RUNS_PER_STUDY
MSG_UNKNOWN_REFERENCE = "{reference!r} is not a setting of this study; expected one of {labels}"
MSG_NOTEBOOK_NOT_FOUND = (
    "{notebook} not found in {root}; paths in a study file are relative to the study file's folder "
    "(e.g. ../notebooks/experiment.ipynb for a study in studies/), or leave notebook out for the kit's own"
)
MSG_TOO_MANY_RUNS = (
    "the grid expands to {n:,} runs (before exclusions), more than the cap of {cap:,}; "
    "shorten the lists, or raise the cap with --max-runs"
)
MSG_DATA_KNOB = "a study on a customer table (data:) has no generator knobs and sets data only through the data: block"


class StudyError(ValueError):
    """A study file is invalid. `problems` lists every (place, message) found."""

    def __init__(self, path: str, problems: list[tuple[str, str]], lines: dict[str, int] | None = None):
        self.path = path
        self.problems = [(cut(where, 120), cut(msg)) for where, msg in problems]
        self.lines = lines or {}
        shown = []
        for where, msg in self.problems[:MAX_PROBLEMS_SHOWN]:
            line = line_of(where, self.lines)
            shown.append(f"  {where}: {msg}" + (f" (line {line})" if line else ""))
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"  ... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more")
        super().__init__("\n".join([f"{path}: {len(problems)} problem(s):", *shown]))


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: fully resolved parameters and the id derived from them."""

    params: dict
    run_id: str
    label: str  # approach and its settings, e.g. "kmeans(n_clusters=4)"; the same across seeds


@dataclass
class Study:
    """A validated study, expanded into its runs."""

    name: str
    description: str
    notebook: Path
    base: dict
    runs: list[RunSpec] = field(default_factory=list)
    source: Path | None = None
    raw: dict = field(default_factory=dict)
    reference: str | None = None  # the setting others are compared with (a label), if any


def default_reference(labels) -> str | None:
    """kmeans at its default parameters (labelled `kmeans`, or `kmeans(n_clusters=6)` when the study
    lists the default k explicitly), if among `labels`; else None (no paired comparisons)."""
    for cand in ("kmeans", "kmeans(n_clusters=6)"):
        if cand in labels:
            return cand
    return None


def run_id(params: dict) -> str:
    """Hash of the resolved parameters and the kit's version: same inputs, same id."""
    blob = json.dumps({"params": params, "kit": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def approach_label(approach: str, approach_params: dict, explicit: tuple = ()) -> str:
    """Readable name of an approach setting: parameters that differ from defaults or were set explicitly."""
    specs = approach_specs(approach)
    shown = {
        k: v for k, v in sorted(approach_params.items()) if k in specs and (v != specs[k].default or k in explicit)
    }
    if not shown:
        return approach
    return (
        f"{approach}(" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()) + ")"
    )


def _expand_approach(item, where: str, problems: list) -> list[tuple[str, dict]]:
    """An approach entry of the grid -> list of (approach, approach_params)."""
    if isinstance(item, str):
        if item not in REGISTRY:
            problems.append((where, unknown_approach_message(item)))
            return []
        return [(item, {})]
    if isinstance(item, dict) and len(item) == 1:
        ((name, settings),) = item.items()
        if name not in REGISTRY:
            problems.append((where, unknown_approach_message(name)))
            return []
        settings = settings or {}
        if not isinstance(settings, dict):
            problems.append(
                (f"{where}.{name}", f"expected a mapping of the approach's parameters, got {type(settings).__name__}")
            )
            return []
        specs = approach_specs(name)
        axes = {}
        for k, v in settings.items():
            if k not in specs:
                allowed = ", ".join(specs) if specs else "none"
                problems.append((f"{where}.{name}.{k}", f"unknown parameter of approach {name!r}; allowed: {allowed}"))
                continue
            values = v if isinstance(v, list) else [v]
            ok = []
            for i, x in enumerate(values):
                try:
                    ok.append(specs[k].check(f"{where}.{name}.{k}" + (f"[{i}]" if isinstance(v, list) else ""), x))
                except ParameterError as e:
                    problems.append((e.where, str(e)[len(e.where) + 2 :]))
            axes[k] = ok
        keys = list(axes)
        n = 1
        for k in keys:
            n *= len(axes[k])
        if n > MAX_NODES:  # the run cap is checked later, on the whole grid; this stops a product first
            problems.append((f"{where}.{name}", MSG_TOO_MANY_RUNS.format(n=n, cap=MAX_NODES)))
            return []
        return [(name, dict(zip(keys, combo))) for combo in itertools.product(*(axes[k] for k in keys))]
    problems.append((where, "expected an approach name or a mapping {approach: {parameter: value(s)}}"))
    return []


def _check_values(section: str, key: str, values, problems: list, listed: bool = True) -> list:
    """Check one parameter's list of values against its spec; report each bad element by index."""
    if key not in RUN_SPECS or key == "seed":
        allowed = ", ".join(k for k in RUN_SPECS if k != "seed")
        problems.append((f"{section}.{key}", f"unknown parameter; allowed: approach, {allowed}"))
        return []
    if listed and not isinstance(values, list):
        problems.append((f"{section}.{key}", f"expected a list of values, got {type(values).__name__} {values!r}"))
        return []
    out = []
    for i, v in enumerate(values if listed else [values]):
        where = f"{section}.{key}[{i}]" if listed else f"{section}.{key}"
        try:
            out.append(RUN_SPECS[key].check(where, v))
        except ParameterError as e:
            problems.append((e.where, str(e)[len(e.where) + 2 :]))
    return out


def _check_data(raw: dict, path: Path, base: dict, base_checked: dict, problems: list) -> None:
    """A study on a customer table: check the `data:` block, then the table itself (every problem,
    each naming its column), before any kernel starts; on success every run gets the block as its
    ``data`` parameter. Generator knobs make no sense there and are refused."""
    from ..params import KNOB_RANGES
    from ..sources import DataSourceError, load_table, parse_data

    for section in ("base", "grid", "pair"):
        for k in raw.get(section) or {}:
            if k in KNOB_RANGES or k == "data":
                problems.append((f"{section}.{k}", MSG_DATA_KNOB))
    try:
        spec = parse_data(raw["data"], base_dir=path.resolve().parent, where="data")
    except ParameterError as e:
        problems.append((e.where, str(e)[len(e.where) + 2 :]))
        return
    try:
        load_table(spec)
    except DataSourceError as e:
        problems += [("data", msg) for msg in e.problems]
        return
    base_checked["data"] = spec.to_param()


def load_study(
    path: str | Path,
    project_root: str | Path | None = None,
    max_runs: int | None = MAX_RUNS,
    require_notebook: bool = True,
) -> Study:
    """Read, validate and expand a study file. Raises StudyError listing every problem.

    The notebook path is relative to the study file's folder (or to `project_root` when given).
    `max_runs` caps the runs the grid may expand to (None: no cap); the count is taken before
    anything is expanded, so an absurd grid costs nothing. `require_notebook` False reads a study
    back for its report even where its notebook no longer is.
    """
    path = Path(path)
    try:
        raw, lines = parse_yaml(read_text(path))
    except SourceProblem as e:
        raise StudyError(str(path), e.problems, e.lines) from None
    try:
        return _load(path, raw, lines, project_root, max_runs, require_notebook)
    except StudyError as e:
        raise StudyError(str(path), e.problems, lines) from None


def _load(path: Path, raw, lines: dict, project_root, max_runs: int | None, require_notebook: bool = True) -> Study:
    if not isinstance(raw, dict):
        raise StudyError(str(path), [("file", "expected a mapping with keys " + ", ".join(STUDY_KEYS))])
    # Paths in a study file are relative to the file itself, wherever the command runs from.
    root = Path(project_root) if project_root else path.resolve().parent
    problems: list[tuple[str, str]] = []
    for k in raw:
        if k not in STUDY_KEYS:
            problems.append((str(k), f"unknown key; allowed: {', '.join(STUDY_KEYS)}"))
    for k in REQUIRED_KEYS:
        if k not in raw:
            problems.append((k, f"missing; {STUDY_KEYS[k]}"))

    name = raw.get("name")
    if "name" in raw and not (isinstance(name, str) and name and all(c.isalnum() or c in "-_" for c in name)):
        problems.append(("name", f"expected letters, digits, - and _ only, got {name!r}"))
    description = raw.get("description", "") or ""
    if not isinstance(description, str):
        problems.append(("description", f"expected text, got {type(description).__name__}"))
    notebook = None
    if "notebook" in raw:
        if not isinstance(raw["notebook"], str):
            problems.append(("notebook", f"expected a path, got {type(raw['notebook']).__name__}"))
        else:
            notebook = (root / raw["notebook"]).resolve()
            if require_notebook and not notebook.exists():
                problems.append(("notebook", MSG_NOTEBOOK_NOT_FOUND.format(notebook=raw["notebook"], root=root)))
    else:
        notebook = bundled(EXPERIMENT_NOTEBOOK)

    base = raw.get("base") or {}
    base_checked = {}
    if not isinstance(base, dict):
        problems.append(("base", f"expected a mapping of run parameters, got {type(base).__name__}"))
        base = {}
    for k, v in base.items():
        if k == "approach":
            problems.append(("base.approach", "set approaches in grid.approach"))
            continue
        got = _check_values("base", k, v, problems, listed=False)
        if got:
            base_checked[k] = got[0]

    if "data" in raw:
        _check_data(raw, path, base, base_checked, problems)

    grid = raw.get("grid") or {}
    if not isinstance(grid, dict):
        problems.append(("grid", f"expected a mapping of parameter -> list of values, got {type(grid).__name__}"))
        grid = {}
    approaches: list[tuple[str, dict]] = []
    axes: dict[str, list] = {}
    if "approach" not in grid:
        problems.append(("grid.approach", f"missing; list one or more of {', '.join(REGISTRY)}"))
    for k, v in grid.items():
        if k == "approach":
            if not isinstance(v, list) or not v:
                problems.append(("grid.approach", "expected a non-empty list of approaches"))
                continue
            for i, item in enumerate(v):
                approaches += _expand_approach(item, f"grid.approach[{i}]", problems)
        else:
            if k in base_checked:
                problems.append((f"grid.{k}", "also set in base; set it in one place"))
            axes[k] = _check_values("grid", k, v, problems)

    pair = raw.get("pair") or {}
    pairs: list[dict] = [{}]
    if not isinstance(pair, dict):
        problems.append(("pair", f"expected a mapping of parameter -> list of values, got {type(pair).__name__}"))
    elif pair:
        cols = {}
        for k, v in pair.items():
            if k in axes or k in base_checked:
                problems.append((f"pair.{k}", "also set in grid or base; set it in one place"))
            cols[k] = _check_values("pair", k, v, problems)
        lengths = {k: len(v) for k, v in pair.items() if isinstance(v, list)}
        if len(set(lengths.values())) > 1:
            problems.append(
                ("pair", "lists must have equal lengths, got " + ", ".join(f"{k}: {n}" for k, n in lengths.items()))
            )
        elif cols and all(len(c) == len(next(iter(cols.values()))) for c in cols.values()):
            n = len(next(iter(cols.values())))
            pairs = [{k: cols[k][i] for k in cols} for i in range(n)]

    seeds = raw.get("seeds")
    seed_list: list[int] = []
    if "seeds" in raw:
        if not isinstance(seeds, list) or not seeds:
            problems.append(("seeds", f"expected a non-empty list of integers >= 0, got {seeds!r}"))
        else:
            for i, s in enumerate(seeds):
                try:
                    seed_list.append(RUN_SPECS["seed"].check(f"seeds[{i}]", s))
                except ParameterError as e:
                    problems.append((e.where, str(e)[len(e.where) + 2 :]))
            if len(set(seed_list)) != len(seed_list):
                problems.append(("seeds", "lists a seed more than once"))

    excludes = raw.get("exclude") or []
    if not isinstance(excludes, list):
        problems.append(("exclude", f"expected a list of mappings, got {type(excludes).__name__}"))
        excludes = []
    for i, ex in enumerate(excludes):
        if not isinstance(ex, dict) or not ex:
            problems.append((f"exclude[{i}]", "expected a non-empty mapping of parameter: value"))
            continue
        for k in ex:
            if k != "approach" and k not in RUN_SPECS:
                problems.append((f"exclude[{i}].{k}", f"unknown parameter; allowed: approach, {', '.join(RUN_SPECS)}"))
            elif k == "approach" and ex[k] not in REGISTRY:
                problems.append((f"exclude[{i}].approach", unknown_approach_message(ex[k])))

    if problems:
        raise StudyError(str(path), problems)
    n_grid = len(approaches) * len(pairs) * len(seed_list)
    for values in axes.values():
        n_grid *= len(values)
    if max_runs is not None and n_grid > max_runs:
        raise StudyError(str(path), [("grid", MSG_TOO_MANY_RUNS.format(n=n_grid, cap=max_runs))])

    runs: list[RunSpec] = []
    keys = list(axes)
    for (appr, ap), combo, paired, seed in itertools.product(
        approaches, itertools.product(*(axes[k] for k in keys)), pairs, seed_list
    ):
        p = {"approach": appr, "approach_params": ap, **base_checked, **dict(zip(keys, combo)), **paired, "seed": seed}
        if any(all(p.get(k) == v for k, v in ex.items()) for ex in excludes):
            continue
        try:
            resolved = validate_run(p, where="run").as_dict()
        except ParameterError as e:  # a combination only the whole run can judge
            problems.append((e.where, str(e)[len(e.where) + 2 :]))
            continue
        label = approach_label(appr, resolved["approach_params"], explicit=tuple(ap))
        if not resolved.get("respect_consent", True):  # a setting of its own: it profiles without consent
            label += " (ignoring consent)"
        runs.append(RunSpec(resolved, run_id(resolved), label))
    labels = list(dict.fromkeys(r.label for r in runs))
    reference = raw.get("reference")
    if reference is not None and reference not in labels:
        problems.append(("reference", MSG_UNKNOWN_REFERENCE.format(reference=reference, labels=", ".join(labels))))
    if problems:
        raise StudyError(str(path), problems)
    if not runs:
        raise StudyError(str(path), [("exclude", "every run of the grid is excluded; nothing to run")])
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise StudyError(str(path), [("grid", "two grid points resolve to the same run (a value listed twice?)")])
    return Study(
        name=name,
        description=description.strip(),
        notebook=notebook,
        base=base_checked,
        runs=runs,
        source=path,
        raw=raw,
        reference=reference if reference is not None else default_reference(labels),
    )
