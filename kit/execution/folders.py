"""A study's output folder: one owner at a time, claimed by marker, left clean, errors of the
environment told in one line.

- `FolderLock`: an advisory lock (flock) on ``<out>/.crmkit.lock``. `crmkit run` and `crmkit
  report` hold it exclusively, `crmkit verify` shared; a second owner gets `FolderBusy` naming the
  holder's pid. The kernel drops the lock when its holder dies, even by SIGKILL.
- `claim_study_folder`: a study folder carries the marker ``.crmkit-study``; a non-empty folder
  without it (nor the runs/ and study.yaml of an older kit's study) is refused, so `--out` never
  writes into a folder of the user's. A folder of studies (``reports/``) gets ``.crmkit-reports``
  only when the kit created it, and only there is the studies index written.
- `place_run_folder`: a finished run's folder swaps in for the previous one in one rename
  (renameat2 RENAME_EXCHANGE), so a good result is never deleted before its replacement is there.
- `environment_problem`: no space, read-only, permission denied, also when the kernel met it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import threading
import time
from pathlib import Path

from ..records import REPORTS_MARKER, STUDY_MARKER

LOCK_NAME = ".crmkit.lock"
MSG_BUSY = "{path} is in use by another crmkit process (pid {pid}); wait for it to finish, or stop it"
MSG_NOT_OURS = "{path} exists and is not a crmkit study folder (no {marker}); choose a new or empty folder with --out"
# Errors of the machine, not of the study: they end the command with exit status 3.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
HINTS = {
    errno.ENOSPC: "free some space, then run the same command again (finished runs are kept)",
    errno.EDQUOT: "free some space, then run the same command again (finished runs are kept)",
    errno.EROFS: "the folder is read-only; choose another with --out",
    errno.EACCES: "no permission to write there; choose another folder with --out",
    errno.EPERM: "no permission to write there; choose another folder with --out",
    errno.EFBIG: "a file grew past the size this system allows",
}
_KERNEL_OSERROR = re.compile(r"\[Errno (\d+)\] ([^:\n]+?)(?:: '([^'\n]*)')?\s*$", re.M)
_TMP_NAME = re.compile(r"^\.(.+)\.\d+\.[0-9a-f]+\.tmp$")


class FolderBusy(Exception):
    """Another crmkit process holds the folder's lock."""

    def __init__(self, path: str, pid: str):
        super().__init__(path, pid)
        self.path, self.pid = path, pid

    def __str__(self) -> str:
        return MSG_BUSY.format(path=self.path, pid=self.pid)


class NotAStudyFolder(Exception):
    """`--out` names a folder with other content than a study's."""

    def __str__(self) -> str:
        return MSG_NOT_OURS.format(path=self.args[0], marker=STUDY_MARKER)


class StudyInterrupted(Exception):
    """Ctrl-C (or SIGTERM) stopped the study; finished runs are kept, queued ones were cancelled."""

    def __init__(self, done: int, total: int):
        super().__init__(done, total)
        self.done, self.total = done, total

    def __str__(self) -> str:
        return f"interrupted: {self.done} of {self.total} runs finished and kept; run the same command again to resume"


class WorkerDied(Exception):
    """A pool worker was killed from outside; the study stopped, finished runs are kept."""

    def __str__(self) -> str:
        return "a worker process died (killed from outside?); finished runs are kept; run the same command again"


class EnvironmentProblem(Exception):
    """The machine refused a write (no space, read-only, permission); `path` and `cause` say which."""

    def __init__(self, path: str, cause: str, code: int | None = None):
        super().__init__(path, cause, code)
        self.path, self.cause, self.code = path, cause, code

    def __str__(self) -> str:
        hint = HINTS.get(self.code)
        return f"{self.path}: {self.cause}" + (f"; {hint}" if hint else "")


def _shown_path(path: str) -> str:
    """The file a write was for: `write_atomic`'s hidden temporary name -> the target's name."""
    p = Path(path)
    m = _TMP_NAME.match(p.name)
    return str(p.with_name(m.group(1))) if m else str(p)


def environment_problem(exc: BaseException) -> EnvironmentProblem | None:
    """The environment error behind `exc` (an OSError, or one a notebook cell raised), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, EnvironmentProblem):
            return exc
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            path = exc.filename if exc.filename is not None else "?"
            return EnvironmentProblem(_shown_path(os.fsdecode(path)), exc.strerror or str(exc), exc.errno)
        text = f"{getattr(exc, 'ename', '')}: {getattr(exc, 'evalue', '')}" if hasattr(exc, "evalue") else ""
        if "Error" in text:  # a cell raised it inside the kernel: only its text came back
            for m in _KERNEL_OSERROR.finditer(text):
                code = int(m.group(1))
                if code in ENVIRONMENT_ERRNOS:
                    return EnvironmentProblem(_shown_path(m.group(3) or "?"), m.group(2), code)
        exc = exc.__cause__ or exc.__context__
    return None


# --- Lock ----------------------------------------------------------------------------------------

_held: dict[str, list] = {}  # realpath -> [fd, count, shared]: re-entrant within one process
_held_lock = threading.Lock()


class FolderLock:
    """``with FolderLock(out):`` owns `out` (exclusively, or `shared`) or raises FolderBusy."""

    def __init__(self, folder: str | Path, shared: bool = False):
        self.folder = Path(folder)
        self.shared = shared
        self.key: str | None = None

    def __enter__(self) -> FolderLock:
        key = os.path.realpath(self.folder)
        with _held_lock:
            if key in _held:
                _held[key][1] += 1
                self.key = key
                return self
            fd = _open_lock_file(self.folder / LOCK_NAME)
            if fd is not None:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _wait_for_holder(fd)
                    os.close(fd)
                    raise FolderBusy(str(self.folder), holder) from None
                if not self.shared:
                    _write_holder(fd)
            _held[key] = [fd, 1, self.shared]
            self.key = key
        return self

    def __exit__(self, *exc) -> None:
        with _held_lock:
            entry = _held.get(self.key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                fd = entry[0]
                del _held[self.key]
                if fd is not None:
                    if not entry[2]:
                        _write_holder(fd, clear=True)
                    os.close(fd)  # releases the flock


def _open_lock_file(path: Path) -> int | None:
    """The lock file's descriptor; None where nothing can be written anyway (a read-only folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # flock works on a read-only descriptor
    except FileNotFoundError:
        return None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


HOLDER_WAIT = 0.5  # seconds a refused process waits for the lock's owner to write its pid


def _wait_for_holder(fd: int) -> str:
    """The pid of the process holding the lock, waiting up to `HOLDER_WAIT` for it to appear: the owner
    writes it just after taking the lock, so a process refused in between read an empty file and said
    "pid unknown" (seen once in 689 tests, two runners started together). "unknown" if it never
    appears (a shared holder writes none, or the owner is just letting go)."""
    deadline = time.monotonic() + HOLDER_WAIT
    while (holder := _read_holder(fd)) == "unknown" and time.monotonic() < deadline:
        time.sleep(0.01)
    return holder


def _write_holder(fd: int, clear: bool = False) -> None:
    try:
        os.ftruncate(fd, 0)
        if not clear:
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:  # read-only descriptor, or no space: the lock itself still holds
        pass


# --- Ownership and cleanliness -----------------------------------------------------------------


def claim_study_folder(out: Path, reports_default: bool = False) -> None:
    """Make `out` a study folder (creating it and its marker) or raise NotAStudyFolder.

    The parent gets the studies-index marker when this call creates it, or when it is the kit's
    default ``reports/`` folder (`reports_default`).
    """
    out = Path(out)
    parent_existed = out.parent.exists()
    if out.exists():
        if not out.is_dir():
            raise NotAStudyFolder(str(out))
        owned = (out / STUDY_MARKER).exists() or ((out / "runs").is_dir() and (out / "study.yaml").is_file())
        if not owned and any(p.name != LOCK_NAME for p in out.iterdir()):
            raise NotAStudyFolder(str(out))
    out.mkdir(parents=True, exist_ok=True)
    _touch(out / STUDY_MARKER)
    if not parent_existed or reports_default:
        _touch(out.parent / REPORTS_MARKER)


def _touch(path: Path) -> None:
    if path.exists():
        return
    try:
        path.write_bytes(b"")
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise


def clean_leftovers(out: Path) -> list[Path]:
    """Remove what an interrupted owner left: run work folders, swapped-out run folders, temporary files.

    Call only while holding the folder's lock: then nobody else is writing them.
    """
    out = Path(out)
    runs = out / "runs"
    gone = []
    for pattern in ("runs/.*.work", "runs/.*.old"):
        for p in out.glob(pattern):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    for folder in (out, runs, out / "figures"):
        for p in folder.glob(".*.tmp") if folder.is_dir() else []:
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL):  # no renameat2, or a filesystem without exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def place_run_folder(work: Path, final: Path) -> None:
    """Move a finished run's `work` folder to `final`, replacing what was there without a gap."""
    if not final.exists():
        os.replace(work, final)
        return
    if _exchange(work, final):
        shutil.rmtree(work, ignore_errors=True)  # now holds the previous run
        return
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(final, old)
    os.replace(work, final)
    shutil.rmtree(old, ignore_errors=True)
