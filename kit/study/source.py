"""Reading a study file safely: a text file of sane size, one YAML document, no repeated keys.

`load_study` validates what a study *says*; this module makes sure there is something sane to
validate first. A study file is read only when it is a regular file of at most `MAX_STUDY_BYTES`
that decodes as UTF-8 and holds no NUL byte. Its YAML is composed into nodes first, so that

- a key repeated in one mapping is an error naming both lines (PyYAML keeps the last silently),
- every value's place in the file (``grid.proxy_strength[2]``) maps to its line, for messages,
- nesting deeper than `MAX_DEPTH` and more than `MAX_NODES` values (what a few aliases can expand
  to) are refused before anything is built from them.

Every message is cut to `MAX_MESSAGE_CHARS` (`cut`), so a bad value that is megabytes long, or
nested a hundred levels deep, still gives one readable line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MAX_STUDY_BYTES = 1_000_000  # the default study is ~1 kB; a grid needing more belongs in code
MAX_DEPTH = 32  # nesting levels below the top mapping; a study uses 5
MAX_NODES = 100_000  # values in the file, aliases counted every time they are used
MAX_MESSAGE_CHARS = 300
MAX_PROBLEMS_SHOWN = 30

MSG_NOT_FOUND = "not found"
MSG_NOT_A_FILE = "is a directory, not a study file"
MSG_NOT_REGULAR = "is not a regular file (a study file is a YAML text file)"
MSG_TOO_BIG = "is {size:,} bytes; a study file holds at most {limit:,} bytes"
MSG_NOT_TEXT = "is not a text file: {detail}; a study file is YAML text in UTF-8"
MSG_UNREADABLE = "cannot be read: {cause}"
MSG_REPEATED_KEY = "key {key!r} appears twice in one mapping (first on line {first}); keep one"
MSG_TOO_DEEP = f"values nested more than {MAX_DEPTH} levels deep"
MSG_TOO_MANY = f"more than {MAX_NODES:,} values (aliases count each time they are used)"


class SourceProblem(Exception):
    """The file cannot be read as a study: `problems` are (place, message), `lines` place -> line."""

    def __init__(self, problems: list[tuple[str, str]], lines: dict[str, int] | None = None):
        self.problems = problems
        self.lines = lines or {}
        super().__init__("; ".join(f"{w}: {m}" for w, m in problems))


def cut(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` on one readable line: newlines folded, at most `limit` characters plus a count of the rest."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def read_text(path: Path) -> str:
    """The study file's text, or SourceProblem saying why it is not a readable text file."""
    try:
        if not path.exists():
            raise SourceProblem([("file", MSG_NOT_FOUND)])
        if path.is_dir():
            raise SourceProblem([("file", MSG_NOT_A_FILE)])
        if not path.is_file():
            raise SourceProblem([("file", MSG_NOT_REGULAR)])
        size = path.stat().st_size
        if size > MAX_STUDY_BYTES:
            raise SourceProblem([("file", MSG_TOO_BIG.format(size=size, limit=MAX_STUDY_BYTES))])
        with open(path, "rb") as f:
            data = f.read(MAX_STUDY_BYTES + 1)  # the file may grow between stat and read
    except OSError as e:
        raise SourceProblem([("file", MSG_UNREADABLE.format(cause=e.strerror or e))]) from None
    if len(data) > MAX_STUDY_BYTES:
        raise SourceProblem([("file", MSG_TOO_BIG.format(size=len(data), limit=MAX_STUDY_BYTES))])
    nul = data.find(b"\x00")
    if nul >= 0:
        raise SourceProblem([("file", MSG_NOT_TEXT.format(detail=f"a NUL byte at offset {nul}"))])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SourceProblem(
            [("file", MSG_NOT_TEXT.format(detail=f"byte 0x{data[e.start]:02x} at offset {e.start} is not UTF-8"))]
        ) from None


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag.rsplit(':', 1)[-1]}>"


def _walk(node: yaml.Node, place: str, depth: int, lines: dict, problems: list, count: list, repeats: dict) -> None:
    """Record the line of every place, find repeated keys; refuse absurd depth and size."""
    count[0] += 1
    if count[0] > MAX_NODES:
        raise SourceProblem([("file", MSG_TOO_MANY)], lines)
    if depth > MAX_DEPTH:
        raise SourceProblem([(place or "file", MSG_TOO_DEEP)], lines)
    lines.setdefault(place or "file", node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            k = _key_text(key)
            sub = f"{place}.{k}" if place else k
            if k in first:
                problems.append((sub, MSG_REPEATED_KEY.format(key=k, first=first[k])))
                repeats[sub] = key.start_mark.line + 1
            else:
                first[k] = key.start_mark.line + 1
            _walk(value, sub, depth + 1, lines, problems, count, repeats)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{place}[{i}]", depth + 1, lines, problems, count, repeats)


def parse_yaml(text: str) -> tuple[object, dict[str, int]]:
    """The one YAML document in `text` and a map place -> line; SourceProblem if malformed."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise SourceProblem([("file", f"not valid YAML: {cut(e)}")]) from None
    except RecursionError:
        raise SourceProblem([("file", MSG_TOO_DEEP)]) from None
    if node is None:
        return None, {}
    lines: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    repeats: dict[str, int] = {}  # a repeated key points at its second occurrence
    _walk(node, "", 0, lines, problems, [0], repeats)
    if problems:
        raise SourceProblem(problems, {**lines, **repeats})
    try:
        return yaml.safe_load(text), lines
    except yaml.YAMLError as e:  # e.g. an unhashable key, found only when building
        raise SourceProblem([("file", f"not valid YAML: {cut(e)}")], lines) from None


def line_of(place: str, lines: dict[str, int]) -> int | None:
    """The line of `place`, or of its nearest enclosing place that has one (``run...`` places have none)."""
    while place:
        if place in lines:
            return lines[place]
        cut_at = max(place.rfind("."), place.rfind("["))
        if cut_at <= 0:
            break
        place = place[:cut_at]
    return lines.get(place)
