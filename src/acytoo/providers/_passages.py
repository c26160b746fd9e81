"""Putting the part of a long section that answers the question first.

A section such as "Chat options" is a table of fifteen flags; asked about a
timeout, the reader should see the ``--timeout`` row first, not thirteen rows
later. Nothing is dropped or rewritten: table rows matching the question move
to the top of their table, and in a long section the paragraph that matches
best moves to the front. Short sections are quoted as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._bm25 import terms
from ._query import Group

__all__ = ["LONG_SECTION", "most_relevant_first"]

# Sections up to this many words are short enough to read as written.
LONG_SECTION = 120
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|[\s:|-]*$")


def _blocks(text: str) -> list[str]:
    """``text`` split at blank lines outside code fences (a fence stays one block)."""
    blocks: list[str] = []
    current: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match:
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        if fence is None and not line.strip() and not match:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _score(text: str, groups: Sequence[Group]) -> int:
    found = set(terms(text))
    return sum(2 if group.specific else 1 for group in groups if found & group.terms.keys())


def _rows_first(block: str, groups: Sequence[Group]) -> str:
    """A Markdown table with the rows that match the question best moved to the top."""
    lines = block.split("\n")
    if len(lines) < 4 or not all(line.lstrip().startswith("|") for line in lines):
        return block
    if not _TABLE_RULE.match(lines[1].strip()):
        return block
    rows = lines[2:]
    scores = [_score(row, groups) for row in rows]
    best = max(scores)
    if best <= 0 or scores[0] == best:
        return block
    leading = [row for row, score in zip(rows, scores, strict=True) if score == best]
    rest = [row for row, score in zip(rows, scores, strict=True) if score != best]
    return "\n".join([*lines[:2], *leading, *rest])


def most_relevant_first(text: str, groups: Sequence[Group]) -> str:
    """``text`` with the part that answers ``groups`` first (the same words, reordered)."""
    if not any(group.specific for group in groups):
        return text
    blocks = [_rows_first(block, groups) for block in _blocks(text)]
    if len(text.split()) > LONG_SECTION and len(blocks) > 1:
        scores = [_score(block, groups) for block in blocks]
        best = max(range(len(blocks)), key=lambda position: (scores[position], -position))
        if scores[best] > scores[0]:
            blocks.insert(0, blocks.pop(best))
    reordered = "\n\n".join(blocks)
    # Unchanged text is returned as it was, blank lines and all.
    return text if reordered == "\n\n".join(_blocks(text)) else reordered
