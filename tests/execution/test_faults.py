"""Broken files, changed code, read-only and forbidden folders: what the runner, the report and
verify do with a finished study that was hurt after the fact (fast cases; kills and races are in
test_kill_matrix.py)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from kit.execution.manifests import MSG_BAD_MANIFEST, check_run, code_identity
from kit.records import load_metrics
from tests.conftest import run_cli
from tests.execution.fault_helpers import ROOT, leftovers, namespace_prefix, untrusted


@pytest.fixture
def hurt(study_run, tmp_path):
    """A private copy of the session's finished two-run study: (study file, folder, run ids)."""
    path, out, code = study_run
    assert code == 0
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    ids = list(pd.read_csv(copy / "results.csv")["run_id"])
    return path, copy, ids


def test_truncated_and_edited_files_are_named_then_re_executed(hurt, capsys):
    path, out, (a, b) = hurt
    before = {r: load_metrics(out / "runs" / r / "metrics.json")["metrics"] for r in (a, b)}
    metrics = out / "runs" / a / "metrics.json"
    metrics.write_bytes(metrics.read_bytes()[:100])  # truncated
    table = out / "runs" / b / "tables" / "by_older.csv"
    table.write_text(table.read_text().replace("0.", "1.", 1))  # edited, same size
    # the report does not trust either, names each file, and still renders
    assert run_cli(["report", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{a} " in err and "metrics.json: 100 bytes, the manifest says" in err
    assert f"{b} " in err and "tables/by_older.csv: content differs from the sha256 in the manifest" in err
    res = pd.read_csv(out / "results.csv")
    assert list(res["status"]) == ["broken", "broken"]
    assert "tables/by_older.csv" in (out / "index.html").read_text()
    # a resume re-executes exactly those two, says why, and gets the original numbers back
    assert run_cli(["run", str(path), "--out", str(out), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "2 runs, 0 already done, 2 broken files (re-run), 2 to run" in err
    assert not untrusted(out) and not leftovers(out)
    assert {r: load_metrics(out / "runs" / r / "metrics.json")["metrics"] for r in (a, b)} == before


def test_verify_counts_what_it_could_not_check_as_failures(hurt, capsys):
    _, out, (a, b) = hurt
    (out / "runs" / a / "manifest.json").write_text("{garbage")
    assert run_cli(["verify", str(out), "--sample", "1"]) == 1
    printed = capsys.readouterr().out
    assert MSG_BAD_MANIFEST in printed
    assert printed.rstrip().endswith("0 of 1 runs reproduced exactly; 1 could not be checked (counted as failures)")


def test_verify_catches_an_edited_table_and_fingerprint(hurt, capsys):
    _, out, (a, b) = hurt
    m = out / "runs" / a / "metrics.json"
    rec = json.loads(m.read_text())
    rec["population_fingerprint"] = "0" * len(rec["population_fingerprint"])
    m.write_text(json.dumps(rec, indent=2, sort_keys=True))
    t = out / "runs" / a / "tables" / "gain_by_group.csv"
    t.write_text(t.read_text() + "\n")
    assert run_cli(["verify", str(out), "--sample", "1"]) == 1
    printed = capsys.readouterr().out
    assert "population_fingerprint" in printed and "tables/gain_by_group.csv" in printed
    assert "0 of 1 runs reproduced exactly; 1 differ" in printed


def test_code_changed_runs_are_re_executed_and_force_redoes_all(hurt, capsys):
    path, out, (a, b) = hurt
    man = out / "runs" / a / "manifest.json"
    m = json.loads(man.read_text())
    m["identity"]["kit_source"] = "0" * 64  # as if a segmenter had been edited since this run
    man.write_text(json.dumps(m))
    assert run_cli(["run", str(path), "--out", str(out), "--jobs", "2", "--force"]) == 0
    err = capsys.readouterr().err
    assert "2 runs, 1 already done, 1 code changed (re-run), --force: every run re-executed, 2 to run" in err
    current = code_identity(ROOT / "notebooks" / "experiment.ipynb")
    assert all(check_run(out / "runs" / r, current).trusted for r in (a, b))
    m["identity"]["notebook_code"] = "0" * 64
    man.write_text(json.dumps({**json.loads(man.read_text()), "identity": m["identity"]}))
    assert run_cli(["run", str(path), "--out", str(out), "--jobs", "1"]) == 0
    assert "2 runs, 1 already done, 1 code changed (re-run), 1 to run" in capsys.readouterr().err


def _in_namespace(script: str) -> subprocess.CompletedProcess:
    prefix = namespace_prefix()
    assert prefix is not None, "needs unshare (root, or unprivileged user namespaces) to remount read-only"
    return subprocess.run([*prefix, "sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_read_only_folder(hurt, tmp_path):
    path, out, _ = hurt
    extra = tmp_path / "more.yaml"
    extra.write_text(path.read_text().replace("seeds: [4]", "seeds: [4, 5]"))
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    crmkit = f"{sys.executable} -m kit.cli"
    r = _in_namespace(
        f"mount --bind {out} {out} && mount -o remount,bind,ro {out} || exit 99\n"
        f"{crmkit} run {path} --out {out} --jobs 1; echo rc=$?\n"  # finished: nothing to write
        f"{crmkit} report {out}; echo rc=$?\n"
        f"{crmkit} run {extra} --out {out} --jobs 1 2>&1; echo rc=$?\n"  # a run to do: exit 3
    )
    assert r.stdout.count("rc=0") == 2, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()
    assert last[-1] == "rc=3" and "Traceback" not in r.stdout
    assert (
        last[-2]
        == f"crmkit run: {out}/study.yaml: Read-only file system; the folder is read-only; choose another with --out"
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot  # nothing harmed


def test_folder_without_permission(hurt):
    path, hurt_out, _ = hurt
    base = Path(tempfile.mkdtemp(prefix="crmkit-perm-"))  # pytest's own tmp folders are private (0700)
    try:
        os.chmod(base, 0o755)
        out = base / "out"
        shutil.copytree(hurt_out, out)
        extra = base / "more.yaml"
        extra.write_text(path.read_text().replace("seeds: [4]", "seeds: [4, 5]"))
        cmd = [sys.executable, "-m", "kit.cli", "run", str(extra), "--out", str(out), "--jobs", "1"]
        if os.geteuid() == 0:  # root writes anywhere: run as nobody, who may read but not write here
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        else:
            for p in [out, *out.rglob("*")]:
                os.chmod(p, 0o555 if p.is_dir() else 0o444)
        env = {**os.environ, "MPLCONFIGDIR": str(base / "mpl"), "HOME": str(base)}
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 3, r.stderr
        assert r.stderr == (
            f"crmkit run: {out}/study.yaml: Permission denied; no permission to write there; "
            "choose another folder with --out\n"
        )
        assert not leftovers(out) and not untrusted(out)
    finally:
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base)
