"""A papermill engine that writes the output notebook once, when execution ends (not after every cell)."""

from __future__ import annotations

from typing import Any

_ENGINE = "crmkit-save-at-end"


def _register_engine() -> str:
    """Register `SaveAtEndEngine` with papermill (once) and return its name."""
    from papermill.engines import papermill_engines

    if _ENGINE not in papermill_engines._engines:
        papermill_engines.register(_ENGINE, _save_at_end_engine())
    return _ENGINE


def _save_at_end_engine() -> type:
    """papermill's nbclient engine, writing the output notebook once, when execution ends.

    papermill writes it before and after every cell (46 writes of up to 160 KB for the experiment
    notebook) so that a crashed run leaves a partial notebook; here the manager's final save, which
    papermill makes in a ``finally`` (a failing or timed-out cell, a dead kernel), still does.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager

    class SaveAtEndManager(NotebookExecutionManager):
        final = False

        def save(self, **kwargs: Any) -> None:
            if self.final:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs: Any) -> None:
            self.final = True
            super().notebook_complete(**kwargs)

    class SaveAtEndEngine(NBClientEngine):
        @classmethod
        def execute_notebook(
            cls,
            nb,
            kernel_name,
            output_path=None,
            progress_bar=True,
            log_output=False,
            autosave_cell_every=30,
            **kwargs,
        ):  # papermill's Engine.execute_notebook
            nb_man = SaveAtEndManager(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    return SaveAtEndEngine
