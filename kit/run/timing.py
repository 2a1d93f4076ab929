"""How long a run spends in its science: population, fit, targeting, measurements.

`crmkit run` records, per run, the wall time of the whole papermill execution and (from here) the
time the kit's stages took inside the kernel, so a study shows what its runs cost beyond the work
itself (kernel start, notebook cells' display, saving). The stages are the pipeline functions; a
stage called inside another (the mass and oracle references that `measure` fits) counts as part of
the outer one. Building the population starts a run, so it starts a new record.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

SCIENCE_STAGES = ("population", "fit", "target", "measure")
STAGE_SECONDS: dict[str, float] = {}  # the current run's seconds per stage, in this process
_depth = 0

F = TypeVar("F", bound=Callable[..., Any])


def timed_stage(name: str) -> Callable[[F], F]:
    """Decorate a pipeline function: its outermost calls add their wall time to STAGE_SECONDS[name]."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            global _depth
            if _depth:
                return fn(*args, **kwargs)
            if name == SCIENCE_STAGES[0]:
                STAGE_SECONDS.clear()
            _depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                _depth -= 1
                STAGE_SECONDS[name] = STAGE_SECONDS.get(name, 0.0) + time.perf_counter() - t0

        return inner  # type: ignore[return-value]

    return wrap


def run_timings() -> dict:
    """The current run's stage times and their sum over the science stages, rounded to milliseconds."""
    stages = {k: round(v, 3) for k, v in STAGE_SECONDS.items()}
    return {
        "stage_seconds": stages,
        "science_seconds": round(sum(STAGE_SECONDS.get(k, 0.0) for k in SCIENCE_STAGES), 3),
    }
