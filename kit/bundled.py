"""The studies and notebooks that ship with the kit.

In a source checkout they are the project's own ``studies/`` and ``notebooks/`` beside ``kit/``;
in an installed wheel they are package data under ``kit/_bundled/`` (pyproject.toml copies them
there at build time). `crmkit init` copies them into a new project folder, and a study file that
names no notebook runs the bundled experiment notebook.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
EXPERIMENT_NOTEBOOK = "notebooks/experiment.ipynb"


def bundled_root() -> Path:
    """The folder holding ``studies/`` and ``notebooks/``: package data when installed, else the checkout."""
    installed = _PACKAGE / "_bundled"
    return installed if installed.is_dir() else _PACKAGE.parent


def bundled(relative: str) -> Path:
    """A bundled file or folder, e.g. ``bundled("notebooks/experiment.ipynb")``."""
    return bundled_root() / relative


def bundled_studies() -> list[Path]:
    """The bundled study files (default, smoke, ...), sorted."""
    return sorted((bundled_root() / "studies").glob("*.yaml"))
