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
    ethics_checks,
    fairness_metrics,
    FAIRNESS_ATTRS,
    gain_share,
    group_table,
    min_segment_size,
    policy_value,
    truly_helps,
)
from .params import RunParams
from .population import Population, make_population
from .segmenters import Segmenter, make_segmenter
from .targeting import Policy, assign_actions, estimate_segment_values

_SEGMENTER_KEY = 101
_POLICY_KEY = 102

# Packages whose versions every result records.
RECORDED_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "aif360", "papermill", "matplotlib", "pyarrow")


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


def measure(params: RunParams, population: Population, seg: Segmenter, decisions: pd.DataFrame) -> tuple[dict, dict]:
    """All metrics of the run (a flat dict) and its tables (per-group views)."""
    holdout = population.holdout
    refs = {}
    for ref in ("mass", "oracle"):
        if ref == params.approach:
            refs[ref] = decisions
            continue
        ref_params = RunParams(approach=ref, approach_params={}, values=params.values)
        ref_seg = fit_segmenter(ref_params, population)
        refs[ref] = target(ref_params, population, ref_seg)[1]
    act = decisions["action"].cat.codes.to_numpy()
    v_pol = policy_value(holdout, act)
    v_mass = policy_value(holdout, refs["mass"]["action"].cat.codes.to_numpy())
    v_orc = policy_value(holdout, refs["oracle"]["action"].cat.codes.to_numpy())
    helps = truly_helps(holdout)
    offered = decisions["offered"].to_numpy()
    fair = {}
    for attr, (col, unpriv_value) in FAIRNESS_ATTRS.items():
        fair.update(fairness_metrics(offered, helps, (holdout[col] == unpriv_value).to_numpy(), attr))
    sizes = seg.release_["profiles"]["size"]
    metrics = {
        "value_policy": v_pol,
        "value_mass": v_mass,
        "value_oracle": v_orc,
        "gain_share": gain_share(v_pol, v_mass, v_orc),
        "offer_rate": float(offered.mean()),
        "epsilon": seg.epsilon_,
        "n_released_segments": int(seg.n_segments_),
        "min_segment_size": min_segment_size(sizes),
        **fair,
    }
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
        "by_age_band_gender": group_table(holdout, decisions, ["age_band", "gender"]),
        "by_older": group_table(holdout, decisions, ["older"]),
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


def jsonable(value):
    """JSON-safe copy: inf -> "inf", nan -> None, numpy scalars -> Python scalars."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def from_jsonable(value):
    """Inverse of `jsonable` for metric values: "inf" -> inf, None -> nan."""
    if isinstance(value, dict):
        return {k: from_jsonable(v) for k, v in value.items()}
    if value is None:
        return math.nan
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside the target, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def versions() -> dict:
    """Python, the kit and the recorded packages' versions."""
    out = {"python": platform.python_version(), "crm-ethics-kit": __version__}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


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
    write_atomic(out / "metrics.json", json.dumps(record, indent=2, sort_keys=True).encode())
    return out / "metrics.json"


def load_metrics(path: str | Path) -> dict:
    """Read a run's metrics.json back, with inf and nan restored."""
    rec = json.loads(Path(path).read_text())
    rec["metrics"] = from_jsonable(rec["metrics"])
    return rec


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
