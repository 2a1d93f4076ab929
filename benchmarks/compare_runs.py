"""Every metric, table and held-out decision of 12 approach settings x 2 seeds, written to a JSON file,
so two versions of the code can be compared bit for bit before a speed-up is believed:

    .venv/bin/python benchmarks/compare_runs.py before.json [N_CUSTOMERS]   # on the old code
    .venv/bin/python benchmarks/compare_runs.py after.json [N_CUSTOMERS]    # on the new code
    .venv/bin/python benchmarks/compare_runs.py --diff before.json after.json
"""

import json
import sys

from kit.run import run_experiment, validate_run

SETTINGS = [
    ("mass", {}),
    ("kmeans", {}),
    ("dp_kmeans", {"epsilon": 1.0}),
    ("kanon", {"k": 10}),
    ("tree", {}),
    ("fair_targeting", {}),
    ("rfm", {}),
    ("gmm", {}),
    ("oracle", {}),
    ("fair_kmeans", {}),
    ("minimised", {}),
    ("unaware", {}),
]
if sys.argv[1] == "--diff":
    a, b = (json.load(open(f)) for f in sys.argv[2:4])
    diffs = [
        (k, part) for k in a for part in ("metrics", "tables", "decisions") if a[k][part] != b.get(k, {}).get(part)
    ]
    for k, part in diffs:
        print("differs:", k, part)
    print(f"{len(a)} runs compared, {len(diffs)} differences")
    sys.exit(1 if diffs else 0)
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
out = {}
for a, ap in SETTINGS:
    for seed in (0, 1):
        r = run_experiment(validate_run({"approach": a, "approach_params": ap, "seed": seed, "n_customers": n}))
        m = {k: (repr(v) if isinstance(v, float) else v) for k, v in r.metrics.items()}
        tabs = {k: t.to_csv() for k, t in r.tables.items() if hasattr(t, "to_csv")}
        dec = r.decisions.to_csv()
        out[f"{a}{ap}{seed}"] = {"metrics": m, "tables": tabs, "decisions": dec}
json.dump(out, open(sys.argv[1], "w"))
print(len(out), "runs")
