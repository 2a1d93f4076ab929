"""Broken links and images in rendered HTML pages, found without a browser.

`make test` runs these checks on the reports the tests render; `make browser-check` runs them
too, then loads every page in headless Chromium. A page passes when every relative link and
image points at a file that exists, every in-page anchor (``#id``) names an element of the page,
and every embedded image (``data:image/png;base64,...``) decodes to a PNG.
"""

from __future__ import annotations

import base64
import binascii
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Link targets the checks leave alone: other sites, mail, scripts.
EXTERNAL_SCHEMES = ("http", "https", "mailto", "javascript")


class _Collector(HTMLParser):
    """Every (tag, attribute, value) that refers to something, and every id in the page."""

    REFS = {("a", "href"), ("img", "src"), ("link", "href"), ("script", "src"), ("iframe", "src"), ("source", "src")}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            if (tag, name) in self.REFS:
                self.refs.append((tag, name, value))


def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8", errors="replace"))
    return c


def _check_data_uri(value: str) -> str | None:
    head, _, payload = value.partition(",")
    if not head.startswith("data:image/"):
        return None
    if ";base64" not in head:
        return None if payload else "an empty embedded image"
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return "an embedded image that is not valid base64"
    if head.startswith("data:image/png") and not raw.startswith(PNG_MAGIC):
        return "an embedded PNG image that is not a PNG"
    if not raw:
        return "an empty embedded image"
    return None


def check_page(path: str | Path) -> list[str]:
    """Problems of one HTML page: broken relative links and images, unknown anchors, bad embedded images.

    Each problem reads ``<page>: <tag> <attribute>="<value>": <what is wrong>``.
    """
    path = Path(path)
    page = _parse(path)
    problems = []
    anchors_of: dict[Path, set[str]] = {path.resolve(): page.ids}
    for tag, attr, value in page.refs:
        where = f'{path}: <{tag} {attr}="{value[:80]}{"..." if len(value) > 80 else ""}">'
        if value.startswith("data:"):
            bad = _check_data_uri(value)
            if bad:
                problems.append(f"{where}: {bad}")
            continue
        url = urlsplit(value)
        if url.scheme in EXTERNAL_SCHEMES or url.netloc:
            continue
        if url.scheme and url.scheme != "file":
            problems.append(f"{where}: unknown link scheme {url.scheme!r}")
            continue
        target = path.resolve() if not url.path else (path.parent / unquote(url.path)).resolve()
        if url.scheme == "file":
            target = Path(unquote(url.path))
        if not target.exists():
            problems.append(f"{where}: {target} does not exist")
            continue
        if target.is_dir():
            if not (target / "index.html").exists():
                problems.append(f"{where}: a folder without index.html (a browser shows a file listing or nothing)")
            continue
        if url.fragment and target.suffix in (".html", ".htm"):
            ids = anchors_of.get(target)
            if ids is None:
                ids = anchors_of[target] = _parse(target).ids
            # As browsers do (HTML's "indicated part of the document"): the decoded fragment, else the raw
            # one (nbconvert writes heading ids percent-encoded, e.g. "...-of-%CE%B5").
            if unquote(url.fragment) not in ids and url.fragment not in ids:
                problems.append(f"{where}: no element with id {url.fragment!r} in {target.name}")
    return problems


def check_pages(paths) -> list[str]:
    """Problems of every page in `paths` (files, or folders searched for *.html)."""
    problems = []
    for p in pages(paths):
        problems += check_page(p)
    return problems


def pages(paths) -> list[Path]:
    """The HTML files named by `paths` (a folder stands for every *.html under it), sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(p.rglob("*.html")) if p.is_dir() else [p]
    return out
