from pathlib import Path

import pytest

from kit.study import StudyError, load_study, run_id

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


GOOD = """
name: t
notebook: notebooks/experiment.ipynb
base: {n_customers: 2000}
grid:
  approach: [mass, {kmeans: {n_clusters: [3, 5]}}]
  proxy_strength: [0.0, 1.0]
seeds: [0, 1]
"""


def test_grid_expands_cartesian(tmp_path):
    s = load_study(_write(tmp_path, GOOD), ROOT)
    assert len(s.runs) == 3 * 2 * 2
    labels = sorted({r.label for r in s.runs})
    assert labels == ["kmeans(n_clusters=3)", "kmeans(n_clusters=5)", "mass"]
    assert len({r.run_id for r in s.runs}) == len(s.runs)


def test_run_id_is_stable_and_parameter_sensitive(tmp_path):
    a = load_study(_write(tmp_path, GOOD), ROOT).runs
    b = load_study(_write(tmp_path, GOOD), ROOT).runs
    assert [r.run_id for r in a] == [r.run_id for r in b]
    p = dict(a[0].params)
    p["seed"] = 99
    assert run_id(p) != a[0].run_id


def test_pair_and_exclude(tmp_path):
    text = (
        GOOD
        + """
pair:
  label_bias: [0.0, 0.2]
  consent_rate: [0.7, 0.5]
exclude:
  - {approach: mass, proxy_strength: 1.0}
"""
    )
    s = load_study(_write(tmp_path, text), ROOT)
    assert len(s.runs) == (3 * 2 - 1) * 2 * 2
    assert {(r.params["label_bias"], r.params["consent_rate"]) for r in s.runs} == {(0.0, 0.7), (0.2, 0.5)}
    assert not any(r.params["approach"] == "mass" and r.params["proxy_strength"] == 1.0 for r in s.runs)


# (study text, the expected problem line) — each message points into the file and says what is allowed.
MALFORMED = [
    (
        GOOD.replace("proxy_strength: [0.0, 1.0]", "proxy_strength: [0.0, 1.0, 2.5]"),
        "grid.proxy_strength[2]: 2.5 is out of range; expected a number >= 0 and <= 1",
    ),
    (
        GOOD.replace("[mass,", "[mass, consent_only,"),
        "grid.approach[1]: consent_only was retired: every approach now fits on and profiles only customers with "
        "profiling consent (the others get the mass treatment); use kmeans, and the run parameter respect_consent "
        "(default true; false shows what ignoring consent would buy)",
    ),
    (
        GOOD.replace("[mass,", "[mass, gmmm,"),
        "grid.approach[1]: unknown approach 'gmmm'; expected one of "
        "mass, oracle, rfm, kmeans, gmm, tree, unaware, dp_kmeans, kanon, minimised, fair_kmeans, fair_targeting",
    ),
    (
        GOOD.replace("n_clusters: [3, 5]", "n_clusters: [3, 0]"),
        "grid.approach[1].kmeans.n_clusters[1]: 0 is out of range; expected an integer >= 1 and <= 50",
    ),
    (
        GOOD.replace("n_clusters:", "n_clustrs:"),
        "grid.approach[1].kmeans.n_clustrs: unknown parameter of approach 'kmeans'; allowed: n_clusters, n_init",
    ),
    (
        GOOD.replace("seeds: [0, 1]", "seeds: [0, -1]"),
        "seeds[1]: -1 is out of range; expected an integer >= 0 and <= 4294967295",
    ),
    (GOOD.replace("seeds: [0, 1]", "seeds: 3"), "seeds: expected a non-empty list of integers >= 0, got 3"),
    (
        GOOD.replace("base: {n_customers: 2000}", "base: {n_customers: 2000.5}"),
        "base.n_customers: expected an integer >= 1000 and <= 10000000, got float 2000.5",
    ),
    (
        GOOD.replace("base:", "bsae:"),
        "bsae: unknown key; allowed: name, description, notebook, base, grid, pair, exclude, seeds",
    ),
    (GOOD.replace("name: t", "name: my study"), "name: expected letters, digits, - and _ only, got 'my study'"),
    (GOOD.replace("notebooks/experiment.ipynb", "notebooks/nope.ipynb"), "notebook: notebooks/nope.ipynb not found"),
    (
        GOOD.replace("proxy_strength: [0.0, 1.0]", "proxy_strenght: [0.0, 1.0]"),
        "grid.proxy_strenght: unknown parameter; allowed: approach, n_customers,",
    ),
    (
        GOOD.replace("proxy_strength: [0.0, 1.0]", "proxy_strength: 0.5"),
        "grid.proxy_strength: expected a list of values, got float 0.5",
    ),
    (
        GOOD + "pair:\n  label_bias: [0.0, 0.1]\n  consent_rate: [0.5]\n",
        "pair: lists must have equal lengths, got label_bias: 2, consent_rate: 1",
    ),
    (GOOD + "exclude:\n  - {approach: masss}\n", "exclude[0].approach: unknown approach 'masss'"),
    (GOOD.replace("name: t\n", ""), "name: missing;"),
    ("name: [unclosed", "file: not valid YAML"),
]


@pytest.mark.parametrize("text,expected", MALFORMED)
def test_malformed_study_messages(tmp_path, text, expected):
    with pytest.raises(StudyError) as e:
        load_study(_write(tmp_path, text), ROOT)
    assert any(f"{w}: {m}".startswith(expected) for w, m in e.value.problems), e.value.problems


def test_all_problems_reported_at_once(tmp_path):
    text = GOOD.replace("seeds: [0, 1]", "seeds: [0, -1]").replace("[0.0, 1.0]", "[0.0, 7.0]")
    with pytest.raises(StudyError) as e:
        load_study(_write(tmp_path, text), ROOT)
    assert len(e.value.problems) == 2


def test_shipped_studies_are_valid_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the notebook path is relative to the study file, not the working folder
    for p in (ROOT / "studies").glob("*.yaml"):
        if (
            "\ndata:" in p.read_text()
        ):  # a study on a customer table needs its export first: tests/run/test_truthless.py
            continue
        study = load_study(p)
        assert study.runs and study.notebook == ROOT / "notebooks" / "experiment.ipynb"


def test_notebook_path_is_relative_to_the_study_file(tmp_path):
    from kit.study.spec import MSG_NOTEBOOK_NOT_FOUND

    (tmp_path / "studies").mkdir()
    p = tmp_path / "studies" / "s.yaml"
    p.write_text(GOOD)  # names notebooks/experiment.ipynb: not beside the study file
    with pytest.raises(StudyError) as e:
        load_study(p)
    msg = MSG_NOTEBOOK_NOT_FOUND.format(notebook="notebooks/experiment.ipynb", root=tmp_path / "studies")
    assert msg in str(e.value)
    p.write_text("\n".join(line for line in GOOD.splitlines() if not line.startswith("notebook:")))
    assert load_study(p).notebook == ROOT / "notebooks" / "experiment.ipynb"  # no notebook: the kit's own


def test_reference_setting(tmp_path):
    from kit.study.spec import MSG_UNKNOWN_REFERENCE

    # None named, and no kmeans at its defaults: no reference (no paired comparisons).
    assert load_study(_write(tmp_path, GOOD), ROOT).reference is None
    s = load_study(_write(tmp_path, GOOD + "reference: kmeans(n_clusters=3)\n"), ROOT)
    assert s.reference == "kmeans(n_clusters=3)"
    default = GOOD.replace("{kmeans: {n_clusters: [3, 5]}}", "{kmeans: {n_clusters: [6, 8]}}")
    assert load_study(_write(tmp_path, default), ROOT).reference == "kmeans(n_clusters=6)"
    with pytest.raises(StudyError) as e:
        load_study(_write(tmp_path, GOOD + "reference: kmeans\n"), ROOT)
    msg = MSG_UNKNOWN_REFERENCE.format(reference="kmeans", labels="mass, kmeans(n_clusters=3), kmeans(n_clusters=5)")
    assert e.value.problems == [("reference", msg)]
    assert msg == (
        "'kmeans' is not a setting of this study; expected one of mass, kmeans(n_clusters=3), kmeans(n_clusters=5)"
    )
