"""Accuracy of the off-policy estimates against the generator's truth, over the default study's runs.

For every approach setting of `studies/default.yaml` and every seed (world), the run's policy, mass and
the oracle are fitted and decide for the held-out customers exactly as in a run; their true values
(`value_policy`, ...) are compared with the cross-fitted off-policy estimates from the campaign log
(`kit.run.pipeline.off_policy`, the same code every run uses). Printed: coverage of the 95% intervals
of DR (`value_policy_ope`), IPS and SNIPS, bias and RMSE, overall and for the gain over mass; also
against the *cross-fitted* policies' own true value on the logged customers, which separates the
estimator's error from the gap between the per-fold policies and the deployed one.

    .venv/bin/python benchmarks/ope_coverage.py              # the default study's 3 seeds (51 runs)
    .venv/bin/python benchmarks/ope_coverage.py --seeds 20   # 20 worlds (340 runs, ~10 min on 2 cores)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kit.measures import policy_value  # noqa: E402
from kit.population import true_net_values  # noqa: E402
from kit.run import validate_run  # noqa: E402
from kit.run.pipeline import (  # noqa: E402
    build_population,
    fit_segmenter,
    off_policy,
    reference_decisions,
    target,
)
from kit.study import load_study  # noqa: E402

ESTIMATES = {"DR (value_policy_ope)": "value_policy_ope", "IPS": "value_policy_ips", "SNIPS": "value_policy_snips"}


def one_run(params) -> dict:
    pop = build_population(params)
    seg = fit_segmenter(params, pop)
    decisions = target(params, pop, seg)[1]
    segs = {"policy": seg}
    refs = reference_decisions(params, pop, decisions, segs)
    for ref in ("mass", "oracle"):
        segs.setdefault(ref, seg)
    true = {k: policy_value(pop.holdout, d["action"].cat.codes.to_numpy()) for k, d in refs.items()}
    terms: dict = {}
    ope = off_policy(params, pop, segs, terms)
    nv = true_net_values(pop.history)
    rows = np.arange(len(nv))
    crossfit_true = {f"crossfit_true_{k}": float(nv[rows, t["target"]].mean()) for k, t in terms.items()}
    return {**{f"true_{k}": v for k, v in true.items()}, **crossfit_true, **ope}


def coverage(d: pd.DataFrame, key: str, truth: pd.Series) -> dict:
    hit = (d[f"{key}_lo"] <= truth) & (truth <= d[f"{key}_hi"])
    err = d[key] - truth
    by_world = hit.groupby(d["seed"]).mean()
    return {
        "coverage": f"{hit.mean():.3f}",
        "worst world": f"{by_world.min():.2f}",
        "bias": f"{err.mean():+.3f}",
        "rmse": f"{np.sqrt((err**2).mean()):.3f}",
        "mean width": f"{(d[f'{key}_hi'] - d[f'{key}_lo']).mean():.3f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="worlds 0..N-1 (default: the study's own seeds)")
    ap.add_argument("--out", default=None, help="also write every run's numbers to this CSV")
    args = ap.parse_args()
    study = load_study(ROOT / "studies" / "default.yaml", project_root=ROOT)
    seeds = sorted({r.params["seed"] for r in study.runs}) if args.seeds is None else list(range(args.seeds))
    settings = {r.label: r.params for r in study.runs}
    rows = []
    for seed in seeds:
        for label, params in settings.items():
            p = validate_run({**{k: v for k, v in params.items() if k != "seed"}, "seed": seed})
            rows.append({"label": label, "seed": seed, **one_run(p)})
        print(f"world {seed}: {len(rows)} runs", file=sys.stderr, flush=True)
    d = pd.DataFrame(rows)
    if args.out:
        d.to_csv(args.out, index=False)
    print(
        f"{len(d)} runs ({len(settings)} settings x {len(seeds)} worlds), 95% intervals against the true value_policy:"
    )
    for name, key in ESTIMATES.items():
        print(f"  {name:22s}", coverage(d, key, d["true_policy"]))
    print("  gain over mass (gain_ope)", coverage(d, "gain_ope", d["true_policy"] - d["true_mass"]))
    print("against the cross-fitted policies' own true value on the logged customers (the exact estimand):")
    for name, key in ESTIMATES.items():
        print(f"  {name:22s}", coverage(d, key, d["crossfit_true_policy"]))
    gap = d["crossfit_true_policy"] - d["true_policy"]
    print(f"cross-fitted policies minus deployed (true values): mean {gap.mean():+.3f}, sd {gap.std():.3f}")


if __name__ == "__main__":
    main()
