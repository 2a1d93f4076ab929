"""Reading the runs' saved tables for the study report: joined and parsed once, or file by file."""

import pandas as pd
import pytest

from kit.records import OK
from kit.report.groups import _read_one_by_one, read_run_tables


def _study(tmp_path, tables: dict[str, str]):
    """A study folder whose runs saved `tables` (run id -> CSV text of tables/t.csv); one run failed."""
    rows = []
    for i, (run_id, text) in enumerate(tables.items()):
        (tmp_path / "runs" / run_id / "tables").mkdir(parents=True)
        (tmp_path / "runs" / run_id / "tables" / "t.csv").write_text(text, encoding="utf-8")
        rows.append({"run_id": run_id, "label": f"kmeans(n_clusters={6 + i})", "seed": i, "status": OK})
    rows.append({"run_id": "r-failed", "label": "gmm", "seed": 0, "status": "failed"})
    return pd.DataFrame(rows)


def _one_by_one(tmp_path, results):
    ok = results[results["status"] == OK]
    found = [
        (lab, s, tmp_path / "runs" / r / "tables" / "t.csv") for r, lab, s in zip(ok["run_id"], ok["label"], ok["seed"])
    ]
    return _read_one_by_one(found)


@pytest.mark.parametrize(
    "tables",
    [
        {  # one header, quoted commas: read as one CSV
            "r1": 'group,customers,rate\n"75+, female",120,0.25\nall,1000,\n',
            "r2": 'group,customers,rate\n"75+, female",90,0.5\nall,990,0.125\n',
        },
        {  # a quoted field spanning two lines: each file on its own
            "r1": 'group,customers,note\nall,1000,"two\nlines"\n',
            "r2": "group,customers,note\nall,990,one\n",
        },
        {  # different headers: each file on its own
            "r1": "group,customers\nall,1000\n",
            "r2": "group,customers,rate\nall,990,0.5\n",
        },
    ],
    ids=["joined", "multiline", "headers"],
)
def test_stacked_tables_are_the_same_however_read(tmp_path, tables):
    results = _study(tmp_path, tables)
    got = read_run_tables(tmp_path, results, "t")
    pd.testing.assert_frame_equal(got, _one_by_one(tmp_path, results), check_exact=True)
    assert list(got.columns[:2]) == ["label", "seed"] and set(got["seed"]) == {0, 1}


def test_no_saved_table_gives_an_empty_frame(tmp_path):
    results = _study(tmp_path, {"r1": "group,customers\nall,1\n"})
    assert read_run_tables(tmp_path, results, "missing").empty
