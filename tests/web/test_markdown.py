"""The page's Markdown renderer: untrusted answers stay inert, and rendering a growing
answer block by block gives exactly the HTML of rendering it whole."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acytoo.web.markdown import render_blocks, render_markdown

NEWLINE = re.compile(r"\r\n?|\n")


def line_offset(text: str, lines: int) -> int:
    """What view.js's lineOffset computes: where the text after ``lines`` line breaks starts."""
    position = 0
    for _ in range(lines):
        match = NEWLINE.search(text, position)
        assert match is not None
        position = match.end()
    return position


def incremental(text: str, cuts: list[int]) -> str:
    """The page's algorithm: send the open tail at each cut, keep the final blocks."""
    done, html = 0, ""
    for cut in sorted(cuts):
        tail = text[done:cut]
        rendered = render_blocks(tail, partial=True)
        html += rendered.final_html
        done += line_offset(tail, rendered.final_lines)
    return html + render_blocks(text[done:], partial=False).final_html


PIECES = st.sampled_from(
    [
        "# h", "para", "word", "\n", "\n\n", "- ", "1. ", "1) ", "+ ", "  ", "    ", "\t",
        "```", "```py", "~~~", "> ", "---", "===", "***", "|a|b|", "|-|-|", "*", "_", "`",
        "[x]", "(https://a.b)", "![i](https://c.d/i.png)", "#", "\r", "\r\n", "<b>", "\\",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(PIECES, max_size=30), st.lists(st.integers(0, 300), max_size=12))
def test_rendering_in_pieces_equals_rendering_whole(parts: list[str], cuts: list[int]) -> None:
    text = "".join(parts)
    assert incremental(text, [c for c in cuts if c <= len(text)]) == render_markdown(text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(PIECES, max_size=20))
def test_rendering_after_every_character_equals_rendering_whole(parts: list[str]) -> None:
    text = "".join(parts)
    assert incremental(text, list(range(len(text) + 1))) == render_markdown(text)


def test_an_incomplete_last_line_never_closes_a_block() -> None:
    # "#" alone is a heading, but "#tag" continues the paragraph.
    assert render_blocks("para\n#", partial=True).final_lines == 0
    assert render_blocks("para\n\nnext", partial=True).final_lines == 0
    assert render_blocks("para\n\nnext\n", partial=True).final_lines == 2


def test_finished_blocks_are_reported_and_the_open_one_is_the_tail() -> None:
    rendered = render_blocks("# Title\n\nFirst paragraph.\n\n```py\nx = 1\n", partial=True)
    assert rendered.final_lines == 4
    assert "<h1>Title</h1>" in rendered.final_html
    assert "First paragraph." in rendered.final_html
    assert "x" in rendered.tail_html
    assert "Title" not in rendered.tail_html


@pytest.mark.parametrize(
    ("markdown", "absent", "present"),
    [
        ("<script>alert(1)</script>", "<script", "&lt;script&gt;"),
        ('<img src=x onerror="alert(1)">', "<img", "&lt;img"),
        ("[click](javascript:alert(1))", "href", "[click](javascript:alert(1))"),
        ("[click](JaVaScRiPt:alert(1))", "href", "[click]"),
        ("[data](data:text/html;base64,PHNjcmlwdD4=)", "href", "[data]"),
        ("[rel](/api/completions)", "href", "[rel]"),
        ("![x](https://evil.example/t.png)", "<img", "[image: x]"),
        ("![x](javascript:alert(1))", "<img", "![x](javascript:alert(1))"),
        ('<a href="javascript:alert(1)">x</a>', "<a ", "&lt;a href"),
        ("```html\n<script>x</script>\n```", "<script", "&lt;"),
        ('```"><script>x</script>\nbody\n```', "<script", "body"),
    ],
)
def test_untrusted_markup_stays_text(markdown: str, absent: str, present: str) -> None:
    html = render_markdown(markdown)
    assert absent not in html
    assert present in html


def test_safe_links_open_in_a_new_tab_without_referrer() -> None:
    html = render_markdown("[docs](https://example.com/a?b=1&c=2) <mailto:me@example.com>")
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert 'href="mailto:me@example.com"' in html


def test_images_become_links_and_load_nothing() -> None:
    html = render_markdown("![a cat](https://example.com/cat.png)")
    assert "<img" not in html
    assert '<a class="img" href="https://example.com/cat.png"' in html


def test_code_is_highlighted_with_classes_never_inline_styles() -> None:
    html = render_markdown("```python\ndef f():\n    return 'x'\n```")
    assert 'class="t-k"' in html  # "def", a keyword
    assert "style=" not in html
    assert 'aria-label="Copy code"' in html
    assert "<span>python</span>" in html


def test_unknown_languages_and_plain_blocks_are_escaped_text() -> None:
    assert "&lt;b&gt;" in render_markdown("```nosuchlanguage\n<b>\n```")
    assert "&lt;b&gt;" in render_markdown("    <b>\n")


def test_reference_definitions_are_off() -> None:
    # A definition at the end would change links in blocks already rendered.
    html = render_markdown("[x]\n\n[x]: https://example.com")
    assert "href" not in html


def test_importing_acytoo_and_the_server_does_not_load_the_renderer() -> None:
    code = (
        "import sys, acytoo, acytoo.server, acytoo.web; "
        "heavy = [m for m in ('markdown_it', 'pygments') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
