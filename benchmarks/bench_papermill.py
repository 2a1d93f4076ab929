"""One run through papermill against a trivial notebook through papermill (10k customers).

The trivial notebook has a parameters cell and one cell; both are executed in-process by
papermill with a fresh kernel each time, so the ratio is what the kit adds to papermill's own cost.
Target: the kit's run takes at most 1.5 x the trivial notebook's time.

Then the same with warm kernels (`kit.execution.kernels`, what `crmkit run` uses): each run's kernel is forked
from a zygote that imported the kit once. The first warm run pays for starting the zygote; the
steady state is what every later run of a study costs. The ratios divide by the trivial
notebook through plain papermill, as above.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import median_time, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(repeats: int = 3) -> str:
    import nbformat
    import papermill as pm

    tmp = Path(tempfile.mkdtemp())
    trivial = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("x: int = 1  # a parameter")
    p.metadata["tags"] = ["parameters"]
    trivial.cells = [p, nbformat.v4.new_code_cell("y = x + 1")]
    trivial.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(trivial, tmp / "trivial.ipynb")

    def run_trivial():
        pm.execute_notebook(
            str(tmp / "trivial.ipynb"),
            str(tmp / "t_out.ipynb"),
            parameters={"x": 2},
            progress_bar=False,
            kernel_name="python3",
        )

    def run_kit():
        pm.execute_notebook(
            str(ROOT / "notebooks" / "experiment.ipynb"),
            str(tmp / "k_out.ipynb"),
            parameters={"approach": "kmeans", "n_customers": 10_000, "output_dir": str(tmp / "run")},
            progress_bar=False,
            kernel_name="python3",
        )

    def run_kit_warm():
        kernels.execute_notebook_warm(
            ROOT / "notebooks" / "experiment.ipynb",
            tmp / "w_out.ipynb",
            progress_bar=False,
            parameters={"approach": "kmeans", "n_customers": 10_000, "output_dir": str(tmp / "wrun")},
        )

    def run_trivial_warm():
        kernels.execute_notebook_warm(
            tmp / "trivial.ipynb", tmp / "tw_out.ipynb", parameters={"x": 2}, progress_bar=False
        )

    from kit.execution import kernels

    run_trivial()  # warm the file cache once, for both
    t_triv, _ = median_time(run_trivial, repeats)
    t_kit, _ = median_time(run_kit, repeats)
    t_first, _ = median_time(run_kit_warm, 1)  # no zygote yet: this one starts it
    assert kernels.warm_enabled() and kernels._current is not None, "warm kernels did not start"
    t_warm, _ = median_time(run_kit_warm, repeats)
    t_triv_warm, _ = median_time(run_trivial_warm, repeats)
    rows = [
        {"what": "trivial notebook (papermill)", "median s": f"{t_triv:.2f}"},
        {"what": "experiment notebook, kmeans, 10k customers", "median s": f"{t_kit:.2f}"},
        {"what": "ratio (target <= 1.5)", "median s": f"{t_kit / t_triv:.2f}"},
        {"what": "experiment notebook, warm kernel, first run (starts the zygote)", "median s": f"{t_first:.2f}"},
        {
            "what": "of which the zygote's imports (once per runner process)",
            "median s": f"{kernels._current.import_seconds:.2f}",
        },
        {"what": "experiment notebook, warm kernel, later runs", "median s": f"{t_warm:.2f}"},
        {"what": "ratio, warm kernel (target <= 1.5)", "median s": f"{t_warm / t_triv:.2f}"},
        {"what": "trivial notebook, warm kernel (papermill's own floor)", "median s": f"{t_triv_warm:.2f}"},
    ]
    return "## One run through papermill vs a trivial notebook\n\n" + table(rows, ["what", "median s"])


if __name__ == "__main__":
    print(main())
