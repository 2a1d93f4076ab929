"""One run, end to end: parameters -> population -> segments -> targeting -> measurements.

The experiment notebook calls these steps one by one (so a reader sees the data flow); tests
and benchmarks call `run_experiment`. Seeds: the population is drawn from ``seed`` itself (so
``crmkit population --seed S`` writes the population a run with seed S uses); the segmenter and the
policy's tie-breaks draw from children of ``SeedSequence(seed)`` with spawn keys of their own.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .measures import (
    ATTR_INFERENCE_QI,
    FAIRNESS_ATTRS,
    MIN_CELL,
    attribute_inference,
    ethics_checks,
    fairness_metrics_many,
    fairness_table,
    gain_by_group,
    gain_share,
    group_table,
    membership_inference,
    min_segment_size,
    policy_value,
    reid_rates,
    segment_balance,
    truly_helps,
)
from .params import RunParams
from .records import from_jsonable, jsonable, load_metrics, versions, write_atomic  # noqa: F401 (re-exported)
from .population import Population, make_population
from .segmenters import Segmenter, make_segmenter
from .targeting import Policy, assign_actions, estimate_segment_values

_SEGMENTER_KEY = 101
_POLICY_KEY = 102
_BOOTSTRAP_KEY = 103
_MIA_KEY = 104



def stage_seed(seed: int, key: int) -> np.random.SeedSequence:
    """The seed sequence of one stage of a run (population uses `seed` itself)."""
    return np.random.SeedSequence(seed, spawn_key=(key,))


def stage_int(seed: int, key: int) -> int:
    """An integer random_state for scikit-learn, drawn from the stage's seed sequence."""
    return int(stage_seed(seed, key).generate_state(1)[0])


@dataclass
class RunResult:
    """Everything a run computed: what the notebook shows and what gets saved."""

    params: RunParams
    population: Population
    segmenter: Segmenter
    segment_values: pd.DataFrame
    decisions: pd.DataFrame
    metrics: dict
    tables: dict = field(default_factory=dict)


def build_population(params: RunParams) -> Population:
    """Generate the run's population from its knobs and seed."""
    return make_population(**params.population_knobs(), random_state=params.seed)


def fit_segmenter(params: RunParams, population: Population) -> Segmenter:
    """Fit the run's approach on the campaign customers."""
    seg = make_segmenter(params.approach, random_state=stage_int(params.seed, _SEGMENTER_KEY), **params.approach_params)
    return seg.fit(population.history)


def target(params: RunParams, population: Population, seg: Segmenter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimate segment values on the campaign, then choose actions for the held-out customers."""
    policy = Policy(budget=params.budget, older_contact_cap=params.older_contact_cap, min_obs=params.min_obs)
    history, holdout = population.history, population.holdout
    seg_values = estimate_segment_values(history, seg.labels_, seg.n_segments_, policy.min_obs, seg.mass_segments_)
    direct = seg.customer_values(holdout)
    labels = seg.predict(holdout)
    values = direct if direct is not None else seg_values[list(seg_values.columns[:4])].to_numpy()[labels]
    rng = np.random.default_rng(stage_seed(params.seed, _POLICY_KEY))
    decisions = assign_actions(values, holdout, policy, rng)
    decisions = seg.postprocess_decisions(decisions, values, holdout, policy, rng)
    decisions.insert(0, "segment", labels)
    return seg_values, decisions


def reference_decisions(params: RunParams, population: Population, decisions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Held-out decisions of the run and of the two reference points (mass, oracle), under the same
    policy settings and seed; the run's own decisions stand in for a reference it is itself."""
    refs = {"policy": decisions}
    for ref in ("mass", "oracle"):
        if ref == params.approach:
            refs[ref] = decisions
            continue
        ref_params = RunParams(approach=ref, approach_params={}, values=params.values)
        ref_seg = fit_segmenter(ref_params, population)
        refs[ref] = target(ref_params, population, ref_seg)[1]
    return refs


def measure(params: RunParams, population: Population, seg: Segmenter, decisions: pd.DataFrame) -> tuple[dict, dict]:
    """All metrics of the run (a flat dict; names as in the README's measurements table) and its
    tables (per-group views, no cell under MIN_CELL customers). Deterministic for a given seed."""
    history, holdout = population.history, population.holdout
    refs = reference_decisions(params, population, decisions)
    actions = {k: d["action"].cat.codes.to_numpy() for k, d in refs.items()}
    v_pol, v_mass, v_orc = (policy_value(holdout, actions[k]) for k in ("policy", "mass", "oracle"))
    gain_table = gain_by_group(
        holdout, actions, np.random.default_rng(stage_seed(params.seed, _BOOTSTRAP_KEY)), min_cell=MIN_CELL
    )
    overall = gain_table.set_index("grouping").loc["all"] if (gain_table["grouping"] == "all").any() else {}
    labels = decisions["segment"].to_numpy()
    helps = truly_helps(holdout)
    offered = decisions["offered"].to_numpy()
    groups = {attr: (holdout[col] == unpriv).to_numpy() for attr, (col, unpriv) in FAIRNESS_ATTRS.items()}
    fair = fairness_metrics_many(offered, helps, groups)
    metrics = {
        "value_policy": v_pol,
        "value_mass": v_mass,
        "value_oracle": v_orc,
        "gain_share": gain_share(v_pol, v_mass, v_orc),
        "gain_share_lo": float(overall.get("gain_share_lo", math.nan)),
        "gain_share_hi": float(overall.get("gain_share_hi", math.nan)),
        "offer_rate": float(offered.mean()),
        "epsilon": seg.epsilon_,
        "n_released_segments": int(seg.n_segments_),
        "min_segment_size": min_segment_size(seg.release_["profiles"]["size"]),
        **reid_rates(holdout, labels),
        **membership_inference(
            seg.release_, history, holdout, np.random.default_rng(stage_seed(params.seed, _MIA_KEY))
        ),
    }
    for attr, (col, positive) in FAIRNESS_ATTRS.items():
        ai = attribute_inference(history, seg.labels_, holdout, labels, col, positive, ATTR_INFERENCE_QI[attr])
        to_lift = (lambda r: (r - ai["r_base"]) / (1 - ai["r_base"])) if ai["r_base"] < 1 else (lambda r: math.nan)
        metrics.update(
            {
                f"attr_inference_lift_{attr}": ai["lift"],
                f"attr_inference_lift_{attr}_lo": to_lift(ai["r_attack_lo"]),
                f"attr_inference_lift_{attr}_hi": to_lift(ai["r_attack_hi"]),
                f"attr_inference_r_attack_{attr}": ai["r_attack"],
                f"attr_inference_r_base_{attr}": ai["r_base"],
            }
        )
    metrics.update(fair)
    metrics.update({f"balance_{attr}": segment_balance(labels, mask) for attr, mask in groups.items()})
    metrics.update(
        ethics_checks(
            holdout,
            decisions,
            seg.profiled(holdout),
            seg.descriptions_,
            seg.n_segments_,
            params.older_contact_cap,
            fair,
        )
    )
    tables = {
        "by_age_band_gender": group_table(holdout, decisions, ["age_band", "gender"], min_cell=MIN_CELL),
        "by_older": group_table(holdout, decisions, ["older"], min_cell=MIN_CELL),
        "gain_by_group": gain_table,
        "fairness_by_age_band_gender": fairness_table(holdout, decisions, ["age_band", "gender"], min_cell=MIN_CELL),
    }
    return metrics, tables


def run_experiment(params: RunParams) -> RunResult:
    """Run the whole path for validated parameters."""
    pop = build_population(params)
    seg = fit_segmenter(params, pop)
    seg_values, decisions = target(params, pop, seg)
    metrics, tables = measure(params, pop, seg, decisions)
    return RunResult(params, pop, seg, seg_values, decisions, metrics, tables)


# --- Saving ---------------------------------------------------------------------------------


def save_run(result: RunResult, out_dir: str | Path) -> Path:
    """Write metrics.json (metrics, parameters, versions, fingerprint) and decisions.parquet.

    decisions.parquet holds the held-out decisions so anyone can recompute the fairness numbers;
    reports never show it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    holdout = result.population.holdout
    dec = pd.DataFrame(
        {
            "customer_id": holdout["customer_id"].to_numpy(),
            "older": holdout["older"].to_numpy(),
            "gender": holdout["gender"].astype(str).to_numpy(),
            "segment": result.decisions["segment"].to_numpy(),
            "action": result.decisions["action"].astype(str).to_numpy(),
            "offered": result.decisions["offered"].to_numpy(),
            "helps": truly_helps(holdout),
        }
    )
    import io

    buf = io.BytesIO()
    dec.to_parquet(buf, index=False)
    write_atomic(out / "decisions.parquet", buf.getvalue())
    record = {
        "metrics": jsonable(result.metrics),
        "params": jsonable(result.params.as_dict()),
        "population_fingerprint": result.population.fingerprint(),
        "versions": versions(),
        "segments": jsonable({int(k): v for k, v in result.segmenter.descriptions_.items()}),
    }
    for name, table in result.tables.items():  # aggregates only; the study report reads these
        write_atomic(out / "tables" / f"{name}.csv", table.to_csv(index=False).encode())
    write_atomic(out / "metrics.json", json.dumps(record, indent=2, sort_keys=True).encode())
    return out / "metrics.json"


# --- Tables the notebook shows (aggregates only) --------------------------------------------


def population_summary(population: Population) -> pd.DataFrame:
    """Group sizes and rates of the campaign and held-out sets: no customer rows."""
    c = population.customers
    rows = []
    for name, part in (("campaign", population.history), ("held-out", population.holdout), ("all", c)):
        rows.append(
            {
                "set": name,
                "customers": len(part),
                "older (65+) share": part["older"].mean(),
                "female share": (part["gender"] == "female").mean(),
                "profiling consent": part["profiling_consent"].mean(),
                "marketing consent": part["marketing_consent"].mean(),
                "mean contacts (90 d)": part["contacts_90d"].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("set").round(3)


def segment_table(seg: Segmenter) -> pd.DataFrame:
    """Each segment's size in the campaign and its plain-language description."""
    sizes = seg.release_["profiles"]["size"]
    return pd.DataFrame(
        {
            "customers (campaign)": [int(sizes.get(s, 0)) for s in range(seg.n_segments_)],
            "description": [seg.descriptions_.get(s, "") for s in range(seg.n_segments_)],
        },
        index=pd.RangeIndex(seg.n_segments_, name="segment"),
    )


def metrics_table(metrics: dict) -> pd.DataFrame:
    """The run's metrics as a two-column table, rounded for reading."""
    return pd.DataFrame(
        {"value": [round(v, 4) if isinstance(v, float) else v for v in metrics.values()]},
        index=pd.Index(list(metrics), name="metric"),
    )


# --- Sweeps inside one notebook (teaching, quick looks) -------------------------------------


def sweep(base: dict, vary: dict[str, list], approaches: list, seeds: list[int] = (0,), progress: bool = True) -> pd.DataFrame:
    """Run every approach x combination of `vary` x seed in-process; one row of metrics per run.

    `approaches` items are names or (name, approach_params) pairs. Every combination is validated
    before the first run, so a typo fails at once. For studies that must be kept and reported,
    use a study file and `crmkit run` instead: this is for exploring inside a notebook.
    """
    import itertools
    import sys
    import time

    from .params import ParameterError, validate_run
    from .study import approach_label

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
                plans.append(validate_run({**base, "approach": name, "approach_params": ap, **dict(zip(keys, combo)),
                                           "seed": seed}, where="sweep"))
    rows = []
    t0 = time.perf_counter()
    for i, p in enumerate(plans, 1):
        res = run_experiment(p)
        explicit = tuple(next((a[1] for a in approaches if not isinstance(a, str) and a[0] == p.approach), {}))
        rows.append({"label": approach_label(p.approach, p.approach_params, explicit), "approach": p.approach,
                     **{k: p.values[k] for k in keys}, "seed": p.seed, **res.metrics})
        if progress:
            left = (time.perf_counter() - t0) / i * (len(plans) - i)
            print(f"\r{i}/{len(plans)} runs, about {left:.0f} s left   ", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return pd.DataFrame(rows)


def sweep_summary(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean over seeds of `metrics`, one row per `by` combination (aggregates only)."""
    return df.groupby(by, sort=False)[metrics].mean().reset_index()
