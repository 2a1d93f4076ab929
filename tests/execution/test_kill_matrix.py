"""The slow fault matrix: kill -9 at random moments, two runners on one folder, Ctrl-C, a full disk.

Each case runs `crmkit run` as a real process group, hurts it, then checks: no process of it left
(orphans), every visible run folder complete and intact, no work or temporary file left, and that a
resume finishes with the numbers a clean execution gives. `REPORT` collects tried / survived /
lost for each case; run with ``-s`` to see it.
"""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from kit.execution.folders import LOCK_NAME
from tests.execution.fault_helpers import (
    ROOT,
    Runner,
    finished_runs,
    kill_all,
    leftovers,
    metrics_by_run,
    namespace_prefix,
    reference_metrics,
    same_metrics,
    study_file,
    untrusted,
    wait_for,
    wait_gone,
)

pytestmark = pytest.mark.slow
N_KILLS = int(os.environ.get("CRMKIT_FAULT_KILLS", "10"))
REPORT: dict[str, dict] = {}


def _finish_and_compare(study, out, jobs=2) -> int:
    """Resume to the end; return how many runs differ from a clean execution (lost)."""
    r = Runner(study, out, jobs=jobs)
    assert r.wait() == 0, r.output()
    assert not wait_gone(r.tag, 10)
    assert not leftovers(out) and not untrusted(out)
    got, ref = metrics_by_run(out), reference_metrics(out)
    return sum(not same_metrics(got[k], ref[k]) for k in ref)


@pytest.fixture(autouse=True)
def _print_report(request):
    yield
    for case, row in REPORT.items():
        print(
            f"\n{case}: tried {row['tried']}, survived {row['survived']}, lost {row['lost']} runs. {row.get('note', '')}"
        )


def test_kill_9_at_random_moments(tmp_path):
    """kill -9 of the runner alone (not its group): its workers, zygotes and kernels must go too."""
    study = study_file(tmp_path, seeds=(1, 2, 3))  # 6 runs
    out = tmp_path / "out"
    rng = random.Random(14)
    survived, moments = 0, []
    for _ in range(N_KILLS):
        r = Runner(study, out, jobs=2)
        delay = rng.uniform(0.5, 12.0)
        moments.append(round(delay, 1))
        time.sleep(delay)
        r.proc.send_signal(signal.SIGKILL)
        r.wait()
        orphans = wait_gone(r.tag, 15)
        kill_all(r.tag)
        if not orphans and not untrusted(out):
            survived += 1
        assert not orphans, f"kill at {delay:.1f} s left processes {orphans}"
        assert not untrusted(out)
    done_before = len(finished_runs(out))
    lost = _finish_and_compare(study, out)
    REPORT["kill -9 of crmkit run"] = {
        "tried": N_KILLS,
        "survived": survived,
        "lost": lost,
        "note": f"moments (s after start) {moments}; {done_before} of 6 runs finished across the kills",
    }
    assert lost == 0


def test_two_runners_on_one_folder(tmp_path):
    study = study_file(tmp_path, seeds=(1,))
    out = tmp_path / "out"
    a, b = Runner(study, out), Runner(study, out)  # started together: exactly one may own the folder
    codes = sorted([a.wait(), b.wait()])
    loser = a if a.proc.returncode == 2 else b
    winner = b if loser is a else a
    assert codes == [0, 2], a.output() + b.output()
    assert f"is in use by another crmkit process (pid {winner.pid})" in loser.output()
    # a second runner arriving mid-study is turned away and harms nothing
    c = Runner(study, out, extra=("--force",))
    assert wait_for(lambda: (out / LOCK_NAME).read_text().strip() == str(c.pid), 300)
    d = Runner(study, out)
    assert d.wait() == 2 and f"(pid {c.pid})" in d.output()
    assert c.wait() == 0, c.output()
    lost = _finish_and_compare(study, out)
    REPORT["two concurrent runners"] = {"tried": 2, "survived": 2 - lost, "lost": lost}
    assert lost == 0


@pytest.mark.parametrize(
    "how, jobs",
    [("group", 2), ("parent", 2), ("parent", 1), ("sigterm", 2)],
    ids=["ctrl-c-jobs2", "sigint-parent-only-jobs2", "sigint-parent-only-jobs1", "sigterm-jobs2"],
)
def test_interrupt_stops_soon_and_resumes(tmp_path, how, jobs):
    # 30 runs of ~0.5 s: the interrupt, sent once the first has finished, lands well before the last.
    study = study_file(tmp_path, seeds=tuple(range(1, 16)))
    out = tmp_path / "out"
    r = Runner(study, out, jobs=jobs)
    assert wait_for(lambda: len(finished_runs(out)) >= 1, 600), r.output()
    t0 = time.monotonic()
    if how == "group":
        os.killpg(r.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    else:
        r.proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
    code = r.wait(120)
    stopped_in = time.monotonic() - t0
    orphans = wait_gone(r.tag, 10)
    kill_all(r.tag)
    text = r.output()
    assert code == 130, text
    assert "interrupted:" in text and "run the same command again to resume" in text and "Traceback" not in text
    assert not orphans and not leftovers(out) and not untrusted(out)
    assert stopped_in < 30, f"took {stopped_in:.1f} s to stop"  # queued runs were cancelled, not run
    assert len(finished_runs(out)) < 30
    lost = _finish_and_compare(study, out, jobs=jobs)
    row = REPORT.setdefault("SIGINT / SIGTERM", {"tried": 0, "survived": 0, "lost": 0, "note": ""})
    row["tried"] += 1
    row["survived"] += int(lost == 0)
    row["lost"] += lost
    row["note"] += f"{how} jobs={jobs}: stopped in {stopped_in:.1f} s; "
    assert lost == 0


def test_full_disk(tmp_path):
    """A 400 kB tmpfs holds a run or two (~150 kB each without figures): a later write fails with ENOSPC."""
    prefix = namespace_prefix()
    assert prefix is not None, "needs unshare (root, or unprivileged user namespaces) to mount a tmpfs"
    study = study_file(tmp_path, seeds=(1, 2))
    disk, keep = tmp_path / "disk", tmp_path / "keep"
    disk.mkdir()
    crmkit = f"{sys.executable} -m kit.cli run {study} --out {disk}/out --jobs 2"
    script = (
        f"mount -t tmpfs -o size=400k tmpfs {disk} || exit 99\n"
        f"{crmkit} >{tmp_path}/full.log 2>&1; echo $? >{tmp_path}/full.rc\n"
        f"cp -a {disk}/out {keep}\n"
        f"mount -o remount,size=64m {disk}\n"
        f"{crmkit} >{tmp_path}/more.log 2>&1; echo $? >{tmp_path}/more.rc\n"
        f"cp -a {disk}/out {tmp_path}/after\n"
    )
    subprocess.run([*prefix, "sh", "-c", script], cwd=ROOT, timeout=1800, check=True)
    full = (tmp_path / "full.log").read_text()
    lines = [line for line in full.splitlines() if line.startswith("crmkit run:")]
    assert (tmp_path / "full.rc").read_text().strip() == "3", full
    assert "Traceback" not in full and len(lines) == 1
    assert ": No space left on device; free some space, then run the same command again" in lines[0]
    assert lines[0].startswith(f"crmkit run: {disk}/out/")
    assert not leftovers(keep) and not untrusted(keep)
    kept = {run.name: (run / "metrics.json").read_bytes() for run in finished_runs(keep)}
    assert (tmp_path / "more.rc").read_text().strip() == "0", (tmp_path / "more.log").read_text()
    after = tmp_path / "after"
    assert all((after / "runs" / k / "metrics.json").read_bytes() == v for k, v in kept.items())
    got, ref = metrics_by_run(after), reference_metrics(after)
    lost = sum(not same_metrics(got[k], ref[k]) for k in ref)
    REPORT["full disk (400 kB tmpfs)"] = {
        "tried": 1,
        "survived": int(lost == 0),
        "lost": lost,
        "note": f"{len(kept)} run(s) fitted before ENOSPC and were kept; message: {lines[0][:120]}",
    }
    assert lost == 0 and len(got) == 4
