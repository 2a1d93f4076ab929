"""Import aif360 without its noise.

aif360 0.6.1 logs "No module named 'tensorflow'" style warnings through the root logger at import,
and that module-level `logging.warning()` installs a stray stderr handler on the root logger. Around
the import we save the root logger's handlers and level, silence it, import, then restore both, so
nothing reaches a notebook or a report and later logging configuration still works.
"""

from __future__ import annotations

import logging
import warnings


def _quiet_import():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = [logging.NullHandler()]
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from aif360.datasets import BinaryLabelDataset
            from aif360.metrics import ClassificationMetric
    finally:
        root.handlers = handlers
        root.setLevel(level)
    return BinaryLabelDataset, ClassificationMetric


BinaryLabelDataset, ClassificationMetric = _quiet_import()
