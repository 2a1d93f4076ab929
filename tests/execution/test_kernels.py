"""Warm kernels: runs forked from the zygote equal plain papermill runs, stay apart, and leave no process.

The tests share this process's zygote (started on first use), so only the first pays its imports.
The last two tests shut the zygote down and break it; they stay last in this file.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from kit.execution import kernels
from kit.records import load_metrics
from kit.run import run_experiment, validate_run
from tests.conftest import ROOT

# Appended to the experiment notebook: the interpreter state a notebook could observe.
STATE_CELL = textwrap.dedent("""
    import json, logging, os, signal, sys, threading, warnings
    import matplotlib, numpy, pandas, sklearn
    _volatile = ("PYTEST_CURRENT_TEST", "JPY_PARENT_PID")
    print(json.dumps({
        "pandas options": {k: repr(pandas.get_option(k)) for k in pandas._config.config._registered_options},
        "rcParams": {k: repr(v) for k, v in matplotlib.rcParams.items()},
        "backend": matplotlib.get_backend(),
        "numpy print": repr(numpy.get_printoptions()),
        "sklearn config": repr(sklearn.get_config()),
        # ipykernel adds one filter when its shell starts, after the imports in a forked kernel:
        # the filters are the same, and none of them overlaps that one, so the order cannot matter.
        "warning filters": sorted(repr(f) for f in warnings.filters),
        "flags": repr(sys.flags), "path": sys.path, "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:2]],
        "environ": {k: v for k, v in os.environ.items() if k not in _volatile},
        "root logger": [repr(h) for h in logging.getLogger().handlers] + [logging.getLogger().level],
        "cwd": os.getcwd(),
        "encodings": [sys.stdout.encoding, sys.__stdout__.encoding, sys.__stderr__.encoding],
        # Unnamed threads are numbered by how many Thread objects came before; the zygote's
        # import of ipykernel's debugger makes one earlier than a fresh kernel does.
        "threads": sorted(t.name.split("-")[0] + ("-N" if "-" in t.name else "") for t in threading.enumerate()),
        "signals": {s: repr(signal.getsignal(getattr(signal, s))) for s in ("SIGINT", "SIGTERM", "SIGCHLD", "SIGPIPE")},
        "hooks": [type(sys.excepthook.__self__).__name__, type(sys.displayhook).__name__],
        "parent watched": __import__("ipykernel.kernelapp").kernelapp.IPKernelApp.instance().parent_handle == os.getppid(),
        "ppid": os.getppid(),
    }, sort_keys=True).join(["STATE ", ""]))
""")


def _notebook(path, *sources, parameters="x = 1"):
    """A small notebook: a parameters cell, then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(parameters)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _printed(path, tag):
    """What the executed notebook printed on the stdout line starting with `tag`."""
    for cell in nbformat.read(path, as_version=4).cells:
        for o in cell.get("outputs", []):
            for line in "".join(o.get("text", "")).splitlines() if o.get("name") == "stdout" else []:
                if line.startswith(tag + " "):
                    return line[len(tag) + 1 :]
    raise AssertionError(f"{path} printed no {tag!r} line")


def _gone(pid):
    """True once the process has exited (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _children(pid):
    """Live processes whose parent is `pid`."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
    return out


def _zygote_pid():
    assert kernels._current is not None and kernels._current.alive()
    return kernels._current.pid


@pytest.mark.slow
def test_forked_kernel_equals_plain_papermill_and_in_process(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "experiment.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(STATE_CELL))
    nbformat.write(nb, tmp_path / "exp.ipynb")
    params = {"approach": "kmeans", "n_customers": 2500, "seed": 3}
    kernels.start_zygote()  # its imports overlap the plain run
    for mode in ("plain", "warm"):
        (tmp_path / mode).mkdir()
        run = kernels.execute_notebook_warm if mode == "warm" else pm.execute_notebook
        run(
            str(tmp_path / "exp.ipynb"),
            str(tmp_path / f"{mode}.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            parameters={**params, "output_dir": str(tmp_path / mode / "run")},
            cwd=str(tmp_path / mode),
        )
    warm = json.loads((tmp_path / "warm" / "run" / "metrics.json").read_text())
    plain = json.loads((tmp_path / "plain" / "run" / "metrics.json").read_text())
    assert warm["metrics"] == plain["metrics"]
    assert warm["population_fingerprint"] == plain["population_fingerprint"]
    in_process = run_experiment(validate_run(params)).metrics
    assert load_metrics(tmp_path / "warm" / "run" / "metrics.json")["metrics"] == in_process
    # Every output the notebook shows is the same (tables, figures' PNG bytes), up to its own folder.
    w, p = (nbformat.read(tmp_path / f"{m}.ipynb", as_version=4) for m in ("warm", "plain"))
    assert len(w.cells) == len(p.cells)
    for cw, cp in zip(w.cells[:-1], p.cells[:-1]):
        if cw.cell_type == "code":
            assert json.dumps(cw.outputs, sort_keys=True).replace(str(tmp_path / "warm"), "DIR") == json.dumps(
                cp.outputs, sort_keys=True
            ).replace(str(tmp_path / "plain"), "DIR")
    n_png = [sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) for nb in (w, p)]
    assert n_png[0] == n_png[1] >= 2
    # So is the state of the interpreter, but for who the kernel's parent is.
    state_w, state_p = (json.loads(_printed(tmp_path / f"{m}.ipynb", "STATE")) for m in ("warm", "plain"))
    assert state_w.pop("ppid") == _zygote_pid()
    assert state_p.pop("ppid") == os.getpid()
    assert state_w.pop("cwd") == str(tmp_path / "warm") and state_p.pop("cwd") == str(tmp_path / "plain")
    for key in state_p:
        assert state_w[key] == state_p[key], key
    assert state_w["pandas options"]["display.max_columns"] == "20"  # a kernel's, not a terminal's


def test_failing_cell_raises_papermill_error_and_keeps_the_partial_notebook(tmp_path):
    src = _notebook(
        tmp_path / "fail.ipynb",
        "import os\nprint('PID', os.getpid())",
        'raise RuntimeError("boom in a forked kernel")',
        "never = 1",
    )
    errors = {}
    for mode, run in (("warm", kernels.execute_notebook_warm), ("plain", pm.execute_notebook)):
        with pytest.raises(PapermillExecutionError, match="boom in a forked kernel") as info:
            run(str(src), str(tmp_path / f"{mode}.ipynb"), kernel_name="python3", progress_bar=False)
        errors[mode] = (info.value.exec_count, info.value.ename, info.value.evalue)
    assert errors["warm"] == errors["plain"] == (3, "RuntimeError", "boom in a forked kernel")
    out = nbformat.read(tmp_path / "warm.ipynb", as_version=4)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3, None]
    assert code[2].outputs[0]["ename"] == "RuntimeError"
    assert "An Exception was encountered" in out.cells[0].source  # papermill's banner, as ever
    kernel = int(_printed(tmp_path / "warm.ipynb", "PID"))
    assert _gone(kernel)
    assert _children(_zygote_pid()) == []


def test_consecutive_runs_get_fresh_kernels(tmp_path):
    src = _notebook(
        tmp_path / "state.ipynb",
        "import os, random, numpy, kit.params\nprint('PIDS', os.getpid(), os.getppid())\n"
        "print('DRAWS', numpy.random.random(), random.random())",
        "print('SEEN', 'leak' in globals(), getattr(kit.params, '_touched', 0))",
        "leak = x\nkit.params._touched = 1",
        parameters="x = 0",
    )
    pids, draws = [], []
    for i in (1, 2):
        kernels.execute_notebook_warm(src, tmp_path / f"out{i}.ipynb", parameters={"x": i}, progress_bar=False)
        kernel, parent = map(int, _printed(tmp_path / f"out{i}.ipynb", "PIDS").split())
        assert parent == _zygote_pid()  # the same zygote forks both
        assert _printed(tmp_path / f"out{i}.ipynb", "SEEN") == "False 0"  # run 1's names and module state did not leak
        assert _gone(kernel)
        pids.append(kernel)
        draws.append(_printed(tmp_path / f"out{i}.ipynb", "DRAWS").split())
    assert pids[0] != pids[1]
    # Unseeded global generators are seeded afresh, as in a new process, not copied from the zygote.
    assert draws[0][0] != draws[1][0] and draws[0][1] != draws[1][1]
    assert _children(_zygote_pid()) == []


def test_timed_out_cell_is_interrupted_and_its_kernel_stopped(tmp_path):
    from nbclient.exceptions import CellTimeoutError

    src = _notebook(tmp_path / "slow.ipynb", "import os, time\nprint('PID', os.getpid())", "time.sleep(60)")
    t0 = time.perf_counter()
    with pytest.raises(CellTimeoutError):
        kernels.execute_notebook_warm(src, tmp_path / "out.ipynb", progress_bar=False, execution_timeout=1)
    assert time.perf_counter() - t0 < 20  # the sleeping kernel was interrupted, not waited for
    assert _gone(int(_printed(tmp_path / "out.ipynb", "PID")))
    assert _children(_zygote_pid()) == []


def test_kernel_stuck_at_exit_is_terminated(tmp_path):
    src = _notebook(
        tmp_path / "stuck.ipynb",
        "import atexit, os, time\nprint('PID', os.getpid())\n"
        "atexit.register(time.sleep, 60)  # the kernel's exit hangs",
    )
    kernels.get_zygote()  # started (imports done) before the clock runs, whatever ran before this test
    t0 = time.perf_counter()
    kernels.execute_notebook_warm(src, tmp_path / "out.ipynb", progress_bar=False)
    # SIGTERM after 1 s (WarmKernelManager), not the 60 s of sleep; generous for a loaded machine.
    assert time.perf_counter() - t0 < 40
    assert _gone(int(_printed(tmp_path / "out.ipynb", "PID")))
    assert _children(_zygote_pid()) == []


def test_switched_off_by_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CRMKIT_WARM_KERNELS", "0")
    src = _notebook(tmp_path / "nb.ipynb", "import os\nprint('PPID', os.getppid())")
    kernels.execute_notebook_warm(src, tmp_path / "out.ipynb", progress_bar=False)
    assert int(_printed(tmp_path / "out.ipynb", "PPID")) == os.getpid()  # a plain kernel, started by us


def test_unsupported_platform_falls_back_and_says_so_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kernels, "_disabled", None)
    monkeypatch.setattr(kernels, "_unsupported", lambda: "fork servers need Linux, this is darwin")
    src = _notebook(tmp_path / "nb.ipynb", "import os\nprint('PPID', os.getppid())")
    kernels.execute_notebook_warm(src, tmp_path / "out.ipynb", progress_bar=False)
    assert int(_printed(tmp_path / "out.ipynb", "PPID")) == os.getpid()
    assert not kernels.warm_enabled()
    assert capsys.readouterr().err == (
        "crmkit: warm kernels are off (fork servers need Linux, this is darwin); each run starts a plain kernel\n"
    )


KILLED_RUNNER = """
import sys
from kit.execution.kernels import execute_notebook_warm
execute_notebook_warm(sys.argv[1], sys.argv[2], progress_bar=False)
"""


@pytest.mark.slow
def test_no_process_outlives_a_killed_runner(tmp_path):
    pids = tmp_path / "pids.txt"
    src = _notebook(
        tmp_path / "hang.ipynb",
        f"import os, time\nopen({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{os.getppid()}}')\ntime.sleep(120)",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUNNER, str(src), str(tmp_path / "out.ipynb")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not (pids.exists() and pids.read_text()):
            time.sleep(0.1)
        assert proc.poll() is None, "the runner ended before its notebook started"
        kernel, zygote = map(int, pids.read_text().split())
        assert _ppid(zygote) == proc.pid and not _gone(kernel)  # runner -> zygote -> kernel
    finally:
        proc.send_signal(signal.SIGKILL)  # the runner alone: nothing can clean up after it
        proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and not (_gone(zygote) and _gone(kernel)):
        time.sleep(0.1)
    assert _gone(zygote) and _gone(kernel)


def test_shutdown_stops_the_zygote(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb", "import os\nprint('PPID', os.getppid())")
    kernels.execute_notebook_warm(src, tmp_path / "out.ipynb", progress_bar=False)
    zygote = kernels._current
    assert int(_printed(tmp_path / "out.ipynb", "PPID")) == zygote.pid
    kernels.shutdown()
    assert kernels._current is None and zygote.proc.poll() == 0


@pytest.mark.slow
def test_broken_zygote_falls_back_after_two_tries(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "site" / "pandas"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('pandas broken for the test')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))  # a new environment: a new zygote
    monkeypatch.setattr(kernels, "_disabled", None)
    monkeypatch.setattr(kernels, "_failures", 0)
    src = _notebook(tmp_path / "nb.ipynb", "import os\nprint('PPID', os.getppid())")
    kernels.execute_notebook_warm(src, tmp_path / "out.ipynb", progress_bar=False)
    assert int(_printed(tmp_path / "out.ipynb", "PPID")) == os.getpid()
    err = capsys.readouterr().err
    assert err.startswith(
        "crmkit: warm kernels are off (the zygote failed 2 times; last: ImportError: "
        "pandas broken for the test); each run starts a plain kernel\n"
    )
    assert kernels._current is None


def test_warming_the_zygotes_caches_starts_no_thread():
    """A process that forks must not have started thread pools it would hand half-alive to its kernels:
    `_warm_caches` only finds the native thread pools, counts cores and reads entry points. The process's
    native threads (/proc/self/task: OpenBLAS's and jemalloc's, started at import, count too) are the
    same before and after it, and its caches are filled."""
    code = textwrap.dedent(
        """
        import os, json
        from kit.execution import zygote
        for name in zygote.KERNEL_STACK + zygote.PRELOAD:
            __import__(name)
        before = sorted(os.listdir("/proc/self/task"))
        zygote._warm_caches()
        after = sorted(os.listdir("/proc/self/task"))
        from joblib.externals.loky.backend import context
        from sklearn.utils import parallel
        print(json.dumps({"before": before, "after": after, "cores": context.physical_cores_cache,
                          "controller": parallel._threadpool_controller is not None}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["after"] == got["before"]
    assert got["cores"] is not None and got["controller"]
