"""How long do all measurements of a run take on 1,000,000 held-out customers? (goal: <= 15 s)

Builds a population of 2,010,000 customers with half in the historical campaign (so at least
1,000,000 are held out), fits k-means and targets, then times `kit.pipeline.measure` (which
also fits and targets the mass and oracle reference points): median of 3 runs, then one more run
under tracemalloc for the peak memory it allocates, and a one-shot breakdown by stage.

    .venv/bin/python benchmarks/bench_measures.py [--customers N] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

from kit.measures import (
    ATTR_INFERENCE_QI,
    FAIRNESS_ATTRS,
    MIN_CELL,
    attribute_inference,
    audience_privacy,
    fairness_metrics_many,
    fairness_table,
    gain_by_group,
    group_table,
    offer_beneficial,
    segment_balance,
    truly_helps,
)
from kit.run import pipeline, validate_run

GOAL_S = 15.0


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def same(a: dict, b: dict) -> bool:
    """Equal bit for bit, nan equal to nan."""
    return a.keys() == b.keys() and all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values()))


def stage_breakdown(params, pop, seg, decisions) -> list[tuple[str, float]]:
    """Time each part of `measure` once, in the order `measure` runs them."""
    hist, hold = pop.history, pop.holdout
    rows = []
    t, refs = timed(pipeline.reference_decisions, params, pop, decisions)
    rows.append(("reference policies (mass, oracle: fit + target)", t))
    actions = {k: d["action"].cat.codes.to_numpy() for k, d in refs.items()}
    t, _ = timed(gain_by_group, hold, actions, np.random.default_rng(0), min_cell=MIN_CELL)
    rows.append(("gain by group + bootstrap (200 resamples)", t))
    labels = decisions["segment"].to_numpy()
    groups = {a: (hold[c] == u).to_numpy() for a, (c, u) in FAIRNESS_ATTRS.items()}
    hit = offer_beneficial(hold, actions["policy"])
    args = (decisions["offered"].to_numpy(), hit, truly_helps(hold), groups, decisions["eligible"].to_numpy())
    t, _ = timed(fairness_metrics_many, *args)
    rows.append(("aif360 spd/di/eod/aod among the eligible, older + gender", t))
    released = decisions[[c for c in decisions.columns if c.startswith("released_")]]
    t, _ = timed(audience_privacy, released, labels)
    rows.append(("audience file: re-identification, smallest class", t))
    t, _ = timed(pipeline.membership, params, pop, seg)
    rows.append((f"membership: canary audit ({2 * params.audit_trials} fits) + tracing", t))
    t0 = time.perf_counter()
    for attr, (col, pos) in FAIRNESS_ATTRS.items():
        attribute_inference(hist, seg.labels_, hold, labels, col, pos, ATTR_INFERENCE_QI[attr])
    rows.append(("attribute inference, older + gender", time.perf_counter() - t0))
    t0 = time.perf_counter()
    for mask in groups.values():
        segment_balance(labels, mask)
    rows.append(("segment balance", time.perf_counter() - t0))
    t0 = time.perf_counter()
    group_table(hold, decisions, ["age_band", "gender"], min_cell=MIN_CELL)
    group_table(hold, decisions, ["older"], min_cell=MIN_CELL)
    fairness_table(hold, decisions, ["age_band", "gender"], min_cell=MIN_CELL)
    rows.append(("group tables", time.perf_counter() - t0))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=2_010_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    params = validate_run({"approach": "kmeans", "n_customers": args.customers, "history_share": 0.5, "seed": 0})
    t_pop, pop = timed(pipeline.build_population, params)
    t_fit, seg = timed(pipeline.fit_segmenter, params, pop)
    t_tgt, (_, decisions) = timed(pipeline.target, params, pop, seg)
    n_hold = len(pop.holdout)
    print(
        f"population {len(pop.customers):,} customers ({n_hold:,} held out): {t_pop:.1f} s; "
        f"kmeans fit {t_fit:.1f} s; targeting {t_tgt:.1f} s",
        flush=True,
    )

    times, runs = [], []
    for _ in range(args.repeats):
        t, (metrics, _) = timed(pipeline.measure, params, pop, seg, decisions)
        times.append(t)
        runs.append(metrics)
    identical = all(same(m, runs[0]) for m in runs[1:])
    tracemalloc.start()
    pipeline.measure(params, pop, seg, decisions)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    load = os.getloadavg()[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print()
    print("| what | figure |")
    print("|---|---|")
    print(f"| held-out customers | {n_hold:,} |")
    print(f"| load average (1 min) at the end; {os.cpu_count()} CPUs | {load:.1f} |")
    print(
        f"| measure(): median of {args.repeats} | {statistics.median(times):.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}) |"
    )
    print(f"| goal | <= {GOAL_S:.0f} s: {'met' if statistics.median(times) <= GOAL_S else 'NOT met'} |")
    print(f"| measure(): peak memory allocated (tracemalloc) | {peak / 2**20:,.0f} MiB |")
    print(f"| process peak RSS (population included) | {rss:,.0f} MiB |")
    print(f"| metrics equal bit for bit across repeats | {identical} |")
    print()
    print("| stage (one run) | seconds |")
    print("|---|---|")
    rows = stage_breakdown(params, pop, seg, decisions)
    for name, t in rows:
        print(f"| {name} | {t:.2f} |")
    print(f"| sum of stages | {sum(t for _, t in rows):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
