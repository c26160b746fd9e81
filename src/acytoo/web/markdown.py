"""Markdown to safe HTML for the chat page, rendered with markdown-it-py and Pygments.

Answers are untrusted, so the renderer is locked down: raw HTML is shown as
text (``html=False``), links keep only ``http(s):`` and ``mailto:`` targets
(others stay plain text), and images become links, so an answer can never
make the page fetch anything. Code blocks are highlighted with CSS classes,
never inline styles, so the page's Content-Security-Policy needs no
``'unsafe-inline'``.

A growing answer is rendered in pieces: :func:`render_blocks` renders the
top-level blocks that can no longer change once and reports how many lines
they took, so the page sends only the open tail block again. That keeps the
total cost of a streamed answer proportional to its length, not its square.
Reference-style link definitions are turned off because a definition at the
end of an answer would change links in blocks already rendered.

markdown-it-py and Pygments are imported on first use, not with the server.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from markdown_it import MarkdownIt
    from markdown_it.token import Token

__all__ = ["Rendered", "render_blocks", "render_markdown"]

_SAFE_LINK = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)
_LANGUAGE = re.compile(r"^[\w+#.-]{1,40}$")
# Where markdown-it splits lines (it normalises \r\n and \r to \n first).
_NEWLINE = re.compile(r"\r\n?|\n")
# Highlighting a huge block costs more than it helps: plain text above this.
_MAX_HIGHLIGHT = 200_000


@dataclass(frozen=True)
class Rendered:
    """The HTML of a piece of Markdown, split where the blocks are final.

    ``final_html`` is the HTML of the first ``final_lines`` lines of the
    source (complete top-level blocks that later text cannot change);
    ``tail_html`` renders the rest, which may still change as text arrives.
    A whole (not partial) render is all in ``final_html``, ``final_lines`` 0.
    """

    final_html: str
    final_lines: int
    tail_html: str


def render_markdown(text: str) -> str:
    """The whole of ``text`` as safe HTML."""
    md = _markdown()
    return str(md.renderer.render(md.parse(text), md.options, {}))


def render_blocks(text: str, *, partial: bool) -> Rendered:
    """Render ``text``; with ``partial``, tell which leading blocks are final.

    A block is final when another block starts after it on a complete line
    (one ended by a line break): what follows can then only add blocks. The
    incomplete last line is never trusted to close a block (``para\\n#`` may
    become ``para\\n#tag``, a single paragraph).
    """
    md = _markdown()
    tokens = md.parse(text)
    if not partial:
        return Rendered(md.renderer.render(tokens, md.options, {}), 0, "")
    complete_lines = len(_NEWLINE.findall(text))
    starts = _top_level_starts(tokens)
    # The last block that starts on a complete line may still grow; before it, all is final.
    split_index, split_line = 0, 0
    for index, line in reversed(starts):
        if line < complete_lines:
            split_index, split_line = index, line
            break
    render = md.renderer.render
    return Rendered(
        final_html=render(tokens[:split_index], md.options, {}) if split_index else "",
        final_lines=split_line,
        tail_html=render(tokens[split_index:], md.options, {}),
    )


def _top_level_starts(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """(token index, first source line) of every top-level block."""
    starts: list[tuple[int, int]] = []
    for index, token in enumerate(tokens):
        opens = token.nesting == 1 or (token.nesting == 0 and token.type != "inline")
        if token.level == 0 and opens and token.map is not None:
            starts.append((index, token.map[0]))
    return starts


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("reference")
    md.validateLink = _valid_link  # type: ignore[method-assign]
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _code_block)
    md.add_render_rule("image", _image)
    md.add_render_rule("link_open", _link_open)
    return md


def _valid_link(url: str) -> bool:
    # Everything that is not http(s) or mailto, relative links included, stays text.
    return bool(_SAFE_LINK.match(url.strip()))


def _link_open(self: Any, tokens: Sequence[Token], index: int, options: Any, env: Any) -> str:
    token = tokens[index]
    token.attrSet("rel", "noopener noreferrer nofollow")
    token.attrSet("target", "_blank")
    return str(self.renderToken(tokens, index, options, env))


def _image(self: Any, tokens: Sequence[Token], index: int, options: Any, env: Any) -> str:
    """An image becomes a link to it: nothing is loaded until the reader follows it."""
    token = tokens[index]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    label = html.escape(f"[image: {alt}]")
    if not _valid_link(src):
        return f'<span class="img">{label}</span>'
    href = html.escape(src, quote=True)
    return (
        f'<a class="img" href="{href}" rel="noopener noreferrer nofollow" '
        f'target="_blank">{label}</a>'
    )


def _fence(self: Any, tokens: Sequence[Token], index: int, options: Any, env: Any) -> str:
    token = tokens[index]
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return _code(token.content, language)


def _code_block(self: Any, tokens: Sequence[Token], index: int, options: Any, env: Any) -> str:
    return _code(tokens[index].content, "")


def _code(code: str, language: str) -> str:
    """A code block with its language, a copy button and Pygments' token classes."""
    if not _LANGUAGE.match(language):
        language = ""
    body = _highlight(code, language) if language else html.escape(code)
    label = html.escape(language or "text")
    return (
        f'<div class="code"><div class="code-bar"><span>{label}</span>'
        '<button type="button" class="copy-code" aria-label="Copy code">Copy</button></div>'
        f"<pre><code>{body}</code></pre></div>\n"
    )


def _highlight(code: str, language: str) -> str:
    if len(code) > _MAX_HIGHLIGHT:
        return html.escape(code)
    lexer = _lexer(language.lower())
    if lexer is None:
        return html.escape(code)
    from pygments import highlight  # type: ignore[import-untyped]  # no stubs

    return str(highlight(code, lexer, _formatter()))


@lru_cache(maxsize=64)
def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
    from pygments.util import ClassNotFound  # type: ignore[import-untyped]

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]

    # nowrap: only the <span class="..."> tokens; the <pre> is ours.
    return HtmlFormatter(nowrap=True, classprefix="t-")
