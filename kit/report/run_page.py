"""A run's page: its executed notebook as HTML without code (``runs/<run_id>/report.html``).

What a reviewer reads of one run: the notebook's text and every output (tables, figures, messages,
a failing cell's error), no code. nbconvert's HTMLExporter did this in 0.06-0.2 s a run (its
sanitising HTML parser and notebook validation dominate), more than many runs' science; this
renders the same content in a few milliseconds. The outputs are the kernel's own (pandas tables,
PNG figures), written by the kit's notebook, so they are embedded as they are; text is escaped.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f4f4f4; }
pre { background: #f7f7f7; padding: 0.5rem; overflow-x: auto; font-size: 0.85rem; }
pre.stderr { background: #fff4e5; }
pre.error { background: #fdecea; }
img { max-width: 100%; }
"""


@functools.lru_cache(maxsize=256)  # a study's notebook has the same markdown cells in every run
def _markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def _output_html(out: dict) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        css = "stderr" if out.get("name") == "stderr" else "stdout"
        return f'<pre class="{css}">{html.escape(_ANSI.sub("", "".join(out.get("text", ""))))}</pre>'
    if kind == "error":
        trace = "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
        return f'<pre class="error">{html.escape(_ANSI.sub("", trace))}</pre>'
    data = out.get("data", {})

    def text(key: str) -> str:
        value = data[key]
        return "".join(value) if isinstance(value, list) else str(value)

    if "text/html" in data:
        return f"<div>{text('text/html')}</div>"
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{text("image/png").strip()}">'
    if "image/svg+xml" in data:
        return f"<div>{text('image/svg+xml')}</div>"
    if "text/markdown" in data:
        return _markdown(text("text/markdown"))
    if "text/plain" in data:
        return f"<pre>{html.escape(text('text/plain'))}</pre>"
    return ""


def render_run_page(nb: dict, title: str = "run") -> str:
    """The notebook `nb` (nbformat 4, as a dict or NotebookNode) as a standalone HTML page without code."""
    parts = []
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            parts.append(_markdown(source))
        elif cell.get("cell_type") == "code":
            parts.extend(_output_html(o) for o in cell.get("outputs", []))
    body = "\n".join(p for p in parts if p)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def render_run_page_file(nb_path: str | Path, html_path: str | Path) -> None:
    """Render the executed notebook at `nb_path` into `html_path` (written atomically)."""
    import json

    from ..records import write_atomic

    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    write_atomic(Path(html_path), render_run_page(nb, Path(nb_path).parent.name).encode())
