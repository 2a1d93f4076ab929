"""A finished run is trusted only when its manifest reads, its files agree with the sizes and hashes
recorded there, and it ran on the current code (kit sources that decide numbers, notebook code)."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from kit.execution.manifests import (
    MSG_BAD_MANIFEST,
    MSG_HASH,
    MSG_MISSING_FILE,
    MSG_NO_RECORDS,
    check_run,
    code_identity,
    file_records,
    identity_sources,
    kit_source_hash,
    notebook_code_hash,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "experiment.ipynb"
IDENTITY = {"kit_source": "k" * 64, "notebook_code": "n" * 64}


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as the runner leaves it: files, then a manifest recording them."""
    d = tmp_path / "runs" / "abc"
    (d / "tables").mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"metrics": {"gain_share": 0.5}, "population_fingerprint": "f"}))
    (d / "tables" / "by_older.csv").write_text("older,customers\nTrue,10\n")
    (d / "notebook.ipynb").write_text("{}")
    (d / "kernel-stderr.log").write_text("noise\n")
    manifest = {"status": "ok", "identity": IDENTITY, "files": file_records(d)}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


def test_intact_run_is_trusted_and_logs_are_not_recorded(run_dir):
    assert check_run(run_dir, IDENTITY).trusted
    assert "kernel-stderr.log" not in json.loads((run_dir / "manifest.json").read_text())["files"]
    (run_dir / "kernel-stderr.log").write_text("a kernel slow to exit wrote one more line\n")
    assert check_run(run_dir, IDENTITY).trusted


def test_truncated_file_is_named(run_dir):
    data = (run_dir / "metrics.json").read_bytes()
    (run_dir / "metrics.json").write_bytes(data[:20])
    s = check_run(run_dir, IDENTITY)
    assert s.state == "broken" and s.detail.startswith("metrics.json: 20 bytes, the manifest says")


def test_edited_table_and_deleted_notebook_are_named(run_dir):
    (run_dir / "tables" / "by_older.csv").write_text("older,customers\nTrue,11\n")  # same size, other content
    assert check_run(run_dir).detail == MSG_HASH.format(file="tables/by_older.csv")
    (run_dir / "notebook.ipynb").unlink()
    assert check_run(run_dir).detail == MSG_MISSING_FILE.format(file="notebook.ipynb")


def test_edited_fingerprint_is_caught(run_dir):
    path = run_dir / "metrics.json"
    path.write_text(path.read_text().replace('"f"', '"g"'))
    assert check_run(run_dir).detail == MSG_HASH.format(file="metrics.json")


def test_garbage_or_old_manifest_is_not_trusted(run_dir):
    (run_dir / "manifest.json").write_bytes(b"\x00garbage{")
    assert check_run(run_dir) == check_run(run_dir, IDENTITY)
    assert check_run(run_dir).detail == MSG_BAD_MANIFEST
    (run_dir / "manifest.json").write_text(json.dumps({"status": "ok"}))
    assert check_run(run_dir).detail == MSG_NO_RECORDS
    (run_dir / "manifest.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    assert check_run(run_dir).state == "failed"
    assert check_run(run_dir.parent / "nothing").state == "missing"


def test_changed_code_is_not_trusted(run_dir):
    s = check_run(run_dir, {**IDENTITY, "notebook_code": "x"})
    assert s.state == "changed" and "notebook's code" in s.detail
    assert check_run(run_dir, {**IDENTITY, "kit_source": "x"}).detail == "the kit's source changed since it ran"


def test_kit_hash_covers_what_decides_numbers_only(tmp_path):
    kit = tmp_path / "kit"
    shutil.copytree(ROOT / "kit", kit, ignore=shutil.ignore_patterns("__pycache__"))
    base = kit_source_hash(kit)
    assert base == kit_source_hash(ROOT / "kit")
    rel = {p.relative_to(kit).as_posix() for p in identity_sources(kit)}
    assert "segmenters/clustering.py" in rel and "run/pipeline.py" in rel and "vocabulary.py" in rel
    assert not any(r.startswith(("execution/", "report/", "study/")) or r == "cli.py" for r in rel)
    (kit / "report" / "html.py").write_text((kit / "report" / "html.py").read_text() + "\n# look\n")
    assert kit_source_hash(kit) == base  # the report's look does not make runs stale
    seg = kit / "segmenters" / "clustering.py"
    seg.write_text(seg.read_text() + "\n# a changed segmenter\n")
    assert kit_source_hash(kit) != base


def test_notebook_hash_follows_code_cells_only(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    base = notebook_code_hash(NOTEBOOK)
    nb.cells[0].source += "\nMore words."
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="x")]
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert notebook_code_hash(tmp_path / "a.ipynb") == base
    nb.cells[2].source += "\n# a comment is code too"
    nbformat.write(nb, tmp_path / "b.ipynb")
    assert notebook_code_hash(tmp_path / "b.ipynb") != base
    assert set(code_identity(NOTEBOOK)) == {"kit_source", "notebook_code"}
