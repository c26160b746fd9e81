"""Output helpers: plain text exactly as received, finished Markdown blocks, one-line errors."""

from __future__ import annotations

import io

import pytest

from acytoo.cli.render import PlainRenderer, _finished_blocks_end, one_line, redact


def test_plain_streaming_writes_each_chunk_as_is() -> None:
    out = io.StringIO()
    renderer = PlainRenderer(stream=True, file=out)
    renderer.start()
    for chunk in ("Hel", "lo\r\n", "  wörld", ""):
        renderer.chunk(chunk)
    renderer.finish("Hello\r\n  wörld")
    assert out.getvalue() == "Hello\r\n  wörld"


def test_plain_without_streaming_writes_once_at_the_end() -> None:
    out = io.StringIO()
    renderer = PlainRenderer(stream=False, file=out)
    renderer.chunk("ignored until the end")
    assert out.getvalue() == ""
    renderer.finish("whole")
    assert out.getvalue() == "whole"


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("no blank line yet", 0, 0),
        ("para one\n\npara two", 0, len("para one\n\n")),
        ("a\n\nb\n\nc", 0, len("a\n\nb\n\n")),
        ("a\n\nb\n\nc", len("a\n\nb\n\n"), len("a\n\nb\n\n")),
        # Inside an open code fence a blank line does not end a block.
        ("```py\nx = 1\n\ny = 2", 0, 0),
        ("```py\nx = 1\n\ny = 2\n```\n\nafter", 0, len("```py\nx = 1\n\ny = 2\n```\n\n")),
    ],
)
def test_finished_blocks_end(text: str, start: int, end: int) -> None:
    assert _finished_blocks_end(text, start) == end


def test_one_line_and_redact() -> None:
    assert one_line("bad\n  request\tbody ") == "bad request body"
    assert redact("key sk-1 and pw-2", ["sk-1", "pw-2", ""]) == "key *** and ***"
