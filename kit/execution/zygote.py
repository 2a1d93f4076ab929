"""The zygote: one process that imports the kit's heavy modules once, then forks a fresh kernel per run.

A fresh ipykernel spends ~5 s importing pandas, scikit-learn, scipy, matplotlib and aif360 before a
run's ~1 s of work. The zygote pays those imports once; each run's kernel is a new process forked
from it, so it starts with the modules imported but with nothing else in common with the previous
run (its own memory, ZeroMQ context, IPython shell, working directory and environment).

The protocol is JSON messages over a Unix SOCK_SEQPACKET socket inherited from the parent
(`kit.execution.kernels` is the client side):

- zygote -> parent, once: ``{"ready": true, "pid": ..., "seconds": ...}`` or ``{"error": traceback}``;
- ``{"op": "fork", "argv": [...], "cwd": ..., "env": {...}}`` with the parent's stdout and stderr
  file descriptors attached -> ``{"pid": ...}``;
- ``{"op": "status", "pid": ...}`` -> ``{"returncode": None | int}`` (None while it runs; then the
  exit code, with ``maxrss_kib`` and ``cpu_seconds``: the kernel's peak resident memory and CPU time
  from wait4);
- ``{"op": "signal", "pid": ..., "signum": ...}`` -> ``{"sent": bool}``.

The zygote exits, killing any kernel still running, when the parent closes the socket or dies.
Everything here uses the standard library until the preloaded imports; nothing in the zygote may
create a ZeroMQ context, an event loop, an OpenMP thread pool or an IPython shell, because a forked
child would inherit them half-alive. The preloaded objects are moved out of the garbage collector's
reach (`gc.freeze`) before each fork: they live as long as the kernel anyway, and without it every
collection and the kernel's exit would touch, and so copy, all their memory pages (+0.5 s a run).
`gc.get_objects()` in a kernel therefore does not list them.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback

# What `python -m ipykernel_launcher` imports before any cell runs: the launcher itself, then, while
# the kernel starts, its debugger (debugpy, ~0.5 s here), IPython's extras and tornado's queues.
KERNEL_STACK = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.core.pylabtools",
    "IPython.extensions.storemagic",
    "tornado.gen",
    "tornado.locks",
    "tornado.queues",
    "tornado.platform.asyncio",
    "sqlite3",
)
# What the experiment notebook imports, in its order (import order decides, for instance, which
# warning filters survive kit.measures._aif360's `catch_warnings`), then what it imports later on first
# display or save. `kit.run` pulls in numpy, scipy and scikit-learn; aif360 (which imports
# matplotlib.pyplot) is imported by the first fairness measurement, after `kit.report.plots`, so it comes
# after `kit.report.plots` here too. Never `matplotlib_inline.backend_inline`: importing it outside a shell skips
# its one-time IPython set-up, and the forked kernel would then not show figures.
PRELOAD = (
    "IPython.display",
    "pandas",
    "kit.run",
    "kit.report.plots",
    "kit.report.run_page",  # the notebook imports its narrative helpers (jinja2 and its templates)
    "kit.params",
    "kit.population",
    "kit.measures._aif360",
    "matplotlib.backends.backend_agg",
    "pandas.io.formats.html",
    "pandas.io.formats.csvs",
    "pandas.io.formats.string",
    "pyarrow.parquet",
    "pyarrow.pandas_compat",
    "PIL.BmpImagePlugin",
    "PIL.GifImagePlugin",
    "PIL.JpegImagePlugin",
    "PIL.PpmImagePlugin",
)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
MAX_MESSAGE = 1 << 22
PR_SET_PDEATHSIG = 1


class _ShellAtImport:
    """What `get_ipython()` looks like to a module a notebook imports: a kernel's shell.

    pandas, for one, decides at import whether it runs in a terminal (``display.max_columns``
    0 there, 20 in a kernel) by looking for ``get_ipython().kernel``.
    """

    kernel = None


@contextlib.contextmanager
def _as_in_a_kernel():
    """Imports inside see what they would see when a notebook cell imports them.

    MPLBACKEND is the inline backend (ipykernel sets it before any cell runs, and matplotlib
    reads it at import), `get_ipython` is a builtin, and sys.stdout/sys.stderr are UTF-8 streams
    that are not terminals, like ipykernel's OutStream.
    """
    set_backend = not os.environ.get("MPLBACKEND")
    if set_backend:
        os.environ["MPLBACKEND"] = INLINE_BACKEND
    streams = sys.stdout, sys.stderr
    # Left open: a module that kept a reference writes, in a forked kernel, to the run's stdout/stderr.
    sys.stdout = open(1, "w", encoding="UTF-8", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="UTF-8", closefd=False, buffering=1)
    builtins.get_ipython = lambda: _ShellAtImport()
    try:
        yield
    finally:
        del builtins.get_ipython
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        if set_backend:
            del os.environ["MPLBACKEND"]


def preload() -> tuple[float, dict[str, str | None]]:
    """Import what a kernel and the notebook would, as they would.

    Returns the seconds taken and the environment changes the imports made (scikit-learn sets
    KMP_* variables, for one): a forked kernel applies them on top of its run's environment.
    """
    t0 = time.perf_counter()
    before = dict(os.environ)
    for name in KERNEL_STACK:
        importlib.import_module(name)
    with _as_in_a_kernel():
        for name in PRELOAD:
            importlib.import_module(name)
    if "matplotlib_inline.backend_inline" in sys.modules:
        raise RuntimeError("matplotlib_inline.backend_inline was imported in the zygote")
    from kit.measures.notices import syllable_counts
    from kit.records import versions

    versions()  # read once here (~45 ms), not in every kernel's save_run
    syllable_counts()  # the notices' syllable table (~0.2 s): read once here, not in every run's measure
    _warm_caches()
    after = dict(os.environ)
    changes: dict[str, str | None] = {k: v for k, v in after.items() if before.get(k) != v}
    changes.update({k: None for k in before if k not in after})
    return time.perf_counter() - t0, changes


def _warm_caches() -> None:
    """Fill, once, the caches that every kernel's first fit filled for itself (~50 ms a run).

    Native thread pools are found by scanning the process's ~300 loaded libraries (threadpoolctl:
    ~14 ms each time), once for the kit's single-thread limit and once for scikit-learn's; scikit-learn
    asks joblib for the number of physical cores, which runs ``lscpu`` in a subprocess (~22 ms). Finding
    the pools reads their settings and starts no thread (forking a process with live OpenMP threads is
    what must never happen here); the lscpu subprocess has exited before any fork. scikit-learn's first
    check of an array's feature names looks up narwhals' plugins among the installed packages' entry
    points (~7-11 ms): a scaler fitted on a two-row array and frame (numpy only, no thread) does that once.
    """
    import pandas as pd
    from joblib import cpu_count
    from sklearn.preprocessing import StandardScaler

    from kit.segmenters.base import _threadpools

    _threadpools()
    with contextlib.suppress(ImportError):  # scikit-learn's own controller: a private name, may move
        from sklearn.utils.parallel import _get_threadpool_controller

        _get_threadpool_controller()
    cpu_count(only_physical_cores=True)
    StandardScaler().fit(pd.DataFrame({"x": [0.0, 1.0]}))
    StandardScaler().fit(pd.DataFrame({"x": [0.0, 1.0]}).to_numpy())


def _send(sock: socket.socket, msg: dict) -> None:
    sock.sendall(json.dumps(msg).encode())


def _reap(children: dict[int, int | None], only: int | None = None, usage: dict[int, dict] | None = None) -> None:
    """Collect the exit status of finished kernels (so they do not linger as zombies), and what they
    used (`usage`: peak resident memory in KiB and CPU seconds, from wait4: the kernel's own)."""
    for pid in [only] if only is not None else list(children):
        if children.get(pid, 0) is not None:
            continue
        try:
            done, status, rusage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            children[pid] = -signal.SIGKILL  # already reaped elsewhere: status unknown
            continue
        if done:
            children[pid] = os.waitstatus_to_exitcode(status)
            if usage is not None:
                usage[pid] = {
                    "maxrss_kib": rusage.ru_maxrss,
                    "cpu_seconds": round(rusage.ru_utime + rusage.ru_stime, 3),
                }


def _signal(pid: int, signum: int) -> None:
    """Signal the kernel's process group (its own session), or the kernel alone if not yet a leader."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        os.kill(pid, signum)


def _kill_all(children: dict[int, int | None]) -> None:
    """On exit: kill the kernels still running and reap them."""
    for pid, code in children.items():
        if code is None:
            try:
                _signal(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for pid, code in children.items():
        if code is None:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def serve(fd: int) -> dict | None:
    """The zygote's loop. Returns only in a forked child: the request the child is to run."""
    sock = socket.socket(fileno=fd)
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Each kernel's parent is this process; ipykernel reads JPY_PARENT_PID when imported (the
    # default of IPKernelApp.parent_handle), so set it before the imports, as the launcher would.
    os.environ["JPY_PARENT_PID"] = str(os.getpid())
    try:
        seconds, env_changes = preload()
    except BaseException:
        _send(sock, {"error": traceback.format_exc()})
        raise SystemExit(1) from None
    gc.collect()  # leave the imports' garbage behind before freezing what remains
    _send(sock, {"ready": True, "pid": os.getpid(), "seconds": round(seconds, 3)})
    children: dict[int, int | None] = {}
    usage: dict[int, dict] = {}
    while True:
        readable, _, _ = select.select([sock], [], [], 1.0)
        if os.getppid() != parent:  # the parent died without closing the socket's other copies
            break
        if not readable:
            _reap(children, usage=usage)
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
        if not data:  # the parent closed its end, or exited
            break
        req = json.loads(data)
        op = req.get("op")
        if op == "fork":
            sys.stdout.flush()
            sys.stderr.flush()
            gc.freeze()  # see the module's docstring
            me = os.getpid()
            try:
                pid = os.fork()
            except OSError as exc:
                pid = -1
                _send(sock, {"error": f"fork failed: {exc}"})
            if pid == 0:
                try:
                    _become_kernel(sock, req, fds, env_changes, parent=me)
                except BaseException:  # never back into the zygote's loop
                    traceback.print_exc()
                    os._exit(1)
                return req
            for f in fds:
                os.close(f)
            if pid > 0:
                children[pid] = None
                _send(sock, {"pid": pid})
        elif op == "status":
            pid = int(req["pid"])
            _reap(children, only=pid, usage=usage)
            _send(
                sock,
                {
                    "returncode": children.get(pid, -signal.SIGKILL),
                    "known": pid in children,
                    **usage.get(pid, {}),
                },
            )
        elif op == "signal":
            pid = int(req["pid"])
            _reap(children, only=pid, usage=usage)
            sent = pid in children and children[pid] is None  # unreaped: the pid cannot be reused yet
            if sent:
                _signal(pid, int(req["signum"]))
            _send(sock, {"sent": sent})
        else:
            _send(sock, {"error": f"unknown op {op!r}"})
        _reap(children, usage=usage)
    _kill_all(children)
    raise SystemExit(0)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the zygote) dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # ipykernel's parent poller (JPY_PARENT_PID) still ends the kernel within a second


WATCHDOG_INTERVAL = 0.5  # seconds between a worker's looks at its parent


def die_with_parent(parent: int) -> None:
    """Make this process (a runner's pool worker) end as soon as `parent` dies, even by SIGKILL.

    PR_SET_PDEATHSIG does it at once on Linux, but fires when the parent *thread* that started us
    ends; a watchdog thread that looks at getppid() twice a second covers that and other systems.
    The worker's zygote sees the worker go and kills its kernels, so nothing is left running.
    """
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_INTERVAL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="crmkit-parent-watchdog", daemon=True).start()


def _become_kernel(
    sock: socket.socket, req: dict, fds: list[int], env_changes: dict[str, str | None], parent: int
) -> None:
    """In the forked child: turn into what `python -m ipykernel_launcher ARGV` would be at its start."""
    sock.close()
    os.setsid()  # its own process group, as jupyter_client starts kernels (interrupts reach it all)
    _die_with_parent()
    if os.getppid() != parent:  # the zygote died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out, err = fds
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    for key, value in env_changes.items():  # what the preloaded imports did to the environment
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    os.environ["JPY_PARENT_PID"] = str(parent)  # ipykernel exits when its parent changes
    # A fresh process seeds numpy's legacy global generator from OS entropy; a forked one would
    # share the zygote's state with every sibling. (`random` reseeds itself after fork.)
    import numpy as np

    np.random.seed()
    sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, *req["argv"]]


def main(fd: int) -> None:
    """Entry point: serve as the zygote; in a forked child, run the kernel and exit normally."""
    req = serve(fd)
    assert req is not None
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


BOOT = (
    "import sys, os\n"
    "if sys.path and (sys.path[0] == '' or os.path.abspath(sys.path[0]) == os.getcwd()):\n"
    "    del sys.path[0]  # as ipykernel_launcher does; the kernel adds '' back\n"
    "from kit.execution.zygote import main\n"
    "main(int(sys.argv[1]))\n"
)
