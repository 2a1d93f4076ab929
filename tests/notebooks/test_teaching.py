"""The teaching notebooks: they run under papermill with small parameters (lists given as text, as
``papermill -p`` passes them), document every parameter, keep no progress output and no customer
rows, have an answer key each, and each lesson's claim holds at the notebook's own parameters
(with fewer customers, to stay fast)."""

import ast
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from kit.study.sweep import paired_difference, sweep

pytestmark = pytest.mark.slow  # each test executes a notebook through papermill

ROOT = Path(__file__).resolve().parents[2]
TEACHING = sorted((ROOT / "notebooks" / "teaching").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "teaching" / "solutions").glob("*.ipynb"))
LESSON_N = 4_000  # customers per population in the lesson tests (the notebooks use more)


def parameters_of(path: Path) -> dict:
    """The defaults assigned in a notebook's `parameters` cell, evaluated."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    out = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            out[target.id] = ast.literal_eval(node.value)
    return out


def test_teaching_notebooks_numbered_each_with_an_answer_key():
    assert [p.name[:2] for p in TEACHING] == [f"{i:02d}" for i in range(1, len(TEACHING) + 1)]
    assert len(TEACHING) >= 5
    keys = {p.stem + "_solutions.ipynb" for p in TEACHING}
    assert {p.name for p in SOLUTIONS} <= keys
    assert {
        "01_consent_and_minimisation_solutions.ipynb",
        "02_proxies_solutions.ipynb",
        "03_what_profiles_reveal_solutions.ipynb",
        "04_fatigue_and_older_customers_solutions.ipynb",
        "05_retention_purpose_and_notices_solutions.ipynb",
        "06_trust_over_time_solutions.ipynb",
    } <= {p.name for p in SOLUTIONS}


@pytest.mark.parametrize("path", TEACHING + SOLUTIONS, ids=lambda p: p.stem)
def test_every_parameter_is_visible_to_papermill(path):
    inferred = pm.inspect_notebook(str(path))
    assert set(inferred) == set(parameters_of(path))
    assert all(p["help"] for p in inferred.values()), "each parameter needs a comment saying what it is"


@pytest.mark.slow
@pytest.mark.parametrize("path", TEACHING + SOLUTIONS, ids=lambda p: p.stem)
def test_teaching_notebook_runs_small(path, tmp_path):
    out = tmp_path / path.name
    pm.execute_notebook(
        str(path),
        str(out),
        parameters={"n_customers": 2500, "seeds": "[0]"},  # a list as text, as `papermill -p` passes it
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert "error" not in {o.output_type for o in outputs}
    assert not [o for o in outputs if o.output_type == "stream" and o.get("name") == "stderr"], "no progress kept"
    text = " ".join(
        str(o.get("text", ""))
        + str(o.get("data", {}).get("text/plain", ""))
        + str(o.get("data", {}).get("text/html", ""))
        for o in outputs
    )
    assert "runs, about" not in text  # the progress line is removed when the sweep ends
    assert "<matplotlib." not in text  # no stray object reprs under a plot
    assert "customer_id" not in text and not re.search(r"C\d{10}", text)  # aggregates only: no ids
    if path in TEACHING:
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
        md = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "## Questions" in md and "## Exercises" in md


def _notebook(prefix: str) -> Path:
    return next(p for p in TEACHING if p.name.startswith(prefix))


@pytest.mark.slow
def test_lesson_1_consent_costs_gain_that_ignoring_it_buys_with_violations():
    """Notebook 1's claim, paired by world at its consent rates and seeds: respecting consent, kmeans's
    gain share is higher at the highest consent rate than at the lowest in every world; ignoring
    consent earns more than respecting it at the lowest rate in every world, and only it profiles
    customers without consent."""
    p = parameters_of(_notebook("01"))
    lo, hi = min(p["consent_rates"]), max(p["consent_rates"])
    runs = sweep(
        {"n_customers": LESSON_N, "audit_trials": 0},
        {"consent_rate": [lo, hi], "respect_consent": [True, False]},
        ["kmeans"],
        seeds=p["seeds"],
        progress=False,
    )
    gain = runs.pivot_table(index="seed", columns=["respect_consent", "consent_rate"], values="gain_share")
    assert (gain[True, hi] > gain[True, lo]).all()
    assert (gain[False, lo] > gain[True, lo]).all()
    violations = runs.groupby("respect_consent")["consent_violations"].min()
    assert violations[True] == 0 and runs.loc[~runs["respect_consent"], "consent_violations"].gt(0).all()


@pytest.mark.slow
def test_lesson_3_the_audit_bounds_what_releases_reveal():
    """Notebook 3's claims at its parameters: the audit proves its ceiling about every exact release
    and never more than epsilon about dp_kmeans; kanon leaves nobody unique in the audience file while
    kmeans(n_clusters=20) leaves over a third; the largest epsilon keeps more gain than the smallest
    on average over worlds."""
    p = parameters_of(_notebook("03"))
    eps = [min(p["epsilons"]), max(p["epsilons"])]
    approaches = [("dp_kmeans", {"epsilon": e}) for e in eps] + [("kmeans", {"n_clusters": 20}), ("kanon", {"k": 10})]
    runs = sweep(
        {"n_customers": LESSON_N, "audit_trials": p["audit_trials"]}, {}, approaches, seeds=p["seeds"], progress=False
    )
    dp, exact = runs[runs["approach"] == "dp_kmeans"], runs[runs["approach"] != "dp_kmeans"]
    assert (dp["mia_audit_eps_lb"] <= dp["epsilon"]).all()
    assert exact["mia_audit_eps_lb"].nunique() == 1 and exact["mia_audit_eps_lb"].iloc[0] > 0.5
    reid = runs.groupby("approach")["reid_rate"]
    assert reid.max()["kanon"] == 0 and reid.min()["kmeans"] > 1 / 3
    gain = dp.groupby("epsilon")["gain_share"].mean()
    assert gain[eps[1]] > gain[eps[0]]


@pytest.mark.slow
def test_lesson_2_unawareness_fails_as_proxies_strengthen():
    """Notebook 2's claim: unaware's distance from parity grows with proxy strength, as kmeans's does."""
    p = parameters_of(_notebook("02"))
    lo, hi = min(p["proxy_strengths"]), max(p["proxy_strengths"])
    base = {"n_customers": LESSON_N, "older_fatigue": p["older_fatigue"], "older_contact_cap": p["older_contact_cap"]}
    runs = sweep(base, {"proxy_strength": [lo, hi]}, ["kmeans", "unaware"], seeds=p["seeds"], progress=False)
    runs["distance"] = (1 - runs["di_older"]).abs()
    mean = runs.groupby(["label", "proxy_strength"])["distance"].mean()
    assert mean["unaware", lo] < 0.1  # no proxies, no fatigue, no cap: near parity
    assert mean["unaware", hi] > mean["unaware", lo] + 0.2  # strong proxies: far from parity
    assert mean["unaware", hi] > 0.5 * mean["kmeans", hi]  # dropping age and gender removes little of it


@pytest.mark.slow
def test_lesson_4_the_cap_costs_without_fatigue_and_pays_with_it():
    """Notebook 4's claim: against no cap in the same world, a cap lowers the value earned per older
    customer when there is no fatigue, and some cap raises it under the notebook's fatigue."""
    p = parameters_of(_notebook("04"))
    no_cap, tight = max(p["caps"]), min(p["caps"])
    fatigued = max(p["fatigues"])
    assert min(p["fatigues"]) == 0.0
    runs = sweep(
        {"n_customers": LESSON_N},
        {"older_contact_cap": p["caps"], "older_fatigue": [0.0, fatigued]},
        ["kmeans"],
        seeds=p["seeds"],
        progress=False,
    )
    runs["change"] = paired_difference(
        runs, "value_older", over="older_contact_cap", reference=no_cap, within=["older_fatigue"]
    )
    mean = runs.groupby(["older_fatigue", "older_contact_cap"])["change"].mean()
    assert mean[0.0, tight] < 0  # without fatigue the tight cap only removes profitable offers
    best_cap = mean[fatigued].drop(no_cap).idxmax()
    paired = runs[(runs["older_fatigue"] == fatigued) & (runs["older_contact_cap"] == best_cap)]["change"]
    assert paired.mean() > 0.5  # with fatigue the best cap beats no cap on average over worlds,
    assert (paired > 0).sum() > len(paired) / 2  # and in most of them


@pytest.mark.slow
def test_lesson_5_a_short_window_costs_gain_and_spares_little():
    """Notebook 5's claim: against keeping all purchase data in the same world, its shortest window
    lowers the gain share on average and in most worlds, while the audience file's re-identification
    rate moves by less than 0.05 (consent enforced, quasi-identifiers as released); every notice is
    truthful and plain English."""
    p = parameters_of(_notebook("05"))
    shortest = min(w for w in p["windows"] if w > 0)
    runs = sweep(
        {"n_customers": LESSON_N}, {"retention_days": [0, shortest]}, ["kmeans"], seeds=p["seeds"], progress=False
    )
    short = runs["retention_days"] == shortest
    gain = paired_difference(runs, "gain_share", over="retention_days", reference=0)[short]
    reid = paired_difference(runs, "reid_rate", over="retention_days", reference=0)[short]
    assert gain.mean() < 0 and (gain < 0).sum() > len(gain) / 2
    assert abs(reid.mean()) < 0.05
    assert (runs["notice_truthful"] == 1).all() and (runs["notice_reading_ease"] >= 60).all()


@pytest.mark.slow
def test_lesson_5_erasure_a_kept_release_still_reveals_the_erased_and_a_refit_does_not():
    """Notebook 5's erasure claim, at its erasure_rate and seeds: kept, kmeans's release lets the
    audit prove epsilon >= 1 about an erased customer in every world; refitted, nothing in any world;
    dp_kmeans (epsilon 1) shows nothing either way."""
    p = parameters_of(_notebook("05"))
    runs = sweep(
        {"n_customers": LESSON_N, "erasure_rate": p["erasure_rate"]},
        {"erasure": ["refit", "none"]},
        ["kmeans", ("dp_kmeans", {"epsilon": 1.0})],
        seeds=p["seeds"],
        progress=False,
    )
    bound = runs.set_index(["label", "erasure", "seed"])["erasure_residual_eps_lb"].sort_index()
    assert (bound.loc["kmeans", "none"] > 1).all()
    assert (bound.loc["kmeans", "refit"] == 0).all()
    assert (bound.loc["dp_kmeans(epsilon=1)"] == 0).all()


def test_as_list_reads_papermill_text():
    from kit.params import ParameterError
    from kit.study.sweep import MSG_NOT_A_LIST, as_list

    assert as_list("[0, 1]", "seeds", int) == [0, 1]
    assert as_list("0, 1", "seeds", int) == [0, 1]
    assert as_list([1, 2], "caps", float) == [1.0, 2.0]
    with pytest.raises(ParameterError, match=re.escape("seeds[1]: expected int, got 'a'")):
        as_list("[0, a]", "seeds", int)
    with pytest.raises(ParameterError) as e:
        as_list("", "seeds", int)
    assert str(e.value) == "seeds: " + MSG_NOT_A_LIST.format(name="seeds", value="")


def test_paired_difference_is_within_a_world():
    import pandas as pd

    runs = pd.DataFrame(
        {"label": ["a"] * 4, "seed": [0, 0, 1, 1], "cap": [1, 100, 1, 100], "v": [3.0, 1.0, 10.0, 11.0]}
    )
    assert paired_difference(runs, "v", over="cap", reference=100).tolist() == [2.0, 0.0, -1.0, 0.0]
