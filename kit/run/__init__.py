"""One run end to end: validated parameters (`params`) -> population -> segments -> targeting ->
measurements (`pipeline`), its saved results (`save`) and the tables its notebook shows (`tables`)."""

from .params import NOTEBOOK_NAMES, PARAMETER_NAMES, RunParams, validate_notebook, validate_run
from .pipeline import (
    RunResult,
    build_population,
    fit_segmenter,
    measure,
    reference_decisions,
    run_experiment,
    stage_int,
    stage_seed,
    target,
)
from .save import save_run
from .tables import metrics_table, population_summary, segment_table

__all__ = [
    "NOTEBOOK_NAMES",
    "PARAMETER_NAMES",
    "RunParams",
    "RunResult",
    "build_population",
    "fit_segmenter",
    "measure",
    "metrics_table",
    "population_summary",
    "reference_decisions",
    "run_experiment",
    "save_run",
    "segment_table",
    "stage_int",
    "stage_seed",
    "target",
    "validate_notebook",
    "validate_run",
]
