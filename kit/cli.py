"""`crmkit`: the command line.

    crmkit --version                                the kit's version
    crmkit init DIR                                 a new project: the bundled studies and notebooks
    crmkit run STUDY.yaml [--out DIR] [--jobs N]   run a study and render its report
    crmkit run STUDY.yaml --scheduler ADDRESS|local the same, each run a task on a Dask cluster
    crmkit run STUDY.yaml --dry-run                 list the runs, what is done, a time estimate; run nothing
    crmkit schema [--out FILE]                      the JSON Schema of study files (for editors)
    crmkit clean DIR [--yes]                        remove run folders no longer in the study
    crmkit report DIR [--study STUDY.yaml]          re-render a study's report from its saved results
    crmkit verify DIR [--sample K]                  re-execute runs and compare every metric exactly
    crmkit approaches                               list approaches and their parameters
    crmkit population --n N --seed S --out FILE     write a population and its datasheet
    crmkit validate-population FILE                 check a saved population against the data contract

Exit status: 0 success, 1 a run failed or a verification differed, 2 invalid input (or the folder is
in use), 3 the environment refused (no space, read-only, no permission), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .cli_tools import study_of  # light: imports only what a command needs, when it runs
from .params import KNOB_RANGES  # light: params imports nothing else of the kit


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {v}")
    return v


def cmd_run(args) -> int:
    from .cli_tools import resolve_study_path
    from .execution.folders import claim_study_folder
    from .execution.runner import run_study
    from .records import OK
    from .report.html import render_study_report
    from .study import StudyError, load_study

    try:
        study = load_study(resolve_study_path(args.study), max_runs=args.max_runs)
    except StudyError as e:
        print(str(e), file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("reports") / study.name
    jobs = args.jobs or os.cpu_count() or 1
    if args.dry_run:
        from .cli_tools import cmd_dry_run

        return cmd_dry_run(study, out, jobs)
    if args.scheduler is not None:
        from .execution.dask import SchedulerError, check_scheduler

        try:
            check_scheduler(args.scheduler)  # before anything is created
        except SchedulerError as e:
            print(f"crmkit run: {e}", file=sys.stderr)
            return 2
    claim_study_folder(out, reports_default=not args.out)  # before the lock file: never in a user's folder
    with _owning(out):  # one owner from the first run to the last line of the report
        if args.scheduler is not None:
            try:
                results = run_study(study, out, jobs=jobs, force=args.force, scheduler=args.scheduler)
            except SchedulerError as e:
                print(f"crmkit run: {e}", file=sys.stderr)
                return 2
        else:
            results = run_study(study, out, jobs=jobs, force=args.force)
        index = render_study_report(study, results, out)
    n_failed = int((results["status"] != OK).sum())
    if n_failed:
        print(f"{n_failed} of {len(results)} runs failed; see the report.", file=sys.stderr)
    print(f"report: {index.resolve()}")
    return 1 if n_failed else 0


def _owning(out: Path, shared: bool = False):
    """The folder's lock; FolderBusy and NotAStudyFolder become exit status 2 in `main`."""
    from .execution.folders import FolderLock

    return FolderLock(out, shared=shared)


def cmd_report(args) -> int:
    from .execution.runner import collect_results
    from .report.html import render_study_report
    from .study import StudyError

    out = Path(args.dir)
    try:
        study = study_of(out, args.study, require_notebook=False)  # a report needs no notebook
    except StudyError as e:
        print(str(e), file=sys.stderr)
        return 2
    with _owning(out):
        results = collect_results(study, out)
        index = render_study_report(study, results, out)
    for _, r in results[results["status"] == "broken"].iterrows():
        print(f"{r['run_id']} ({r['label']}, seed {r['seed']}): {r['error']}", file=sys.stderr)
    print(f"report: {index.resolve()}")
    return 0


def cmd_verify(args) -> int:
    from .execution.verify import verify_study
    from .study import StudyError

    out = Path(args.dir)
    try:
        study = study_of(out, args.study)
    except StudyError as e:
        print(str(e), file=sys.stderr)
        return 2
    if not (out / "runs").is_dir():
        print(f"{out}: no runs to verify", file=sys.stderr)
        return 2
    with _owning(out, shared=True):
        verdicts = verify_study(study, out, sample=args.sample, stream=sys.stdout)
    return 0 if verdicts and all(v.outcome == "reproduced" for v in verdicts) else 1


def cmd_approaches(args) -> int:
    from .segmenters import REGISTRY, approach_features

    for name, cls in REGISTRY.items():
        print(f"{name}: {cls.summary}")
        print(f"    uses: {approach_features(name)}")
        print(f"    releases: {cls.releases}")
        if not cls.param_specs:
            print("    (no parameters)")
        for k, spec in cls.param_specs.items():
            print(f"    {k} ({spec.type.__name__}, default {spec.default!r}): {spec.doc}; allowed: {spec.allowed()}")
    return 0


# `crmkit population` options and the run parameter (kit.params.RUN_SPECS) each one sets.
# Option -> knob: --n for n_customers, --seed, then every other knob as --kebab-case.
POPULATION_OPTIONS: dict[str, str] = {
    "--n": "n_customers",
    "--seed": "seed",
    **{"--" + k.replace("_", "-"): k for k in KNOB_RANGES if k != "n_customers"},
}


def _population_knobs(args) -> dict:
    """The options' values, parsed and checked with the run specs (ParameterError names the option)."""
    from .params import RUN_SPECS, ParameterError

    values = {}
    for option, name in POPULATION_OPTIONS.items():
        spec = RUN_SPECS[name]
        text = getattr(args, name)
        if text is None:
            values[name] = spec.default
            continue
        try:
            value = spec.type(text.strip())
        except ValueError:
            raise ParameterError(option, f"expected {spec.allowed()}, got {text!r}") from None
        values[name] = spec.check(option, value)
    return values


def cmd_population(args) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from .params import ParameterError
    from .population import make_population, save_population
    from .population.datasheet import datasheet_markdown
    from .population.io import population_table
    from .records import write_atomic

    try:
        knobs = _population_knobs(args)
    except ParameterError as e:
        print(f"crmkit population: {e}", file=sys.stderr)
        return 2
    seed = knobs.pop("seed")
    if args.without_truth:
        from .sources.export import EXPORT_SUFFIXES, EXPORT_TABLE, MSG_EXPORT_SUFFIX, export_without_truth

        if Path(args.out).suffix.lower() not in EXPORT_SUFFIXES:
            print(f"crmkit population: {MSG_EXPORT_SUFFIX.format(path=args.out)}", file=sys.stderr)
            return 2
        pop = make_population(knobs.pop("n_customers"), **knobs, random_state=seed)
        path = export_without_truth(pop.customers, args.out)
        where = f" (table {EXPORT_TABLE})" if path.suffix.lower() in (".duckdb", ".db") else ""
        print(f"customer table without truth: {path}{where} ({len(pop.customers)} customers)")
        return 0
    pop = make_population(knobs.pop("n_customers"), **knobs, random_state=seed)
    path = Path(args.out)
    # Two at a time (numpy, pandas and Arrow release the GIL for most of it): the fingerprint beside the
    # Arrow table, then the parquet file beside the datasheet's aggregates. The datasheet is written once
    # the parquet file is in place, as before; every byte of both is what one thread would write.
    with ThreadPoolExecutor(max_workers=2) as pool:
        fp_job = pool.submit(pop.fingerprint)  # once: the file's metadata and the datasheet both name it
        table = population_table(pop)
        fp = fp_job.result()
        text_job = pool.submit(datasheet_markdown, pop, path.name, fp)
        path = save_population(pop, path, fp, table=table)
        text = text_job.result()
    sheet = write_atomic(path.with_suffix(".datasheet.md"), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"population: {path} ({len(pop.customers)} customers)\ndatasheet: {sheet}")
    return 0


def cmd_validate_population(args) -> int:
    from .population import PopulationSchemaError, load_population

    try:
        pop = load_population(args.file)
    except FileNotFoundError as e:
        print(f"crmkit validate-population: {e}", file=sys.stderr)
        return 2
    except PopulationSchemaError as e:
        print(f"crmkit validate-population: {args.file}: not a valid population", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    c = pop.customers
    print(
        f"{args.file}: valid population of {len(c)} customers ({int(c['in_campaign'].sum())} in the campaign), "
        f"fingerprint {pop.fingerprint()}"
    )
    print("knobs: " + ", ".join(f"{k}={v}" for k, v in pop.knobs.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import cli_tools

    p = argparse.ArgumentParser(prog="crmkit", description="Ethical customer segmentation research kit.")
    p.add_argument("--version", action="version", version=cli_tools.version_text())
    sub = p.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="a new project folder with the bundled studies and notebooks")
    init.add_argument("dir", help="the new project's folder (new or empty)")
    init.set_defaults(func=cli_tools.cmd_init)

    from .params import MAX_RUNS_PER_STUDY  # light: params imports nothing of the kit

    r = sub.add_parser("run", help="run a study and render its report")
    r.add_argument("study", help="the study file (YAML)")
    r.add_argument("--out", help="output folder (default: reports/<study name>)")
    r.add_argument("--jobs", type=_positive_int, default=None, help="parallel runs (default: number of cores)")
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run each run as a task on the Dask cluster of this scheduler (e.g. tcp://host:8786), or 'local' "
        "for a LocalCluster of --jobs workers (default: this machine's process pool)",
    )
    r.add_argument(
        "--max-runs",
        type=_positive_int,
        default=MAX_RUNS_PER_STUDY,
        help=f"refuse a study whose grid expands to more runs than this (default {MAX_RUNS_PER_STUDY:,})",
    )
    r.add_argument("--force", action="store_true", help="re-execute every run, also those finished on the same code")
    r.add_argument(
        "--dry-run", action="store_true", help="list the runs, which are done and a time estimate; run nothing"
    )
    r.set_defaults(func=cmd_run)

    sc = sub.add_parser("schema", help="print the JSON Schema of study files (editors complete and check with it)")
    sc.add_argument("--out", help="write it to this file instead")
    sc.set_defaults(func=cli_tools.cmd_schema)

    cl = sub.add_parser("clean", help="remove run folders that are no run of the study (dropped from its grid)")
    cl.add_argument("dir", help="the study's output folder")
    cl.add_argument("--study", help="the study file (default: DIR/study.yaml)")
    cl.add_argument("--yes", action="store_true", help="remove them (without it: only list them)")
    cl.set_defaults(func=cli_tools.cmd_clean)

    rep = sub.add_parser("report", help="re-render a study's report from its saved results")
    rep.add_argument("dir", help="the study's output folder")
    rep.add_argument("--study", help="the study file (default: DIR/study.yaml)")
    rep.set_defaults(func=cmd_report)

    v = sub.add_parser("verify", help="re-execute runs and compare every metric exactly")
    v.add_argument("dir", help="the study's output folder")
    v.add_argument("--sample", type=_positive_int, default=None, help="verify only the first K finished runs")
    v.add_argument("--study", help="the study file (default: DIR/study.yaml)")
    v.set_defaults(func=cmd_verify)

    a = sub.add_parser("approaches", help="list approaches and their parameters")
    a.set_defaults(func=cmd_approaches)

    pop = sub.add_parser("population", help="write a population (parquet) and its datasheet")
    from .params import RUN_SPECS  # light: params imports nothing of the kit

    for option, name in POPULATION_OPTIONS.items():
        spec = RUN_SPECS[name]
        pop.add_argument(
            option,
            dest=name,
            metavar=name.upper(),
            default=None,
            help=f"{spec.doc}; {spec.allowed()} (default {spec.default!r})",
        )
    pop.add_argument("--out", required=True, help="output parquet file; the datasheet goes beside it (.datasheet.md)")
    pop.add_argument(
        "--without-truth",
        action="store_true",
        help="write only the firm's columns (no truth), as a researcher's export: .csv, .parquet or a DuckDB "
        "database (.duckdb/.db, table customers); no datasheet",
    )
    pop.set_defaults(func=cmd_population)

    vp = sub.add_parser("validate-population", help="check a saved population against the data contract")
    vp.add_argument("file", help="a parquet file written by `crmkit population`")
    vp.set_defaults(func=cmd_validate_population)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status is the README's: 0 ok, 1 a run failed or differed,
    2 invalid input (including a folder another crmkit process owns), 3 the environment refused
    (no space, read-only, no permission), 130 interrupted (Ctrl-C; run again to resume)."""
    from .execution.folders import FolderBusy, NotAStudyFolder, StudyInterrupted, WorkerDied, environment_problem

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FolderBusy, NotAStudyFolder) as e:
        print(f"crmkit {args.command}: {e}", file=sys.stderr)
        return 2
    except StudyInterrupted as e:
        print(f"crmkit {args.command}: {e}", file=sys.stderr)
        return 130
    except WorkerDied as e:
        print(f"crmkit {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"crmkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `crmkit ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except Exception as e:
        env = environment_problem(e)
        if env is None:
            raise
        print(f"crmkit {args.command}: {env}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
