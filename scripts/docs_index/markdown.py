"""Splitting Markdown pages into sections for the offline assistant's index."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Section", "slugify", "split_sections"]

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_SLUG_DROP = re.compile(r"[^\w\- ]")


@dataclass(frozen=True)
class Section:
    """The text under one heading, up to the next heading of any level.

    ``path`` is the chain of headings from the page title down to this
    section's own heading (its last item); ``anchor`` is the fragment that
    GitHub and most Markdown renderers give that heading.
    """

    source: str
    path: tuple[str, ...]
    anchor: str
    text: str

    @property
    def title(self) -> str:
        """The section's own heading."""
        return self.path[-1] if self.path else self.source

    @property
    def label(self) -> str:
        """Where the section comes from, as the assistant cites it: ``docs/cli.md § Exit codes``."""
        return f"{self.source} § {self.title}"


def slugify(heading: str) -> str:
    """GitHub's anchor for ``heading``: lower case, punctuation dropped, spaces to hyphens."""
    plain = heading.replace("`", "").strip().lower()
    return _SLUG_DROP.sub("", plain).replace(" ", "-")


def split_sections(source: str, markdown: str) -> list[Section]:
    """The non-empty sections of one Markdown page, in page order.

    Headings inside fenced code blocks are text, not headings. Text before
    the first heading belongs to a section named after the file.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    anchors: dict[str, int] = {}
    anchor = ""
    body: list[str] = []
    fence: str | None = None

    def flush() -> None:
        text = "\n".join(body).strip("\n")
        if text.strip():
            path = tuple(title for _, title in stack) or (source,)
            sections.append(Section(source, path, anchor, text))
        body.clear()

    for line in markdown.splitlines():
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            body.append(line)
            continue
        heading = None if fence is not None else _HEADING.match(line)
        if heading is None:
            body.append(line)
            continue
        flush()
        level = len(heading.group(1))
        title = heading.group(2).strip()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        slug = slugify(title)
        seen = anchors.get(slug, 0)
        anchors[slug] = seen + 1
        anchor = slug if seen == 0 else f"{slug}-{seen}"
    flush()
    return sections
