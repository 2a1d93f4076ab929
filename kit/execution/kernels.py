"""Warm kernels: each papermill run gets a fresh kernel forked from a process that already imported the kit.

A run's kernel used to spend ~5 s importing pandas, scikit-learn, scipy, matplotlib and aif360 for
~1 s of work. Here a *zygote* process (`kit.execution.zygote`), started once per runner process, imports them
once; for every run it forks a new process that becomes the kernel, exactly as
``python -m ipykernel_launcher -f CONNECTION_FILE`` would, in the run's working directory and with
the run's environment. Each run still has a process of its own: nothing a notebook defines or
changes reaches the next run.

How it plugs into papermill: papermill hands its keyword arguments to nbclient, whose
``kernel_manager_class`` we set to `WarmKernelManager`. That manager uses `ZygoteProvisioner`,
which asks the zygote to fork instead of starting ``python -m ipykernel_launcher``, and polls,
signals and kills that child through the zygote. nbclient owns the manager as usual, so it shuts
the kernel down after the run, also when a cell fails.

Life cycle: the zygote starts lazily on the first run and lives as long as the process that
started it: it exits when that process closes the socket (at exit) or dies (even by SIGKILL), and
kills any kernel still running; a forked kernel also dies with the zygote (PR_SET_PDEATHSIG) and,
failing that, by ipykernel's own parent poller.

What a forked kernel shares with its siblings: the modules the zygote imported, as they were
after import (the zygote imports them the way a notebook cell would: inside a kernel-like context,
see `kit.execution.zygote`), and Python's string-hash seed. It gets its own numpy legacy global seed and
`random` state, as a fresh process would. Unnamed threads may be numbered differently ("Thread-2"
for "Thread-1"): the zygote's imports create a Thread object earlier than a fresh kernel does.
The kit's code is the code as it was when the zygote started: edits made during a study reach the
next runner process, not the next run.

Fallback: where fork servers are not available (not Linux), or when the zygote fails twice,
runs go through plain papermill and one line on stderr says so. ``CRMKIT_WARM_KERNELS=0`` turns
warm kernels off.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

from . import zygote as server
from .engine import _register_engine
from .kernel_client import WarmKernelClient

ENV_SWITCH = "CRMKIT_WARM_KERNELS"
# Variables that differ between runs of one process without changing what an import does.
VOLATILE_ENV = frozenset({"PYTEST_CURRENT_TEST", "JPY_PARENT_PID", "JPY_SESSION_NAME", "PYTHONEXECUTABLE"})
READY_TIMEOUT = 300.0  # the zygote's imports take ~5 s; a loaded machine may take much longer
REQUEST_TIMEOUT = 30.0
MAX_ZYGOTE_FAILURES = 2
SHUTDOWN_WAIT_TIME = 2.0  # SIGTERM after half of it, SIGKILL after all of it (see WarmKernelManager)


class ZygoteError(RuntimeError):
    """The zygote could not be started, or stopped answering."""


class Zygote:
    """A running zygote process and the socket to talk to it (one request at a time)."""

    def __init__(self, env: dict[str, str]):
        self.env = dict(env)
        self.owner = os.getpid()
        self.pid: int | None = None
        self.import_seconds: float | None = None
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", server.BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self.env,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.ready = False
        self.broken = False

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until the zygote finished its imports; ZygoteError if they failed."""
        with self._lock:
            if self.ready:
                return
            self.sock.settimeout(timeout)
            msg = self._receive()
            self.sock.settimeout(REQUEST_TIMEOUT)
            self.pid = int(msg["pid"])
            self.import_seconds = float(msg["seconds"])
            self.ready = True

    def _receive(self) -> dict:
        try:
            data = self.sock.recv(server.MAX_MESSAGE)
            if not data:
                raise ZygoteError(f"the zygote exited (exit status {self.proc.poll()})")
            msg = json.loads(data)
        except (OSError, ValueError, ZygoteError) as exc:
            self.broken = True  # a late answer would be taken for the next one's: never ask again
            if isinstance(exc, ZygoteError):
                raise
            raise ZygoteError(f"no answer from the zygote: {type(exc).__name__}: {exc}") from exc
        if "error" in msg:
            raise ZygoteError(f"the zygote failed:\n{msg['error']}")
        return msg

    def request(self, msg: dict, fds: tuple[int, ...] = ()) -> dict:
        """Send one request and return the answer."""
        self.wait_ready()
        data = json.dumps(msg).encode()
        with self._lock:
            if self.broken:
                raise ZygoteError("the zygote stopped answering earlier")
            try:
                if fds:
                    socket.send_fds(self.sock, [data], list(fds))
                else:
                    self.sock.send(data)
            except OSError as exc:
                self.broken = True
                raise ZygoteError(f"cannot reach the zygote: {type(exc).__name__}: {exc}") from exc
            return self._receive()

    def fork(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        """A new kernel process running ipykernel with `argv`; its stdout/stderr are ours right now."""
        return int(self.request({"op": "fork", "argv": argv, "cwd": cwd, "env": env}, fds=(1, 2))["pid"])

    def status(self, pid: int) -> int | None:
        """None while the kernel `pid` runs, then its exit code (negative: killed by that signal)."""
        return self.request({"op": "status", "pid": pid})["returncode"]

    def exit_info(self, pid: int) -> dict:
        """The kernel's exit code (None while it runs) and, once it exited, its peak RSS in KiB and CPU seconds."""
        return self.request({"op": "status", "pid": pid})

    def signal(self, pid: int, signum: int) -> bool:
        """Send `signum` to the kernel's process group; False if it had already exited."""
        return bool(self.request({"op": "signal", "pid": pid, "signum": int(signum)})["sent"])

    def alive(self) -> bool:
        """Running and still in step with us."""
        return not self.broken and self.proc.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        """Close the socket (the zygote then kills its kernels and exits) and wait for it."""
        self.sock.close()
        if self.owner != os.getpid():
            return  # a forked copy of the owner: the zygote is not ours to wait for
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- The process's zygote ---------------------------------------------------------------------

_lock = threading.RLock()
_current: Zygote | None = None
_failures = 0
_disabled: str | None = None


def _unsupported() -> str | None:
    """Why fork servers cannot work here, or None."""
    if not sys.platform.startswith("linux"):
        return f"fork servers need Linux, this is {sys.platform}"
    if not (hasattr(os, "fork") and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET")):
        return "this Python has no fork or no file-descriptor passing"
    return None


def warm_enabled() -> bool:
    """Whether runs use warm kernels: not switched off, supported here, and the zygote not broken."""
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return False
    reason = _unsupported()
    if reason is not None:
        _disable(reason)
    return _disabled is None


def _disable(reason: str) -> None:
    """Turn warm kernels off for this process and say so, once, on stderr."""
    global _disabled
    if _disabled is None:
        _disabled = reason
        print(f"crmkit: warm kernels are off ({reason}); each run starts a plain kernel", file=sys.stderr, flush=True)


def _import_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in VOLATILE_ENV}


def _zygote_failed(zygote: Zygote | None, exc: BaseException) -> None:
    """Drop the broken zygote; after MAX_ZYGOTE_FAILURES, stop trying in this process."""
    global _current, _failures
    with _lock:
        if zygote is not None and zygote is _current:
            _current.close(timeout=2.0)
            _current = None
        _failures += 1
        if _failures >= MAX_ZYGOTE_FAILURES:
            _disable(f"the zygote failed {_failures} times; last: {str(exc).strip().splitlines()[-1][:300]}")


def start_zygote(env: dict[str, str] | None = None) -> Zygote | None:
    """Make sure a zygote for `env` (default: os.environ) is starting; do not wait for it.

    An existing zygote is replaced when it died, belongs to the process this one was forked from,
    or was started with an environment that differs in anything an import could read.
    """
    global _current
    env = dict(os.environ if env is None else env)
    with _lock:
        if not warm_enabled():
            return None
        z = _current
        if z is not None and (z.owner != os.getpid() or not z.alive() or _import_env(z.env) != _import_env(env)):
            z.close(timeout=2.0)
            _current = z = None
        if z is None:
            try:
                _current = z = Zygote(env)
            except OSError as exc:
                _zygote_failed(None, exc)
                return None
        return z


def get_zygote(env: dict[str, str] | None = None) -> Zygote | None:
    """The ready zygote for `env` (started if needed), or None when warm kernels are off."""
    for _ in range(MAX_ZYGOTE_FAILURES):
        z = start_zygote(env)
        if z is None:
            return None
        try:
            z.wait_ready()
            return z
        except ZygoteError as exc:
            _zygote_failed(z, exc)
    return None


def shutdown() -> None:
    """Stop this process's zygote and any kernel it still runs (registered with atexit)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
            _current = None


atexit.register(shutdown)


# --- jupyter_client side ------------------------------------------------------------------------


def _kernel_args(cmd: list[str]) -> list[str] | None:
    """The ipykernel arguments of `cmd` if it is ``<this python> -m ipykernel_launcher ...``, else None."""
    if (
        len(cmd) >= 3
        and cmd[1:3] == ["-m", "ipykernel_launcher"]
        and os.path.abspath(cmd[0]) == os.path.abspath(sys.executable)
    ):
        return list(cmd[3:])
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ZygoteProvisioner(LocalProvisioner):
    """A local provisioner whose kernels are forked by the zygote.

    Anything that is not this interpreter's ipykernel, or a zygote that fails to fork, falls back
    to LocalProvisioner's own Popen launch (and then every method below defers to it).
    """

    zygote: Zygote | None = None
    zpid: int | None = None

    @property
    def has_process(self) -> bool:
        return self.process is not None or self.zpid is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        args = _kernel_args(cmd)
        env = kwargs.get("env") or dict(os.environ)
        zyg = get_zygote(env) if args is not None else None
        if zyg is None:
            return await super().launch_kernel(cmd, **kwargs)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            self.zpid = zyg.fork(args, cwd, env)
        except ZygoteError as exc:
            _zygote_failed(zyg, exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.zygote = zyg
        self.pid = self.pgid = self.zpid
        self.cwd = cwd
        return self.connection_info

    async def poll(self) -> int | None:
        if self.zpid is None:
            return await super().poll()
        try:
            info = self.zygote.exit_info(self.zpid)
        except ZygoteError:  # the zygote is gone, and with it (PR_SET_PDEATHSIG) its kernels
            return None if _pid_alive(self.zpid) else -signal.SIGKILL
        if info.get("maxrss_kib") is not None and isinstance(getattr(self.parent, "run_stats", None), dict):
            self.parent.run_stats["peak_rss_mib"] = round(info["maxrss_kib"] / 1024, 1)
            self.parent.run_stats["kernel_cpu_seconds"] = info["cpu_seconds"]
        return info["returncode"]

    async def wait(self) -> int | None:
        if self.zpid is None:
            return await super().wait()
        import asyncio

        while (ret := await self.poll()) is None:
            await asyncio.sleep(0.05)
        self.zpid = None
        return ret

    async def send_signal(self, signum: int) -> None:
        if self.zpid is None:
            return await super().send_signal(signum)
        try:
            self.zygote.signal(self.zpid, signum)
        except ZygoteError:
            try:
                os.killpg(self.zpid, signum)
            except ProcessLookupError:
                pass

    async def kill(self, restart: bool = False) -> None:
        if self.zpid is None:
            return await super().kill(restart=restart)
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        if self.zpid is None:
            return await super().terminate(restart=restart)
        await self.send_signal(signal.SIGTERM)


class WarmKernelManager(AsyncKernelManager):
    """nbclient's usual async kernel manager, with kernels from the zygote.

    One difference: a kernel that has not exited 1 s after the shutdown request gets SIGTERM
    (jupyter_client's default waits 2.5 s). ipykernel 7.4 has a shutdown race (its control thread
    flushes output through the IOPub thread that the main thread has just stopped, and waits for
    it) that leaves about one kernel in four hanging until that SIGTERM, with plain kernels too.
    By then the notebook has finished and its outputs are in; a kernel that exits normally takes
    0.1-0.2 s here.
    """

    run_stats: dict | None = None  # filled with the kernel's peak_rss_mib when it has exited

    @default("shutdown_wait_time")
    def _shutdown_wait_time_default(self) -> float:
        return SHUTDOWN_WAIT_TIME

    @default("client_class")
    def _client_class_default(self) -> str:
        return f"{__name__}.WarmKernelClient"

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return WarmKernelClient

    async def _async_wait(self, pollinterval: float = 0.01) -> None:
        # jupyter_client polls a dying kernel every 0.1 s; a killed kernel is gone within ~10 ms
        await super()._async_wait(pollinterval)

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def execute_notebook_warm(
    input_path: str | Path,
    output_path: str | Path,
    parameters: dict | None = None,
    cwd: str | Path | None = None,
    kernel_name: str = "python3",
    stats: dict | None = None,
    **kwargs: Any,
):
    """`papermill.execute_notebook` with the kernel forked from this process's zygote.

    Same arguments, result and exceptions as papermill's (a failing cell raises
    PapermillExecutionError after writing the partly executed notebook). Falls back to plain
    papermill when warm kernels are off.

    Two defaults differ from papermill's, to spare each run ~0.3-0.5 s that is not its work: the
    output notebook is written when execution ends (also when a cell fails or times out, or the
    kernel dies), not before and after every cell (`SaveAtEndEngine`); and once the last cell's
    outputs are in, the kernel is killed rather than asked to shut down
    (``shutdown_kernel="immediate"``; ipykernel's clean exit takes 0.1-0.2 s, or 1 s when its
    shutdown race hits). Pass ``engine_name="nbclient"`` or ``shutdown_kernel="graceful"`` to get
    papermill's behaviour back (a notebook that needs its kernel's exit: an ``atexit`` hook).

    `stats`, if given, receives the kernel's ``peak_rss_mib`` (its maximum resident set) and
    ``kernel_cpu_seconds`` (user + system), from the zygote's wait4; absent when warm kernels are off.
    """
    warm = warm_enabled() and start_zygote() is not None  # the zygote imports while we import papermill
    import papermill as pm

    if warm and get_zygote() is not None:
        kwargs["kernel_manager_class"] = type("WarmKernelManager", (WarmKernelManager,), {"run_stats": stats})
        kwargs.setdefault("shutdown_kernel", "immediate")
        kwargs.setdefault("engine_name", _register_engine())
    return pm.execute_notebook(
        str(input_path),
        str(output_path) if output_path is not None else None,
        parameters=parameters,
        kernel_name=kernel_name,
        cwd=str(cwd) if cwd is not None else None,
        **kwargs,
    )
