"""Fairness and gain over many worlds, in-process: the numbers behind issue 13's definitions.

Each seed is a world. For every world it builds the population once, fits each setting, targets,
and computes gain share and the fairness metrics exactly as `kit.run.pipeline.measure` does (not the
privacy attacks, which are slow and not needed here); then prints, per setting, the mean and range
over worlds, the four-fifths failures, and paired differences from a reference (Student-t 95%).

    .venv/bin/python benchmarks/fairness_worlds.py --worlds 40             # the default study's settings
    .venv/bin/python benchmarks/fairness_worlds.py --worlds 20 --sweep     # proxy strength x label bias
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from kit.measures import (
    FAIRNESS_ATTRS,
    INTERSECTION,
    MIN_CELL,
    cap_excluded_share,
    fairness_metrics_many,
    gain_share,
    intersection_metrics,
    offer_beneficial,
    passes_four_fifths,
    policy_value,
    segment_balance,
    truly_helps,
)
from kit.report.comparisons import paired_differences
from kit.run import build_population, fit_segmenter, target, validate_run

DEFAULT_SETTINGS = [
    ("mass", {}),
    ("kmeans", {"n_clusters": 6}),
    ("kmeans", {"n_clusters": 8}),
    ("unaware", {}),
    ("gmm", {}),
    ("tree", {}),
    ("fair_kmeans", {}),
    ("fair_targeting", {}),
]
BASE = {"n_customers": 20_000, "proxy_strength": 0.5, "older_fatigue": 0.3, "older_contact_cap": 3}
SHOWN = ["gain_share", "di_older", "di_older_all", "eod_older", "di_gender", "di_age_gender", "balance_older"]


def world_rows(base: dict, settings, seed: int) -> list[dict]:
    """One row per setting in one world: gain share and the fairness metrics."""
    rows, values, pop = [], {}, None
    for approach, ap in [("oracle", {}), *settings]:
        p = validate_run({**base, "approach": approach, "approach_params": ap, "seed": seed})
        pop = pop or build_population(p)
        seg = fit_segmenter(p, pop)
        dec = target(p, pop, seg)[1]
        hold = pop.holdout
        acts = dec["action"].cat.codes.to_numpy()
        values[approach, tuple(ap.items())] = policy_value(hold, acts)
        offered, eligible = dec["offered"].to_numpy(), dec["eligible"].to_numpy()
        hit, helps = offer_beneficial(hold, acts), truly_helps(hold)
        groups = {a: (hold[c] == u).to_numpy() for a, (c, u) in FAIRNESS_ATTRS.items()}
        m = fairness_metrics_many(offered, hit, helps, groups, eligible)
        cells = hold[list(INTERSECTION)].astype(str).agg(" / ".join, axis=1).to_numpy()
        m.update(intersection_metrics(cells, offered, hit, helps, eligible, min_cell=MIN_CELL))
        older = groups["older"]
        m["di_older_all"] = offered[older].mean() / offered[~older].mean()
        m["cap_excluded_older"] = cap_excluded_share(older, hold["contacts_90d"].to_numpy(), p.older_contact_cap)
        m["harmful_offer_share"] = float((offered & ~hit).sum() / max(offered.sum(), 1))
        m["balance_older"] = segment_balance(dec["segment"].to_numpy(), older)
        label = approach + (f"({', '.join(f'{k}={v}' for k, v in ap.items())})" if ap else "")
        rows.append({"label": label, "seed": seed, "status": "ok", "_key": (approach, tuple(ap.items())), **m})
    v_mass, v_orc = values["mass", ()], values["oracle", ()]
    for r in rows:
        r["gain_share"] = gain_share(values[r.pop("_key")], v_mass, v_orc)
    return [r for r in rows if r["label"] != "oracle"]


def report(df: pd.DataFrame, reference: str, conditions=()) -> None:
    """Print levels over worlds, four-fifths failures and paired differences from `reference`."""
    by = [*conditions, "label"]
    print(df.groupby(by, sort=False)[SHOWN].agg(["mean", "min", "max"]).round(3).to_string())
    fails = df.assign(ff=[not passes_four_fifths(v) for v in df["di_older"]])
    print("\nfour-fifths fails (older, among the eligible), worlds:")
    print(fails.groupby(by, sort=False)["ff"].sum().to_string())
    mass = df[df["label"] == "mass"]
    if not mass.empty:
        ok = (1 - mass["di_older"]).abs() <= 0.05
        print(f"\nmass |1 - di_older| <= 0.05 in {ok.sum()} of {len(ok)} worlds")
    comps = paired_differences(df, reference, SHOWN, conditions=list(conditions))
    print(f"\npaired differences from {reference} (Student-t 95%):")
    print(comps[comps["setting"] != reference].round(3).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worlds", type=int, default=40)
    ap.add_argument("--sweep", action="store_true", help="proxy strength x label bias, reference mass")
    ap.add_argument("--csv", help="also write every world's rows here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    if args.sweep:
        settings = [("mass", {}), ("kmeans", {}), ("unaware", {}), ("fair_targeting", {})]
        for ps in (0.0, 0.5, 1.0):
            for lb in (0.0, 0.6):
                base = {**BASE, "proxy_strength": ps, "label_bias": lb}
                for seed in range(args.worlds):
                    rows += [{"proxy_strength": ps, "label_bias": lb, **r} for r in world_rows(base, settings, seed)]
        df = pd.DataFrame(rows)
        df["unfairness_older"] = (1 - df["di_older"]).abs()
        df["unfairness_gender"] = (1 - df["di_gender"]).abs()
        SHOWN.extend(["unfairness_older", "unfairness_gender"])
        report(df, "mass", conditions=("proxy_strength", "label_bias"))
    else:
        for seed in range(args.worlds):
            rows += world_rows(BASE, DEFAULT_SETTINGS, seed)
        df = pd.DataFrame(rows)
        report(df, "kmeans(n_clusters=6)")
    if args.csv:
        df.to_csv(args.csv, index=False)
    print(f"\n{args.worlds} worlds in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
