"""Sweeps inside one notebook (teaching, quick looks): many in-process runs, one row of metrics each.

`sweep` runs every approach x parameter combination x seed and returns one row per run; the
helpers around it serve the notebooks that call it: `as_list` accepts a list parameter passed as
text (papermill's ``-p seeds "[0, 1]"``), `paired_difference` compares settings within a world
(the same seed), and progress is shown while a sweep runs but never kept in a saved notebook.
"""

from __future__ import annotations

import itertools
import sys
import time

import pandas as pd
import yaml

from ..params import ParameterError
from ..run import run_experiment, validate_run
from .spec import approach_label

MSG_NOT_A_LIST = "expected a list such as [0, 1] (or the same as text, e.g. -p {name} '[0, 1]'), got {value!r}"


def as_list(value, name: str, item_type: type | None = None) -> list:
    """A notebook's list parameter as a list, whether given as a list or as text.

    papermill's ``-p name value`` passes anything that is not a number as a string, so
    ``-p seeds "[0, 1]"`` arrives as the text ``[0, 1]``; YAML (``-y``) and Python callers pass real
    lists. Text is read as YAML (``[0, 1]``) or as comma-separated values (``0, 1``). With
    `item_type`, every item is converted to it (an int where a float is expected is fine).
    Raises ParameterError naming the parameter.
    """
    items = value
    if isinstance(value, str):
        try:
            items = yaml.safe_load(value)
        except yaml.YAMLError:
            items = None
        if not isinstance(items, list):
            items = [yaml.safe_load(part) for part in value.split(",")] if value.strip() else []
    if isinstance(items, tuple):
        items = list(items)
    if not isinstance(items, list) or not items:
        raise ParameterError(name, MSG_NOT_A_LIST.format(name=name, value=value))
    if item_type is None:
        return items
    out = []
    for i, item in enumerate(items):
        ok = isinstance(item, item_type) and not isinstance(item, bool)
        if item_type is float and isinstance(item, int) and not isinstance(item, bool):
            item, ok = float(item), True
        if not ok:
            raise ParameterError(f"{name}[{i}]", f"expected {item_type.__name__}, got {item!r}")
        out.append(item)
    return out


class _Progress:
    """'i/n runs, about s left': in a notebook as one output line updated in place and removed at the
    end (so a saved or rendered notebook keeps none of it), on a terminal as one rewritten line."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.t0, self.handle, self.tty = total, time.perf_counter(), None, False
        if not enabled or not total:
            return
        shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            from IPython.display import display

            self.handle = display({"text/plain": f"0/{total} runs"}, raw=True, display_id=True)
        else:
            self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        left = (time.perf_counter() - self.t0) / done * (self.total - done)
        text = f"{done}/{self.total} runs, about {left:.0f} s left"
        if self.handle is not None:
            self.handle.update({"text/plain": text}, raw=True)
        elif self.tty:
            print(f"\r{text}   ", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
        elif self.tty:
            print(file=sys.stderr)


def _group_columns(tables: dict) -> dict:
    """Older and younger customers' value per customer and offer rate (from the run's by_older table)."""
    t = tables.get("by_older")
    if t is None or t.empty:
        return {}
    out = {}
    for older, name in ((True, "older"), (False, "younger")):
        row = t[t["older"] == older]
        if len(row):
            out[f"value_{name}"] = float(row["value_per_customer"].iloc[0])
            out[f"offer_rate_{name}"] = float(row["offer_rate"].iloc[0])
    return out


def sweep(
    base: dict, vary: dict[str, list], approaches: list, seeds: list[int] = (0,), progress: bool = True
) -> pd.DataFrame:
    """Run every approach x combination of `vary` x seed in-process; one row of metrics per run.

    `approaches` items are names or (name, approach_params) pairs. Every combination is validated
    before the first run, so a typo fails at once. Besides the run's metrics, each row has the value
    per customer and offer rate of older (65+) and younger customers (`value_older`,
    `offer_rate_older`, `value_younger`, `offer_rate_younger`). For studies that must be kept and
    reported, use a study file and `crmkit run` instead: this is for exploring inside a notebook.
    """
    if isinstance(seeds, (str, bytes)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ParameterError("sweep.seeds", f"expected a list of integers >= 0, got {seeds!r}")
    for k, v in vary.items():
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            raise ParameterError(f"sweep.{k}", f"expected a list of values, got {v!r}")
    keys = list(vary)
    plans = []
    for appr in approaches:
        name, ap = (appr, {}) if isinstance(appr, str) else appr
        for combo in itertools.product(*(vary[k] for k in keys)):
            for seed in seeds:
                plans.append(
                    validate_run(
                        {**base, "approach": name, "approach_params": ap, **dict(zip(keys, combo)), "seed": seed},
                        where="sweep",
                    )
                )
    rows = []
    shown = _Progress(len(plans), progress)
    try:
        for i, p in enumerate(plans, 1):
            res = run_experiment(p)
            explicit = tuple(next((a[1] for a in approaches if not isinstance(a, str) and a[0] == p.approach), {}))
            rows.append(
                {
                    "label": approach_label(p.approach, p.approach_params, explicit),
                    "approach": p.approach,
                    **{k: p.values[k] for k in keys},
                    "seed": p.seed,
                    **res.metrics,
                    **_group_columns(res.tables),
                }
            )
            shown.update(i)
    finally:
        shown.close()
    return pd.DataFrame(rows)


def sweep_summary(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean over seeds of `metrics`, one row per `by` combination (aggregates only)."""
    return df.groupby(by, sort=False)[metrics].mean().reset_index()


def paired_difference(runs: pd.DataFrame, metric: str, over: str, reference, within: list[str] = ()) -> pd.Series:
    """Each run's `metric` minus that of the run with `over` == `reference` in the same world.

    The same world is the same seed and the same values of `within` (and the same approach
    setting): the two runs face the same customers, so the difference is what changing `over`
    does, free of the differences between populations. Aligned with `runs`' index.
    """
    keys = ["label", "seed", *within]
    ref = runs[runs[over] == reference].set_index(keys)[metric]
    if ref.index.has_duplicates:
        raise ValueError(
            f"paired_difference: more than one run with {over} = {reference!r} per world; "
            f"add the other varied parameters to `within`"
        )
    matched = runs.join(ref.rename("_reference"), on=keys)["_reference"]
    return runs[metric] - matched
