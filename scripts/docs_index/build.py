"""Building the offline assistant's index from the repository's documentation.

Used at build time by ``scripts/build_docs_index.py`` and by the test that
checks the packaged index is up to date; not part of the wheel.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

import acytoo.providers
from acytoo.providers._bm25 import K1, B, build_postings, terms

from .aliases import ALIASES
from .markdown import Section, split_sections

__all__ = [
    "INDEX_FORMAT",
    "INDEX_PATH",
    "build_index",
    "corpus_files",
    "dumps_index",
    "rebase_links",
    "section_kind",
    "section_names",
]

INDEX_FORMAT = 2
INDEX_PATH = Path(acytoo.providers.__file__).with_name("_docs_index.json")
# Measured figures change with every benchmark run and answer no question a
# user asks the assistant; leaving them out also keeps the index stable.
_EXCLUDED = frozenset({"docs/benchmarks.md"})
# Markdown links that are relative to the page: "[x](#anchor)", "[x](cli.md#codes)".
_RELATIVE_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|/)([^)\s]*)\)", re.IGNORECASE)
# Which audience a section is written for (the command line, the server or
# the library), so a question that names one finds its answer: by page for
# the pages devoted to one, else by what the section shows.
_KIND_BY_SOURCE = {"docs/cli.md": "cli", "docs/server.md": "server", "docs/library.md": "library"}
_KIND_MARKERS = {
    "cli": re.compile(r"\bacytoo (?:chat|logs|models)\b|\bconfig\.toml\b|\bcommand line\b"),
    "server": re.compile(
        r"\bacytoo serve\b|--upstream|--host\b|--port\b|/v1/|\bthe server\b|\bupstream\b"
    ),
    "library": re.compile(
        r"```python|\bawait\b|\bcreate_async|\bcreate_completion\b|\bimport\b|\bthe library\b"
    ),
}


def corpus_files(root: Path) -> list[str]:
    """The documents the assistant answers from, relative to ``root``: README, then docs/."""
    names = ["README.md"] if (root / "README.md").is_file() else []
    names += sorted(f"docs/{path.name}" for path in (root / "docs").glob("*.md") if path.is_file())
    return [name for name in names if name not in _EXCLUDED]


def build_index(root: Path) -> dict[str, Any]:
    """The index of every corpus file under ``root``, as a JSON-ready dict."""
    sections: list[Section] = []
    for name in corpus_files(root):
        text = (root / name).read_text(encoding="utf-8")
        sections.extend(split_sections(name, rebase_links(name, text)))
    idf, postings = build_postings(
        [(section.text, section.path[:-1], section.title) for section in sections],
        [ALIASES.get(section.label, "") for section in sections],
    )
    return {
        "format": INDEX_FORMAT,
        "k1": K1,
        "b": B,
        "sections": [
            [section.source, section.anchor, list(section.path), section.text]
            for section in sections
        ],
        "kinds": [section_kind(section) for section in sections],
        "names": [section_names(section) for section in sections],
        "idf": idf,
        "postings": postings,
    }


def section_names(section: Section) -> list[list[str]]:
    """The terms of the section's heading and of each of its aliases: what names it."""
    names = [section.title, *ALIASES.get(section.label, "").split(",")]
    found: list[list[str]] = []
    for name in names:
        name_terms = sorted(set(terms(name)))
        if name_terms and name_terms not in found:
            found.append(name_terms)
    return found


def section_kind(section: Section) -> str:
    """``cli``, ``server`` or ``library`` when the section is for that audience, else ``""``."""
    if section.source in _KIND_BY_SOURCE:
        return _KIND_BY_SOURCE[section.source]
    text = f"{' '.join(section.path)}\n{section.text}".lower()
    counts = sorted(
        ((len(pattern.findall(text)), kind) for kind, pattern in _KIND_MARKERS.items()),
        reverse=True,
    )
    (best, kind), (second, _) = counts[0], counts[1]
    # Only a clear majority: a section that shows all three is for everyone.
    return kind if best >= 2 and best >= 2 * second else ""


def rebase_links(source: str, markdown: str) -> str:
    """Relative links made relative to the repository root, as quoted passages need.

    An answer quotes a section out of its page, so ``[x](#anchor)`` in
    docs/server.md becomes ``[x](docs/server.md#anchor)``.
    """
    folder = posixpath.dirname(source)

    def rebase(match: re.Match[str]) -> str:
        target = match.group(1)
        if target.startswith("#"):
            return f"]({source}{target})"
        return f"]({posixpath.normpath(posixpath.join(folder, target))})"

    return _RELATIVE_LINK.sub(rebase, markdown)


def dumps_index(index: dict[str, Any]) -> str:
    """``index`` as compact JSON with one section or term per line, so diffs stay readable."""

    def compact(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    for key in ("format", "k1", "b"):
        lines.append(f"{compact(key)}:{compact(index[key])},")
    lines.append('"sections":[')
    lines.append(",\n".join(compact(section) for section in index["sections"]))
    lines.append("],")
    lines.append(f'"kinds":{compact(index["kinds"])},')
    lines.append(f'"names":{compact(index["names"])},')
    for key in ("idf", "postings"):
        lines.append(f"{compact(key)}:{{")
        lines.append(",\n".join(f"{compact(t)}:{compact(v)}" for t, v in index[key].items()))
        lines.append("}," if key == "idf" else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"
