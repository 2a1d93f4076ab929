"""One run through papermill against a trivial notebook through papermill (10k customers).

The trivial notebook has a parameters cell and one cell; both are executed in-process by
papermill with a fresh kernel each time, so the ratio is what the kit adds to papermill's own cost.
Target: the kit's run takes at most 1.5 x the trivial notebook's time.
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
        pm.execute_notebook(str(tmp / "trivial.ipynb"), str(tmp / "t_out.ipynb"), parameters={"x": 2},
                            progress_bar=False, kernel_name="python3")

    def run_kit():
        pm.execute_notebook(str(ROOT / "notebooks" / "experiment.ipynb"), str(tmp / "k_out.ipynb"),
                            parameters={"approach": "kmeans", "n_customers": 10_000, "output_dir": str(tmp / "run")},
                            progress_bar=False, kernel_name="python3")

    run_trivial()  # warm the file cache once, for both
    t_triv, _ = median_time(run_trivial, repeats)
    t_kit, _ = median_time(run_kit, repeats)
    rows = [{"what": "trivial notebook (papermill)", "median s": f"{t_triv:.2f}"},
            {"what": "experiment notebook, kmeans, 10k customers", "median s": f"{t_kit:.2f}"},
            {"what": "ratio (target <= 1.5)", "median s": f"{t_kit / t_triv:.2f}"}]
    return "## One run through papermill vs a trivial notebook\n\n" + table(rows, ["what", "median s"])


if __name__ == "__main__":
    print(main())
