"""crmkit --version, run --dry-run, schema, clean and init."""

import json

import jsonschema
import pytest
import yaml

from kit.cli_tools import MSG_INIT_NOT_EMPTY, estimate_seconds, version_text
from kit.execution.runner import Progress
from kit.study import load_study
from kit.study.schema import study_schema
from tests.conftest import ROOT, run_cli


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == version_text()
    assert version_text().startswith("crmkit 0.")


def test_dry_run_lists_runs_and_runs_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(["run", str(ROOT / "studies" / "smoke.yaml"), "--out", str(out), "--dry-run"], cwd=tmp_path) == 0
    text = capsys.readouterr().out
    study = load_study(ROOT / "studies" / "smoke.yaml")
    for spec in study.runs:
        assert spec.run_id in text and spec.label in text
    assert f"{len(study.runs)} to run" in text and "no time estimate yet" in text
    assert not out.exists()  # nothing executed, nothing written


def test_dry_run_estimates_from_finished_runs_and_names_stale_folders(study_run, capsys):
    path, out, _ = study_run
    assert run_cli(["run", str(path), "--out", str(out), "--dry-run", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "2 done, 0 to run" in text and "nothing to run" in text


def test_time_estimate_is_median_times_rounds():
    assert estimate_seconds([], 10, 2) is None
    assert estimate_seconds([40.0, 5.0, 6.0], 4, 2) == 12.0  # a slow first run does not swing it
    p = Progress(5, stream=open("/dev/null", "w"), jobs=2)
    for s in (37.7, 3.5, 4.1):
        p.update({"label": "x", "seed": 0, "status": "ok", "seconds": s, "error": None})
    assert p.left() == 4.1  # 2 runs left = 1 round of 2 jobs at the median 4.1 s


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "studies").glob("*.yaml")))
def test_shipped_studies_validate_against_the_schema(name):
    schema = study_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load((ROOT / "studies" / name).read_text()), schema)


def test_schema_rejects_what_load_study_rejects(capsys):
    assert run_cli(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    study = yaml.safe_load((ROOT / "studies" / "smoke.yaml").read_text())
    for bad in (
        {**study, "grid": {**study["grid"], "proxy_strength": [2.5]}},
        {**study, "grid": {"approach": ["no_such_approach"]}},
        {**study, "grid": {"approach": [{"kmeans": {"n_clusters": [0]}}]}},
        {**study, "seeds": [-1]},
        {**study, "colour": "blue"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    ok = {**study, "grid": {"approach": [{"dp_kmeans": {"epsilon": [1.0, float("inf"), "inf"]}}]}}
    jsonschema.validate(ok, schema)


def test_clean_lists_then_removes_run_folders_no_longer_in_the_study(study_run, tmp_path, capsys):
    import shutil

    _, out, _ = study_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    stale = copy / "runs" / "0123456789abcdef"
    stale.mkdir()
    (stale / "manifest.json").write_text(json.dumps({"label": "kmeans(n_clusters=9)", "seed": 3}))
    assert run_cli(["report", str(copy)]) == 0  # the report says the folder is there and not counted
    assert "1 folder(s) under runs/ belong to no run of this study" in (copy / "index.html").read_text()
    assert run_cli(["clean", str(copy)]) == 0
    assert "would remove" in capsys.readouterr().out and stale.exists()
    assert run_cli(["clean", str(copy), "--yes"]) == 0
    assert not stale.exists() and len(list((copy / "runs").iterdir())) == 2


def test_init_copies_studies_and_notebooks_and_the_smoke_study_resolves_there(tmp_path, capsys):
    dest = tmp_path / "project"
    assert run_cli(["init", str(dest)], cwd=tmp_path) == 0
    assert (dest / "studies" / "smoke.yaml").exists() and (dest / "notebooks" / "experiment.ipynb").exists()
    assert (dest / "notebooks" / "teaching" / "02_proxies.ipynb").exists()
    assert load_study(dest / "studies" / "smoke.yaml").notebook == dest / "notebooks" / "experiment.ipynb"
    capsys.readouterr()
    assert run_cli(["init", str(dest)]) == 2
    assert MSG_INIT_NOT_EMPTY.format(path=dest) in capsys.readouterr().err


def test_a_bundled_study_runs_by_name_from_any_folder(tmp_path, capsys):
    assert run_cli(["run", "studies/smoke.yaml", "--dry-run"], cwd=tmp_path) == 0
    out = capsys.readouterr()
    assert "running the kit's bundled study" in out.err and "study smoke:" in out.out
    assert run_cli(["run", "smoke", "--dry-run"], cwd=tmp_path) == 0
