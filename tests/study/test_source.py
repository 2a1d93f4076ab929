"""Malformed study files: every one is a StudyError (exit 2 from the CLI) with a short message
that points into the file, never a traceback, and nothing is run."""

from pathlib import Path

import pytest

from kit.study import StudyError, load_study
from kit.study.source import (
    MAX_MESSAGE_CHARS,
    MAX_STUDY_BYTES,
    MSG_NOT_A_FILE,
    MSG_TOO_DEEP,
    MSG_TOO_MANY,
)
from kit.study.spec import MSG_TOO_MANY_RUNS
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]

GOOD = """name: t
notebook: notebooks/experiment.ipynb
base: {n_customers: 2000}
grid:
  approach: [mass, kmeans]
seeds: [0, 1]
"""


def _problems(path, **kw) -> StudyError:
    with pytest.raises(StudyError) as e:
        load_study(path, ROOT, **kw)
    return e.value


def test_a_directory_is_not_a_study(tmp_path):
    err = _problems(tmp_path)
    assert err.problems == [("file", MSG_NOT_A_FILE)]


def test_binary_and_nul_files_are_not_text(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_bytes(b"name: t\n\xff\xfe\x00garbage")
    assert "a NUL byte at offset 10" in str(_problems(p))
    p.write_bytes(b"name: t\nnotebook: \xff\xfe\n")
    assert "byte 0xff at offset 18 is not UTF-8" in str(_problems(p))


def test_repeated_key_names_both_lines(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD + "seeds: [5]\n")
    err = _problems(p)
    assert err.problems == [("seeds", "key 'seeds' appears twice in one mapping (first on line 6); keep one")]
    assert "(line 7)" in str(err)
    p.write_text(GOOD.replace("base: {n_customers: 2000}", "base: {n_customers: 2000, n_customers: 3000}"))
    assert _problems(p).problems[0][0] == "base.n_customers"


def test_problems_point_at_their_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD + "pair:\n  label_bias: [0.1, 7]\n  consent_rate: [0.5, 0.6]\n")
    text = str(_problems(p))
    assert "pair.label_bias[1]: 7.0 is out of range" in text and text.rstrip().endswith("(line 8)")


def test_oversized_file_is_refused_before_parsing(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD + "#" * MAX_STUDY_BYTES)
    assert "a study file holds at most 1,000,000 bytes" in str(_problems(p))


def test_run_cap_counts_before_expanding_and_can_be_raised(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD.replace("seeds: [0, 1]", f"seeds: [{', '.join(map(str, range(3000)))}]"))
    err = _problems(p)
    assert err.problems == [("grid", MSG_TOO_MANY_RUNS.format(n=6000, cap=5000))]
    assert len(load_study(p, ROOT, max_runs=6000).runs) == 6000
    q = tmp_path / "q.yaml"  # an approach's own lists multiply before any cap could see them
    big = ", ".join(map(str, range(1, 51)))
    q.write_text(
        GOOD.replace(
            "[mass, kmeans]",
            "[{kanon: {k: [" + ", ".join(map(str, range(2, 3000))) + f"], n_clusters: [{big}], n_init: [{big}]}}}}]",
        )
    )
    assert "expands to" in str(_problems(q))


def test_deep_nesting_and_alias_bombs_are_refused(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD + "description: " + "[" * 200 + "]" * 200 + "\n")
    assert MSG_TOO_DEEP in str(_problems(p))
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    p.write_text("\n".join(lines) + "\n")
    assert _problems(p).problems == [("file", MSG_TOO_MANY)]


def test_long_values_are_cut_to_a_readable_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD.replace("base: {n_customers: 2000}", "base: {n_customers: '" + "9" * 100_000 + "'}"))
    err = _problems(p)
    ((where, msg),) = err.problems
    assert where == "base.n_customers" and len(msg) < MAX_MESSAGE_CHARS + 40
    assert msg.endswith("more characters)")
    assert max(len(line) for line in str(err).splitlines()) < MAX_MESSAGE_CHARS + 100


@pytest.mark.parametrize("case", ["dir", "binary", "repeat", "empty", "list", "two-docs"])
def test_cli_exits_2_with_a_pointer_and_no_traceback(tmp_path, capsys, case):
    p = tmp_path / "s.yaml"
    if case == "dir":
        p = tmp_path
    elif case == "binary":
        p.write_bytes(bytes(range(256)))
    elif case == "repeat":
        p.write_text(GOOD + "name: u\n")
    elif case == "empty":
        p.write_text("")
    elif case == "list":
        p.write_text("- a\n- b\n")
    else:
        p.write_text(GOOD + "---\n" + GOOD)
    out = tmp_path / "out"
    assert run_cli(["run", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{p}: ") and "Traceback" not in err and "problem" in err
    assert not out.exists()  # nothing was run
