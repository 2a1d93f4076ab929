"""A run's page: the notebook's text and outputs, no code, text escaped."""

import nbformat

from kit.report.run_page import render_run_page


def test_run_page_shows_text_and_outputs_but_no_code():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("secret_code_line = 1")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="warn <b>x</b>\x1b[31m red\x1b[0m"),
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
    page = render_run_page(nb, "r1")
    assert "<h1" in page and "<em>text</em>" in page and "<title>r1</title>" in page
    assert "secret_code_line" not in page
    assert "warn &lt;b&gt;x&lt;/b&gt; red" in page and "\x1b" not in page
    assert "<td>7</td>" in page and "plain 7" not in page  # HTML preferred over plain text
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in page
    assert "<code>out</code>" in page and "RuntimeError: boom" in page
