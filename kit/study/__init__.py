"""Studies: study files loaded, validated and expanded into runs (`spec`, the only grid expander),
and in-notebook sweeps over the same expansion (`sweep`)."""

from .spec import STUDY_KEYS, RunSpec, Study, StudyError, approach_label, load_study, run_id

__all__ = ["STUDY_KEYS", "RunSpec", "Study", "StudyError", "approach_label", "load_study", "run_id"]
