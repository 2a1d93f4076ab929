"""Progress of a study on the terminal: runs done, failed, and an honest estimate of the time left."""

from __future__ import annotations

import math
import statistics
import sys

from ..records import OK


class Progress:
    """A progress bar with time left on a terminal; plain log lines otherwise.

    Time left is the median seconds of the runs finished so far times the rounds still to go
    (remaining runs / jobs): honest from the first run on, where elapsed / done * remaining counted
    the kernels' start-up of the first runs against every later run.
    """

    def __init__(self, total: int, stream=None, jobs: int = 1):
        self.total = total
        self.done = 0
        self.jobs = max(1, jobs)
        self.seconds: list[float] = []
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = None
        if self.tty and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", file=self.stream, dynamic_ncols=True)

    def left(self) -> float:
        """Seconds still to go: median run time x rounds of `jobs` runs left."""
        if not self.seconds:
            return math.nan
        return statistics.median(self.seconds) * -(-(self.total - self.done) // self.jobs)

    def update(self, rec: dict) -> None:
        self.done += 1
        if rec["status"] == OK:
            self.seconds.append(float(rec["seconds"]))
        msg = f"{rec['label']} seed={rec['seed']}: {rec['status']} ({rec['seconds']:.1f} s)"
        if rec["status"] != OK:
            msg += f" - {str(rec['error']).splitlines()[0][:200]}"
        if self.bar is not None:
            self.bar.set_postfix_str(msg[:60])
            self.bar.update(1)
            if rec["status"] != OK:
                self.bar.write(f"FAILED {msg}")
        else:
            left = self.left()
            when = "" if math.isnan(left) else f"; about {left:.0f} s left"
            print(f"[{self.done}/{self.total}] {msg}{when}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
