"""A run's page body: the notebook's text and outputs, no code, text escaped (without nbconvert)."""

import nbformat

from kit.report.run_page import notebook_body, render_run_page


def _notebook():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("secret_code_line = 1")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="said <b>x</b>\x1b[31m red\x1b[0m"),
        nbformat.v4.new_output("stream", name="stderr", text="kernel chatter"),
        nbformat.v4.new_output(
            "display_data", data={"text/html": "<table><tr><td>7</td></tr></table>", "text/plain": "plain 7"}
        ),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=\n"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "Results saved to `out`."}),
        nbformat.v4.new_output(
            "error", ename="RuntimeError", evalue="boom", traceback=["\x1b[0;31mRuntimeError\x1b[0m: boom"]
        ),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\nSome *text*."), code]
    return nb


def test_body_shows_text_and_outputs_but_no_code():
    body = notebook_body(_notebook())
    assert "<h1" in body and "<em>text</em>" in body
    assert "secret_code_line" not in body
    assert "said &lt;b&gt;x&lt;/b&gt; red" in body and "\x1b" not in body
    assert "<td>7</td>" in body and "plain 7" not in body  # HTML preferred over plain text
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in body
    assert "<code>out</code>" in body and "RuntimeError: boom" in body


def test_page_drops_stderr_and_has_the_run_header(tmp_path):
    nbformat.write(_notebook(), tmp_path / "notebook.ipynb")
    manifest = {"label": "kmeans", "seed": 3, "run_id": "abc", "params": {"approach": "kmeans", "approach_params": {}}}
    render_run_page(tmp_path / "notebook.ipynb", tmp_path / "report.html", manifest, study="s1")
    page = (tmp_path / "report.html").read_text()
    assert "<title>kmeans, seed 3 · study s1</title>" in page and "<td>7</td>" in page
    assert "kernel chatter" not in page and "secret_code_line" not in page


def test_every_metric_a_run_saves_has_a_meaning_on_its_page():
    """The run page explains each metric it lists: none of a run's metrics (erasure's and the long-run
    ones included) is left without words."""
    from kit.report.run_page import metric_doc
    from kit.run import run_experiment, validate_run

    metrics = run_experiment(
        validate_run({"approach": "kmeans", "n_customers": 2000, "seed": 1, "erasure_rate": 0.1})
    ).metrics
    assert "erasure_residual_eps_lb" in metrics and "churn_rate_older" in metrics
    assert [m for m in metrics if not metric_doc(m)] == []
    assert metric_doc("churn_rate_older") == "churn_rate among older customers (65+)"
    assert metric_doc("value_policy_snips_lo") == "95% interval of value_policy_snips, low end"
