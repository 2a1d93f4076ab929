"""One owner per output folder, folders the kit owns, clean leftovers, and environment errors."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from papermill.exceptions import PapermillExecutionError

from kit.execution.folders import (
    LOCK_NAME,
    MSG_BUSY,
    MSG_NOT_OURS,
    EnvironmentProblem,
    FolderBusy,
    FolderLock,
    NotAStudyFolder,
    claim_study_folder,
    clean_leftovers,
    environment_problem,
    place_run_folder,
)
from kit.records import REPORTS_MARKER, STUDY_MARKER, write_atomic
from kit.report.html import render_reports_index
from tests.conftest import run_cli

HOLD = (
    "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\nos.pwrite(fd, f'{os.getpid()}\\n'.encode(), 0)\nprint('held', flush=True)\n"
    "time.sleep(600)\n"
)


def _holder(folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / LOCK_NAME)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


# A holder that takes the lock and writes its pid only 0.2 s later: the moment in which a refused
# process used to read an empty lock file and say "pid unknown".
HOLD_SLOW = (
    "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(0.2)\n"
    "os.pwrite(fd, f'{os.getpid()}\\n'.encode(), 0)\ntime.sleep(600)\n"
)


def test_a_refused_owner_waits_for_the_holder_to_write_its_pid(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SLOW, str(tmp_path / LOCK_NAME)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy) as e, FolderLock(tmp_path):
            pass
        assert e.value.pid == str(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_second_owner_is_refused_naming_the_holder_and_the_lock_dies_with_it(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(FolderBusy) as e, FolderLock(tmp_path):
            pass
        assert str(e.value) == MSG_BUSY.format(path=tmp_path, pid=proc.pid)
        with pytest.raises(FolderBusy), FolderLock(tmp_path, shared=True):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with FolderLock(tmp_path), FolderLock(tmp_path):  # free again, and re-entrant within a process
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: no stale pid for the next message


def test_cli_run_on_a_busy_folder_exits_2_naming_the_pid(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text("name: s\ngrid: {approach: [mass]}\nseeds: [0]\n")
    out = tmp_path / "out"
    claim_study_folder(out)
    proc = _holder(out)
    try:
        assert run_cli(["run", str(study), "--out", str(out)]) == 2
    finally:
        proc.kill()
        proc.wait()
    err = capsys.readouterr().err
    assert err == f"crmkit run: {MSG_BUSY.format(path=out, pid=proc.pid)}\n"
    assert not (out / "runs").exists()


def test_a_users_folder_is_never_taken(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(NotAStudyFolder) as e:
        claim_study_folder(mine)
    assert str(e.value) == MSG_NOT_OURS.format(path=mine, marker=STUDY_MARKER)
    study = tmp_path / "s.yaml"
    study.write_text("name: s\ngrid: {approach: [mass]}\nseeds: [0]\n")
    assert run_cli(["run", str(study), "--out", str(mine)]) == 2
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]  # not even a lock file
    assert "is not a crmkit study folder" in capsys.readouterr().err


def test_studies_index_only_in_a_folder_the_kit_created(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "index.html").write_text("the user's page")
    claim_study_folder(user / "study")
    assert render_reports_index(user) is None and (user / "index.html").read_text() == "the user's page"
    claim_study_folder(tmp_path / "new" / "study")  # the kit creates new/: it owns it
    assert (tmp_path / "new" / REPORTS_MARKER).exists()
    assert render_reports_index(tmp_path / "new") == tmp_path / "new" / "index.html"
    claim_study_folder(user / "study")  # an existing study folder is claimed again without complaint


def test_leftovers_of_a_killed_owner_are_cleaned(tmp_path):
    (tmp_path / "runs" / ".abc.work").mkdir(parents=True)
    (tmp_path / "runs" / ".abc.old").mkdir()
    (tmp_path / "runs" / "abc").mkdir()
    (tmp_path / ".index.html.123.deadbeef.tmp").write_text("half")
    (tmp_path / "keep.txt").write_text("x")
    clean_leftovers(tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "runs"]


def test_run_folder_is_swapped_without_a_gap(tmp_path):
    final, work = tmp_path / "abc", tmp_path / ".abc.work"
    final.mkdir()
    (final / "manifest.json").write_text("old")
    work.mkdir()
    (work / "manifest.json").write_text("new")
    place_run_folder(work, final)
    assert (final / "manifest.json").read_text() == "new" and not work.exists()
    work.mkdir()
    (work / "manifest.json").write_text("newer")
    place_run_folder(work, final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc"]


def test_identical_bytes_are_not_rewritten(tmp_path):
    p = tmp_path / "a.txt"
    write_atomic(p, b"same")
    before = p.stat().st_mtime_ns
    time.sleep(0.01)
    write_atomic(p, b"same")
    assert p.stat().st_mtime_ns == before
    write_atomic(p, b"other")
    assert p.read_bytes() == b"other"


def test_environment_errors_are_recognised_also_from_a_kernel(tmp_path):
    e = environment_problem(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".m.json.12.ab12.tmp")))
    assert isinstance(e, EnvironmentProblem) and e.path == str(tmp_path / "m.json")
    assert str(e).startswith(f"{tmp_path / 'm.json'}: No space left on device; free some space")
    cell = PapermillExecutionError(
        3, 4, "save", "OSError", "[Errno 30] Read-only file system: '/x/runs/.a.work/metrics.json'", []
    )
    e = environment_problem(cell)
    assert (e.path, e.cause, e.code) == ("/x/runs/.a.work/metrics.json", "Read-only file system", errno.EROFS)
    assert environment_problem(ValueError("[Errno 28] in a message")) is None
    assert environment_problem(OSError(errno.ENOENT, "No such file")) is None
