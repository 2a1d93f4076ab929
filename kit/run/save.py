"""Saving a run: metrics.json (metrics, parameters, versions, fingerprint), tables and decisions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from ..measures import offer_beneficial, truly_helps
from ..records import jsonable, versions, write_atomic
from ..sources import DataTable
from .pipeline import RunResult
from .timing import run_timings
from .truthless import TRUTH_ONLY


def save_run(result: RunResult, out_dir: str | Path) -> Path:
    """Write metrics.json (metrics, parameters, versions, fingerprint) and decisions.parquet.

    decisions.parquet holds the held-out decisions so anyone can recompute the fairness numbers:
    `eligible` (the policy may contact the customer), `offered`, `beneficial` (offered an action that
    truly beats no contact: a hit) and `helps` (some action truly beats no contact); reports never
    show it. timings.json holds the seconds the run spent in each stage (`kit.run.timing`);
    it is kept apart so that metrics.json stays identical, byte for byte, across reruns. Files are
    written atomically but not fsynced one by one (see `write_atomic`).
    """
    timings = run_timings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    holdout = result.population.holdout
    table = result.population if isinstance(result.population, DataTable) else None
    protected = {
        c: holdout[c].to_numpy() if holdout[c].dtype == bool else holdout[c].astype(str).to_numpy()
        for c in (table.spec.protected if table else ("older", "gender"))
    }
    dec = pd.DataFrame(
        {
            "customer_id": holdout["customer_id"].to_numpy(),
            **protected,
            "segment": result.decisions["segment"].to_numpy(),
            "action": result.decisions["action"].astype(str).to_numpy(),
            "eligible": result.decisions["eligible"].to_numpy(),
            "offered": result.decisions["offered"].to_numpy(),
            **(
                {}
                if table
                else {
                    "beneficial": offer_beneficial(holdout, result.decisions["action"].cat.codes.to_numpy()),
                    "helps": truly_helps(holdout),
                }
            ),
        }
    )
    buf = io.BytesIO()
    dec.to_parquet(buf, index=False)
    write_atomic(out / "decisions.parquet", buf.getvalue(), sync=False)
    record = {
        "metrics": jsonable(result.metrics),
        "params": jsonable(result.params.as_dict()),
        "population_fingerprint": result.population.fingerprint(),
        "versions": versions(),
        "segments": jsonable({int(k): v for k, v in result.segmenter.descriptions_.items()}),
    }
    if table is not None:  # provenance of a customer table: where it came from and its fingerprint, never rows
        record["data_source"] = {
            **table.spec.as_dict(),
            "fingerprint": table.fingerprint(),
            "customers": len(table.customers),
            "campaign_customers": len(table.history),
        }
        record["absent_metrics"] = dict(TRUTH_ONLY)
    for name, table in result.tables.items():  # aggregates only; the study report reads these
        write_atomic(out / "tables" / f"{name}.csv", table.to_csv(index=False).encode(), sync=False)
    write_atomic(out / "metrics.json", json.dumps(record, indent=2, sort_keys=True).encode(), sync=False)
    write_atomic(out / "timings.json", json.dumps(timings, indent=2, sort_keys=True).encode(), sync=False)
    return out / "metrics.json"
